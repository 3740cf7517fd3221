// Slow readers against Direct (issue 15, defect 3): clients that ask for a large blob and stop
// reading each held one of the gateway's connections to the upstream, until every other client
// waited. Now one client address holds at most a share of those connections (its further requests
// wait for its own earlier ones), and a client that reads nothing for the idle timeout is cut.
// Real distribution upstream; the gateway in this process with a small upstream pool, so a few
// slow readers are enough to fill it.
import { mkdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Socket } from "node:net";
import { createLog } from "../../images/common/src/log";
import { loadGatewayConfig } from "../../images/gateway/src/config";
import { type RunningGateway, startGateway } from "../../images/gateway/src/server";
import { OciUpstream } from "../../images/gateway/src/upstream";
import {
  createCa,
  createLab,
  issueServerCert,
  type Lab,
  type OciLayout,
  pushImage,
  type Registry,
  requireTools,
  startRegistry,
  writeOciLayout,
} from "../e2e-lab";
import { https, writeGatewayConfig } from "./support/gateway";
import { user } from "./support/node-config";
import { basicAuth, openSocket } from "./support/raw";

const CONNECTIONS = 4;
let lab: Lab;
let upstream: Registry;
let image: OciLayout;
let layer: string;
let ca: string;
let configFile: string;
const ro = user("ro");
const sockets: Socket[] = [];

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl");
  lab = await createLab("slow-readers");
  upstream = await startRegistry({ dir: lab.path("upstream") });
  // large enough that a reader who stops leaves the transfer stuck, not finished into buffers
  image = await writeOciLayout(lab.path("img"), {
    seed: "slow",
    tags: ["v1"],
    payloadBytes: 48 * 1024 * 1024,
  });
  await pushImage(image, upstream, "deckhouse/ee");
  layer = ([...image.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number])[0];
  const authority = await createCa(lab.path("pki"));
  ca = authority.certPem;
  const cert = await issueServerCert(authority, "gateway");
  await mkdir(lab.path("gw"), { recursive: true });
  configFile = lab.path("gw", "gateway.yaml");
  await writeGatewayConfig(configFile, {
    mode: "direct",
    listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
    monitoring: { address: "127.0.0.1:0" },
    users: [{ name: ro.name, passwordHash: ro.passwordHash, role: "ro" }],
    upstream: { url: upstream.url, path: "deckhouse/ee" },
  });
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await lab?.close();
});

async function start(limits: { stalledReaderMs?: number } = {}): Promise<RunningGateway> {
  const { config, files } = await loadGatewayConfig(configFile);
  if (config.mode !== "direct") throw new Error("direct expected");
  return startGateway({
    config,
    files,
    log: createLog("gateway", () => undefined),
    upstream: new OciUpstream(config.upstream, files.upstreamCa, { connections: CONNECTIONS }),
    limits,
  });
}

/** Asks for the large blob and never reads the answer. */
async function slowReader(base: string): Promise<Socket> {
  const s = await openSocket({ base, ca }, "127.0.0.1");
  sockets.push(s);
  s.on("error", () => undefined);
  s.write(
    `GET /v2/system/deckhouse/blobs/${layer} HTTP/1.1\r\nHost: x\r\n` +
      `Authorization: ${basicAuth(ro.name, ro.password)}\r\n\r\n`,
  );
  s.pause();
  return s;
}

/** The manifest, for a client on a loopback address; -1 when no answer in 20 s. */
function clientPull(base: string, localAddress: string): Promise<number> {
  const deadline = new Promise<number>(r => setTimeout(() => r(-1), 20_000).unref());
  const pull = https(`${base}/v2/system/deckhouse/manifests/v1`, {
    ca,
    auth: `${ro.name}:${ro.password}`,
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    localAddress,
  }).then(r => r.status);
  return Promise.race([pull, deadline]);
}

describe("slow readers in Direct", () => {
  it(`${2 * CONNECTIONS} stalled blob readers from one address do not starve another client`, async () => {
    const gw = await start();
    try {
      const base = `https://127.0.0.1:${gw.addresses.client.port}`;
      for (let i = 0; i < 2 * CONNECTIONS; i++) await slowReader(base);
      // give the readers time to take what they can
      await new Promise(r => setTimeout(r, 1_500));
      expect(await clientPull(base, "127.0.0.2")).toBe(200);
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await gw.stop();
    }
  }, 60_000);

  it("a reader that reads nothing for the idle timeout is cut, and what it held is freed", async () => {
    const gw = await start({ stalledReaderMs: 1_000 });
    try {
      const base = `https://127.0.0.1:${gw.addresses.client.port}`;
      for (let i = 0; i < CONNECTIONS; i++) await slowReader(base);
      // the same address asks again: it gets a connection once its stalled readers are cut
      expect(await clientPull(base, "127.0.0.1")).toBe(200);
    } finally {
      for (const s of sockets.splice(0)) s.destroy();
      await gw.stop();
    }
  }, 60_000);
});
