// Integrity against a lying registry (issue 15, defect 8; and the tag-list Link loop of defect 6):
// every consumer of upstream content — `mirror pull`, the gateway's upstream side, the checker,
// the mirrorer, and lib/oci under all of them — refuses bytes that do not match their digest
// (wrong bytes of the right size, truncated, padded; blobs, manifests, index children), names the
// digest, stores nothing, and succeeds once the registry answers honestly.
//
// The upstream is a double (test/e2e-lab/lying-registry.ts), on purpose: real distribution
// addresses content by digest and cannot be made to lie, and a lying upstream is the very thing
// under test. Local storage behind the consumers is real distribution.
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../lib/oci";
import { planPull, pull } from "../../lib/mirror/pull";
import { openOciSession } from "../../lib/checker/oci-session";
import { createLog } from "../../images/common/src/log";
import { Mirror } from "../../images/mirrorer/src/sync";
import type { RunningGateway } from "../../images/gateway/src/server";
import {
  createCa,
  createLab,
  freePort,
  issueServerCert,
  type Lab,
  type Lie,
  type LyingRegistry,
  type OciLayout,
  type Registry,
  requireTools,
  startLyingRegistry,
  startRegistry,
  writeOciLayout,
} from "../e2e-lab";
import { https, startGatewayFromFile, writeGatewayConfig } from "./support/gateway";
import { user } from "./support/node-config";

const REPO = "deckhouse/ee";
const LIES: Lie[] = ["wrong", "truncated", "padded"];
let lab: Lab;
let layout: OciLayout;
let double: LyingRegistry;
let layer: string;
let child: string;
const clients: RegistryClient[] = [];

function clientOf(hostPort: string): RegistryClient {
  const c = new RegistryClient({ registry: hostPort, scheme: "http" });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  requireTools("docker-registry", "openssl");
  lab = await createLab("integrity");
  // two platforms: an index whose children are fetched by digest
  layout = await writeOciLayout(lab.path("img"), {
    seed: "integrity",
    tags: ["v1"],
    platforms: ["linux/amd64", "linux/arm64"],
    payloadBytes: 300_000,
  });
  double = await startLyingRegistry(layout, REPO);
  // the largest blob is a layer
  layer = ([...layout.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number])[0];
  child = (layout.manifests[1] as { digest: string }).digest;
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map(c => c.close()));
  await lab?.close();
});

describe("lib/oci", () => {
  for (const how of LIES) {
    it(`a ${how} index, child manifest or blob is refused naming its digest`, async () => {
      double.honest();
      const client = clientOf(double.hostPort);
      for (const digest of [layout.digest, child]) {
        double.lie(digest, how);
        await expect(client.getManifest(REPO, digest)).rejects.toThrow(digest);
      }
      double.lie(layer, how);
      await expect(client.getBlobBytes(REPO, layer)).rejects.toThrow(layer);
      // streamed with verify: the reader never gets the whole of a wrong blob
      const { body } = await client.getBlob(REPO, layer, { verify: true });
      const chunks: Buffer[] = [];
      await expect(
        (async () => {
          for await (const c of body) chunks.push(c as Buffer);
        })(),
      ).rejects.toThrow(layer);
      const got = Buffer.concat(chunks);
      expect(createHash("sha256").update(got).digest("hex")).not.toBe(layer.slice(7));
      double.honest();
      expect((await client.getManifest(REPO, child)).digest).toBe(child);
      expect((await client.getBlobBytes(REPO, layer)).length).toBe(layout.blobs.get(layer));
    });
  }

  it("a tag list whose Link points back at itself is refused after one page (defect 6: 10,000 requests)", async () => {
    double.honest();
    double.lieTagLink = "self";
    const before = double.requests.filter(r => r.includes("/tags/list")).length;
    await expect(clientOf(double.hostPort).listTags(REPO)).rejects.toThrow(/loops/);
    const made = double.requests.filter(r => r.includes("/tags/list")).length - before;
    expect(made).toBeLessThanOrEqual(2);
    double.honest();
  });
});

