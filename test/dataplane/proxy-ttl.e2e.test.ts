// Issue 12 item 7: Proxy mode's `ttl`. Real pieces: the upstream (CNCF distribution, TLS +
// htpasswd), the stock distribution pull-through cache whose `proxy.remoteurl` is the gateway's
// upstream listener, and the gateway loaded from a config file with `upstreamListener.tagTtl`, as
// the manager writes it from the node config's `ttl`. A tag moved upstream is seen through the
// gateway only once the ttl has run out; before, the cache answers the old digest without asking
// the upstream. Without a ttl every pull by tag asks the upstream (the moved tag is seen at once).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLog } from "../../images/common/src/log";
import { loadGatewayConfig } from "../../images/gateway/src/config";
import { parseGatewayConfig } from "../../lib/dataplane/gateway-config";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { parseNodeConfig } from "../../lib/dataplane/node-config";
import { PATHS, renderNodeFiles } from "../../images/nodeservices-manager/src/render";
import { parse } from "yaml";
import { type RunningGateway, startGateway } from "../../images/gateway/src/server";
import { upstreamTransport } from "../../images/gateway/src/upstream-transport";
import {
  type CertificateAuthority,
  createCa,
  createLab,
  freePort,
  issueServerCert,
  type Lab,
  pushImage,
  type Registry,
  startRegistry,
  stopAll,
  writeOciLayout,
  type OciLayout,
} from "../e2e-lab";
import { https, writeGatewayConfig } from "./support/gateway";
import { nodeConfigYaml, nodePki, user } from "./support/node-config";

const REPO = "deckhouse/ee";
const up = { username: "upuser", password: "Up-pa55word" };
const ro = { name: "ro", password: "R0-pa55word" };
const listener = { username: "cache", password: "cache-secret-0123" };
let lab: Lab;
let ca: CertificateAuthority;
let upstream: Registry;
let v1: OciLayout;
let v2: OciLayout;
const logs: string[] = [];

beforeAll(async () => {
  lab = await createLab("proxy-ttl");
  ca = await createCa(lab.path("pki"));
  upstream = await startRegistry({
    dir: lab.path("upstream"),
    tls: await issueServerCert(ca, "upstream"),
    htpasswd: { [up.username]: up.password },
  });
  v1 = await writeOciLayout(lab.path("v1"), { seed: "ttl-v1", tags: ["v1"] });
  v2 = await writeOciLayout(lab.path("v2"), { seed: "ttl-v2", tags: ["v1"] });
});
afterAll(async () => {
  await stopAll();
  await lab?.close();
});

/** Gateway (proxy mode) + stock distribution cache in front of the upstream. */
/** The gateway's clock for tag ages: tests move it instead of sleeping (the machine may be slow). */
let clockMs = Date.now();

async function startCache(name: string, tagTtl?: string) {
  const dir = lab.path(name);
  const distributionPort = await freePort();
  const cert = await issueServerCert(ca, `${name}-gw`);
  const file = join(dir, "gateway.yaml");
  await mkdir(dir, { recursive: true });
  await writeGatewayConfig(file, {
    mode: "proxy",
    listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
    monitoring: { address: "127.0.0.1:0" },
    users: [{ name: ro.name, passwordHash: bcrypt.hashSync(ro.password, 4), role: "ro" }],
    distribution: { url: `http://127.0.0.1:${distributionPort}` },
    upstream: { url: upstream.url, path: REPO, ...up, ca: ca.cert },
    upstreamListener: {
      address: "127.0.0.1:0",
      ...listener,
      ...(tagTtl ? { tagTtl } : {}),
    },
  });
  const { config, files } = await loadGatewayConfig(file);
  const gateway: RunningGateway = await startGateway({
    config,
    files,
    log: createLog("gateway", l => logs.push(l), "debug"),
    upstream: upstreamTransport(config, files, () => clockMs),
  });
  const ul = gateway.addresses.upstreamListener;
  const cache = await startRegistry({
    dir: join(dir, "cache"),
    proxy: { remoteUrl: `http://127.0.0.1:${ul?.port}`, ...listener },
    extraConfig: {
      http: { addr: `127.0.0.1:${distributionPort}`, secret: `${name}-secret` },
    },
  });
  const pull = async (tag: string) => {
    const r = await https(
      `https://127.0.0.1:${gateway.addresses.client.port}/v2/system/deckhouse/manifests/${tag}`,
      {
        ca: ca.certPem,
        auth: `${ro.name}:${ro.password}`,
        headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
      },
    );
    expect(r.status, r.body.toString()).toBe(200);
    return r.headers["docker-content-digest"];
  };
  return {
    pull,
    async stop() {
      await cache.stop();
      await gateway.stop();
    },
  };
}