describe("mirror pull", () => {
  for (const how of LIES) {
    it(`${how} layer: refused naming the digest, nothing stored, the next honest pull completes`, async () => {
      double.honest();
      const bundle = lab.path(`bundle-${how}`);
      const client = clientOf(double.hostPort);
      double.lie(layer, how);
      const plan = await planPull({
        client,
        repository: REPO,
        images: [{ repository: "", tag: "v1" }],
      });
      await expect(pull(client, plan, { bundle })).rejects.toThrow(layer);
      expect(existsSync(join(bundle, "blobs", "sha256", layer.slice(7)))).toBe(false);
      double.honest();
      await pull(client, plan, { bundle });
      const stored = await readdir(join(bundle, "blobs", "sha256"));
      expect(stored).toContain(layer.slice(7));
    });
  }

  it("a lying child manifest: refused at planning, nothing written", async () => {
    double.honest();
    double.lie(child, "wrong");
    const bundle = lab.path("bundle-child");
    const client = clientOf(double.hostPort);
    await expect(
      planPull({ client, repository: REPO, images: [{ repository: "", tag: "v1" }] }).then(plan =>
        pull(client, plan, { bundle }),
      ),
    ).rejects.toThrow(child);
    expect(existsSync(join(bundle, "blobs", "sha256", child.slice(7)))).toBe(false);
    double.honest();
  });
});

describe("checker", () => {
  it("an image whose manifest does not match its digest is reported missing, naming the digest", async () => {
    double.honest();
    double.closeAfterHead = true;
    const session = openOciSession(
      { address: `${double.hostPort}/${REPO}`, scheme: "HTTP" },
      10_000,
    );
    try {
      // the first HEAD shows the double closes connections after HEAD: the checker GETs from then on
      await session.check(`${double.hostPort}/${REPO}@${child}`, AbortSignal.timeout(10_000));
      double.lie(child, "padded");
      await expect(
        session.check(`${double.hostPort}/${REPO}@${child}`, AbortSignal.timeout(10_000)),
      ).rejects.toThrow(child);
      double.honest();
      await session.check(`${double.hostPort}/${REPO}@${child}`, AbortSignal.timeout(10_000));
    } finally {
      double.closeAfterHead = false;
      await session.close();
    }
  });
});

describe("mirrorer", () => {
  it("a lying remote's layer is not copied (the error names it); the next pass after an honest answer copies all", async () => {
    double.honest();
    const local = await startRegistry({ dir: lab.path("mirrorer-local") });
    const localClient = clientOf(local.hostPort);
    const lines: string[] = [];
    const mirror = new Mirror(
      localClient,
      [{ name: "double", client: clientOf(double.hostPort) }],
      {
        concurrency: 2,
        log: createLog("mirrorer", l => lines.push(l)),
      },
    );
    double.lie(layer, "wrong");
    const first = await mirror.pass();
    expect(first.errors.join("\n")).toContain(layer.slice(7, 19));
    expect(await localClient.hasBlob(REPO, layer)).toBe(false);
    expect(await localClient.listTags(REPO).catch(() => [])).toEqual([]);
    double.honest();
    const second = await mirror.pass();
    expect(second.errors).toEqual([]);
    expect(await localClient.hasBlob(REPO, layer)).toBe(true);
    expect(await localClient.listTags(REPO)).toEqual(["v1"]);
  });
});