const tagLookups = (tag: string) =>
  upstream.accessLog().filter(e => e.path === `/v2/${REPO}/manifests/${tag}`).length;
const settle = () => new Promise(r => setTimeout(r, 300));

describe("proxy ttl: tag lookups trusted for ttl, then resolved upstream again", () => {
  it("a tag moved upstream is seen after the ttl, not before; the upstream is not asked meanwhile", async () => {
    await pushImage(v1, upstream, REPO, { tag: "stable", creds: up });
    const cache = await startCache("with-ttl", "10m");
    try {
      expect(await cache.pull("stable")).toBe(v1.digest);
      await pushImage(v2, upstream, REPO, { tag: "stable", creds: up });
      await settle();
      const lookups = tagLookups("stable");
      // within the ttl: the old digest, and no lookup reached the upstream
      clockMs += 9 * 60_000;
      expect(await cache.pull("stable")).toBe(v1.digest);
      await settle();
      expect(tagLookups("stable")).toBe(lookups);

      // after it: resolved upstream again, the moved tag is seen
      clockMs += 60_000;
      expect(await cache.pull("stable")).toBe(v2.digest);
      await settle();
      expect(tagLookups("stable")).toBeGreaterThan(lookups);
    } finally {
      await cache.stop();
    }
  }, 60_000);

  it("without a ttl, every pull by tag asks the upstream", async () => {
    await pushImage(v1, upstream, REPO, { tag: "edge", creds: up });
    const cache = await startCache("no-ttl");
    try {
      expect(await cache.pull("edge")).toBe(v1.digest);
      await pushImage(v2, upstream, REPO, { tag: "edge", creds: up });
      expect(await cache.pull("edge")).toBe(v2.digest);
    } finally {
      await cache.stop();
    }
  }, 60_000);

  it("the manager writes the node config's ttl as the gateway's upstreamListener.tagTtl", async () => {
    const HOST_IP = "192.0.2.30";
    const pki = await nodePki(ca, HOST_IP);
    const settings = parseManagerSettings({
      NODE_NAME: "master-0",
      HOST_IP,
      IMAGE_GATEWAY: "g:1",
      IMAGE_DISTRIBUTION: "d:1",
      IMAGE_MIRRORER: "m:1",
    });
    const render = (ttl?: string) => {
      const yaml = nodeConfigYaml(pki, user("ro"), {
        proxy: {
          scheme: "https",
          host: "up.example",
          path: "/deckhouse/ee",
          ...(ttl ? { ttl } : {}),
        },
      });
      const files = renderNodeFiles(parseNodeConfig(yaml, "v1", HOST_IP), settings);
      const read = (dir: string) =>
        parse(files.find(f => f.path === `${dir}/config.yaml`)?.content ?? "") as Record<
          string,
          Record<string, unknown>
        >;
      return {
        gateway: parseGatewayConfig(read(PATHS.gatewayDir)),
        distribution: read(PATHS.distributionDir),
      };
    };
    const withTtl = render("72h30m");
    expect(withTtl.gateway.mode === "proxy" && withTtl.gateway.upstreamListener.tagTtlMs).toBe(
      (72 * 60 + 30) * 60_000,
    );
    // distribution 2.8 ignores proxy.ttl: it is not written there any more
    expect(withTtl.distribution.proxy?.ttl).toBeUndefined();
    const without = render();
    expect(without.gateway.mode === "proxy" && without.gateway.upstreamListener.tagTtlMs).toBe(
      undefined,
    );
  });
});