describe("gateway, upstream side (Direct)", () => {
  let gateway: RunningGateway;
  let base: string;
  let ca: string;
  const ro = user("ro");
  const logs: string[] = [];

  beforeAll(async () => {
    const authority = await createCa(lab.path("gw-pki"));
    ca = authority.certPem;
    const cert = await issueServerCert(authority, "gateway");
    const file = lab.path("gw", "gateway.yaml");
    await mkdir(lab.path("gw"), { recursive: true });
    await writeGatewayConfig(file, {
      mode: "direct",
      listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
      monitoring: { address: "127.0.0.1:0" },
      users: [{ name: ro.name, passwordHash: ro.passwordHash, role: "ro" }],
      upstream: { url: double.url, path: REPO },
    });
    gateway = await startGatewayFromFile(file, {
      log: createLog("gateway", l => logs.push(l), "debug"),
    });
    base = `https://127.0.0.1:${gateway.addresses.client.port}`;
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  for (const how of LIES) {
    it(`${how} blob: the client never gets it whole, the log names the digest; honest again, it does`, async () => {
      double.honest();
      double.lie(layer, how);
      const mark = logs.length;
      const url = `${base}/v2/system/deckhouse/blobs/${layer}`;
      const answer = await https(url, { ca, auth: `${ro.name}:${ro.password}` }).catch(
        (e: unknown) => e as Error,
      );
      // cut short (the connection ends before Content-Length) or refused: never a complete 200
      expect(
        answer instanceof Error || answer.status !== 200,
        "a complete 200 of wrong bytes",
      ).toBe(true);
      expect(logs.slice(mark).join("\n")).toContain(layer);
      double.honest();
      const good = await https(url, { ca, auth: `${ro.name}:${ro.password}` });
      expect(good.status).toBe(200);
      expect(createHash("sha256").update(good.body).digest("hex")).toBe(layer.slice(7));
    });
  }

  it("a lying manifest by digest is 502 naming the digest", async () => {
    double.honest();
    double.lie(child, "wrong");
    const r = await https(`${base}/v2/system/deckhouse/manifests/${child}`, {
      ca,
      auth: `${ro.name}:${ro.password}`,
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(r.status).toBe(502);
    expect(r.body.toString()).toContain(child);
    double.honest();
  });
});

describe("gateway, upstream side (Proxy): the cache behind it stores nothing wrong", () => {
  let gateway: RunningGateway;
  let base: string;
  let ca: string;
  let cache: Registry;
  const ro = user("ro");

  beforeAll(async () => {
    const authority = await createCa(lab.path("gwp-pki"));
    ca = authority.certPem;
    const cert = await issueServerCert(authority, "gateway-proxy");
    await mkdir(lab.path("gwp"), { recursive: true });
    const file = lab.path("gwp", "gateway.yaml");
    // distribution and the gateway name each other: ports chosen before either starts
    const listener = `127.0.0.1:${await freePort()}`;
    const cachePort = await freePort();
    const creds = { username: "distribution", password: "listener-secret-0123" };
    await writeGatewayConfig(file, {
      mode: "proxy",
      listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
      monitoring: { address: "127.0.0.1:0" },
      users: [{ name: ro.name, passwordHash: ro.passwordHash, role: "ro" }],
      distribution: { url: `http://127.0.0.1:${cachePort}` },
      upstream: { url: double.url, path: REPO },
      upstreamListener: { address: listener, ...creds },
    });
    gateway = await startGatewayFromFile(file, { log: createLog("gateway", () => undefined) });
    cache = await startRegistry({
      dir: lab.path("cache"),
      port: cachePort,
      proxy: { remoteUrl: `http://${listener}`, ...creds },
    });
    base = `https://127.0.0.1:${gateway.addresses.client.port}`;
  });

  afterAll(async () => {
    await gateway?.stop();
  });

  it("a wrong layer reaches neither the client whole nor the cache's storage; honest again, both get it", async () => {
    double.honest();
    double.lie(layer, "wrong");
    const url = `${base}/v2/system/deckhouse/blobs/${layer}`;
    const stored = join(
      cache.storageDir,
      "docker/registry/v2/blobs/sha256",
      layer.slice(7, 9),
      layer.slice(7),
      "data",
    );
    const answer = await https(url, { ca, auth: `${ro.name}:${ro.password}` }).catch(
      (e: unknown) => e as Error,
    );
    // cut short (the client sees the connection end before Content-Length) or refused: never a
    // complete 200 of the wrong bytes
    expect(answer instanceof Error || answer.status !== 200, "a complete 200 of wrong bytes").toBe(
      true,
    );
    // distribution writes the blob while streaming; give it time to (not) commit
    await new Promise(r => setTimeout(r, 1_000));
    expect(existsSync(stored), "the cache stored a blob that does not match its digest").toBe(
      false,
    );
    double.honest();
    const good = await https(url, { ca, auth: `${ro.name}:${ro.password}` });
    expect(good.status).toBe(200);
    expect(createHash("sha256").update(good.body).digest("hex")).toBe(layer.slice(7));
  });
});
