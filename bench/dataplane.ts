// Data-plane benchmark (issue 6). Everything on loopback, real stock distribution 2.8, the gateway
// in its own process; baselines measured in the same run, rounds interleaved so machine load hits
// both sides alike.
//
//   throughput  GET of one large blob: through the gateway (TLS, Basic auth, streaming to the
//               distribution behind it) vs from distribution serving TLS itself over the same
//               storage — what a node talked to before the gateway. Target ≥ 0.9×.
//   HEAD        manifest HEAD latency, sequential on a kept-alive connection, gateway vs direct:
//               added p50 / p99. Target: added p50 ≤ 1 ms.
//   RPS         concurrent manifest HEADs through the gateway with authentication (verdict cache)
//               vs the same gateway without authentication. Target ≥ 0.8×.
//   mirrorer    a 20-image bundle synced to two fresh replicas: the mirrorer (one per replica, as
//               on masters) vs `skopeo sync --all --preserve-digests` doing the same copies.
//
//   node --import tsx bench/dataplane.ts     (BENCH_BLOB_MB=128 BENCH_ROUNDS=3 BENCH_HEADS=2000
//                                             BENCH_RPS_SECONDS=4 BENCH_CONCURRENCY=32)
import bcrypt from "bcryptjs";
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { createReadStream } from "node:fs";
import {
  Agent as HttpsAgent,
  createServer as createHttpsServer,
  request as httpsRequest,
} from "node:https";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";
import { stringify } from "yaml";
import { RegistryClient } from "../lib/oci";
import { createLog } from "../images/common/src/log";
import { loadGatewayConfig } from "../images/gateway/src/config";
import { startGateway } from "../images/gateway/src/server";
import { Mirror } from "../images/mirrorer/src/sync";
import {
  type CertificateAuthority,
  createCa,
  createLab,
  issueServerCert,
  type Lab,
  pushImage,
  type Registry,
  run,
  spawnProcess,
  startRegistry,
  writeOciLayout,
} from "../test/e2e-lab";
import { pushBundle, writeBundle } from "../test/dataplane/support/bundle";

const BLOB_MB = Number(process.env.BENCH_BLOB_MB ?? 128);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const HEADS = Number(process.env.BENCH_HEADS ?? 2000);
const RPS_SECONDS = Number(process.env.BENCH_RPS_SECONDS ?? 4);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const USER = { name: "ro", password: "bench-ro-password" };
const AUTH = `Basic ${Buffer.from(`${USER.name}:${USER.password}`).toString("base64")}`;

const quantile = (xs: readonly number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
};
const median = (xs: readonly number[]) => quantile(xs, 0.5);

interface Endpoint {
  name: string;
  origin: string;
  auth?: string;
  dispatcher: Agent;
  keepAlive: HttpsAgent;
}

async function download(e: Endpoint, path: string): Promise<number> {
  const started = process.hrtime.bigint();
  const res = await request(`${e.origin}${path}`, {
    dispatcher: e.dispatcher,
    headers: e.auth ? { authorization: e.auth } : {},
  });
  if (res.statusCode !== 200) throw new Error(`${e.name}: GET ${path} → ${res.statusCode}`);
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  return bytes / s / 1024 / 1024;
}

/** node:https with keep-alive: undici closes its connection after every HEAD. */
function head(e: Endpoint, path: string): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${e.origin}${path}`,
      {
        method: "HEAD",
        agent: e.keepAlive,
        headers: {
          accept: "application/vnd.oci.image.manifest.v1+json",
          ...(e.auth ? { authorization: e.auth } : {}),
        },
      },
      res => {
        res.resume();
        res.on("end", () => {
          if (res.statusCode !== 200)
            reject(new Error(`${e.name}: HEAD ${path} → ${res.statusCode}`));
          else resolve(Number(process.hrtime.bigint() - started) / 1e6);
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function rps(e: Endpoint, path: string, seconds: number): Promise<number> {
  const deadline = Date.now() + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        await head(e, path);
        done++;
      }
    }),
  );
  return done / seconds;
}

/** Child mode: one gateway in this process, so the measuring process does not share its event loop. */
async function serveGateway(configFile: string, unauthenticated: boolean): Promise<void> {
  const { config, files } = await loadGatewayConfig(configFile);
  const gw = await startGateway({
    config,
    files,
    log: createLog("gateway", () => undefined),
    unauthenticated,
  });
  process.stdout.write(`${JSON.stringify({ port: gw.addresses.client.port })}\n`);
  process.once("SIGTERM", () => void gw.stop().then(() => process.exit(0)));
}

async function startGatewayProcess(
  lab: Lab,
  name: string,
  distribution: Registry,
  cert: { cert: string; key: string },
  unauthenticated: boolean,
): Promise<number> {
  const file = lab.path(`${name}.yaml`);
  await writeFile(
    file,
    stringify({
      mode: "local",
      listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
      monitoring: { address: "127.0.0.1:0" },
      users: [{ name: USER.name, passwordHash: bcrypt.hashSync(USER.password, 10), role: "ro" }],
      distribution: { url: distribution.url },
    }),
  );
  const args = ["--import", "tsx", fileURLToPath(import.meta.url), "--serve-gateway", file];
  if (unauthenticated) args.push("--unauthenticated");
  const proc = spawnProcess(name, process.execPath, args);
  const line = await proc.waitForLine(/^\{"port":\d+\}$/, 30_000);
  return (JSON.parse(line[0]) as { port: number }).port;
}

async function benchGateway(lab: Lab, ca: CertificateAuthority): Promise<void> {
  const storage = lab.path("storage");
  const backend = await startRegistry({ dir: lab.path("backend"), storageDir: storage });
  const cert = await issueServerCert(ca, "bench");
  // the baseline: distribution serving TLS itself, same storage
  const direct = await startRegistry({ dir: lab.path("direct"), storageDir: storage, tls: cert });
  const image = await writeOciLayout(lab.path("img"), {
    seed: "bench",
    tags: ["v1"],
    payloadBytes: BLOB_MB * 1024 * 1024,
  });
  await pushImage(image, backend, "system/deckhouse");
  const [blob] = [...image.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
  const authPort = await startGatewayProcess(lab, "gateway-auth", backend, cert, false);
  const openPort = await startGatewayProcess(lab, "gateway-open", backend, cert, true);
  const nodeTlsPort = await startNodeTlsFileServer(cert, image.dir, blob);
  const agent = () => new Agent({ connect: { ca: ca.certPem }, connections: CONCURRENCY });
  const keepAlive = () =>
    new HttpsAgent({ keepAlive: true, ca: ca.certPem, maxSockets: CONCURRENCY });
  const directE: Endpoint = {
    name: "distribution (TLS)",
    origin: direct.url,
    dispatcher: agent(),
    keepAlive: keepAlive(),
  };
  const gatewayE: Endpoint = {
    name: "gateway",
    origin: `https://127.0.0.1:${authPort}`,
    auth: AUTH,
    dispatcher: agent(),
    keepAlive: keepAlive(),
  };
  const openE: Endpoint = {
    name: "gateway, no auth",
    origin: `https://127.0.0.1:${openPort}`,
    dispatcher: agent(),
    keepAlive: keepAlive(),
  };
  const nodeTlsE: Endpoint = {
    name: "node https, file",
    origin: `https://127.0.0.1:${nodeTlsPort}`,
    dispatcher: agent(),
    keepAlive: keepAlive(),
  };
  const blobPath = `/v2/system/deckhouse/blobs/${blob}`;
  const manifestPath = "/v2/system/deckhouse/manifests/v1";

  // warm-up: page cache, TLS sessions, the verdict cache
  await download(directE, blobPath);
  await download(gatewayE, blobPath);
  await download(nodeTlsE, blobPath);
  const tput = { direct: [] as number[], gateway: [] as number[], node: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    tput.direct.push(await download(directE, blobPath));
    tput.gateway.push(await download(gatewayE, blobPath));
    tput.node.push(await download(nodeTlsE, blobPath));
  }
  const t = { direct: median(tput.direct), gateway: median(tput.gateway), node: median(tput.node) };
  console.log(`\nblob download, ${BLOB_MB} MiB, median of ${ROUNDS}`);
  console.table({
    "distribution (TLS)": { "MiB/s": t.direct.toFixed(0) },
    gateway: { "MiB/s": t.gateway.toFixed(0), "× distribution": (t.gateway / t.direct).toFixed(2) },
    // what Node's TLS stack does here with no proxying at all: the gateway's ceiling
    "node https, same file": {
      "MiB/s": t.node.toFixed(0),
      "× distribution": (t.node / t.direct).toFixed(2),
    },
  });
  console.log(`target ≥ 0.90×: ${t.gateway / t.direct >= 0.9 ? "met" : "NOT met"}`);

  const lat = { direct: [] as number[], gateway: [] as number[] };
  for (let i = 0; i < 50; i++) {
    await head(directE, manifestPath);
    await head(gatewayE, manifestPath);
  }
  const block = 100;
  for (let done = 0; done < HEADS; done += block) {
    for (let i = 0; i < block; i++) lat.direct.push(await head(directE, manifestPath));
    for (let i = 0; i < block; i++) lat.gateway.push(await head(gatewayE, manifestPath));
  }
  const p = (xs: number[], q: number) => quantile(xs, q);
  const added50 = p(lat.gateway, 0.5) - p(lat.direct, 0.5);
  const added99 = p(lat.gateway, 0.99) - p(lat.direct, 0.99);
  console.log(`\nmanifest HEAD latency, ${HEADS} sequential each, kept-alive`);
  console.table({
    "distribution (TLS)": {
      "p50 ms": p(lat.direct, 0.5).toFixed(3),
      "p99 ms": p(lat.direct, 0.99).toFixed(3),
    },
    gateway: {
      "p50 ms": p(lat.gateway, 0.5).toFixed(3),
      "p99 ms": p(lat.gateway, 0.99).toFixed(3),
    },
    "added by the gateway": { "p50 ms": added50.toFixed(3), "p99 ms": added99.toFixed(3) },
  });
  console.log(`target added p50 ≤ 1 ms: ${added50 <= 1 ? "met" : "NOT met"}`);

  const r = { auth: [] as number[], open: [] as number[] };
  await rps(gatewayE, manifestPath, 1);
  await rps(openE, manifestPath, 1);
  for (let i = 0; i < 2; i++) {
    r.open.push(await rps(openE, manifestPath, RPS_SECONDS));
    r.auth.push(await rps(gatewayE, manifestPath, RPS_SECONDS));
  }
  const rr = { auth: median(r.auth), open: median(r.open) };
  console.log(`\nmanifest HEADs per second, ${CONCURRENCY} concurrent, ${RPS_SECONDS} s × 2 each`);
  console.table({
    "gateway, no auth": { "req/s": rr.open.toFixed(0) },
    "gateway, Basic auth": {
      "req/s": rr.auth.toFixed(0),
      "× no auth": (rr.auth / rr.open).toFixed(2),
    },
  });
  console.log(`target ≥ 0.80×: ${rr.auth / rr.open >= 0.8 ? "met" : "NOT met"}`);
  for (const e of [directE, gatewayE, openE, nodeTlsE]) {
    await e.dispatcher.close();
    e.keepAlive.destroy();
  }
}

/** Child mode: a plain Node https server streaming one file (Node's own TLS throughput). */
async function serveFile(certFile: string, keyFile: string, file: string): Promise<void> {
  const { readFile } = await import("node:fs/promises");
  const server = createHttpsServer(
    { cert: await readFile(certFile), key: await readFile(keyFile) },
    (_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      createReadStream(file).pipe(res);
    },
  );
  await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
}

async function startNodeTlsFileServer(
  cert: { cert: string; key: string },
  layoutDir: string,
  blob: string,
): Promise<number> {
  const file = `${layoutDir}/blobs/sha256/${blob.slice(7)}`;
  const args = [
    "--import",
    "tsx",
    fileURLToPath(import.meta.url),
    "--serve-file",
    cert.cert,
    cert.key,
    file,
  ];
  const proc = spawnProcess("node-https", process.execPath, args);
  const line = await proc.waitForLine(/^\{"port":\d+\}$/, 30_000);
  return (JSON.parse(line[0]) as { port: number }).port;
}

async function benchMirrorer(lab: Lab): Promise<void> {
  const source = await startRegistry({ dir: lab.path("mirror-source") });
  const bundle = await writeBundle(lab.path("bundle"), {
    count: 20,
    payloadBytes: 2 * 1024 * 1024,
  });
  await pushBundle(bundle, source);
  const repos = [...new Set(bundle.map(b => b.repository))];
  const times = { mirrorer: [] as number[], skopeo: [] as number[] };
  const replicas = async (round: number, who: string) =>
    Promise.all([0, 1].map(i => startRegistry({ dir: lab.path(`replica-${who}-${round}-${i}`) })));
  const log = createLog("mirrorer", () => undefined);
  for (let round = 0; round < 2; round++) {
    {
      const targets = await replicas(round, "m");
      const clients: RegistryClient[] = [];
      const client = (reg: Registry) => {
        const c = new RegistryClient({ registry: reg.hostPort, scheme: "http", connections: 8 });
        clients.push(c);
        return c;
      };
      const started = performance.now();
      await Promise.all(
        targets.map(t =>
          new Mirror(client(t), [{ name: "source", client: client(source) }], {
            concurrency: 4,
            log,
          }).pass(),
        ),
      );
      times.mirrorer.push(performance.now() - started);
      await Promise.all(clients.map(c => c.close()));
      await Promise.all(targets.map(t => t.stop()));
    }
    {
      const targets = await replicas(round, "s");
      const started = performance.now();
      await Promise.all(
        targets.map(async t => {
          for (const repo of repos) {
            const parent = repo.split("/").slice(0, -1).join("/");
            await run("skopeo", [
              "--insecure-policy", "sync", "--all", "--preserve-digests",
              "--src", "docker", "--dest", "docker",
              "--src-tls-verify=false", "--dest-tls-verify=false",
              `${source.hostPort}/${repo}`, `${t.hostPort}/${parent}`,
            ], { env: { HOME: lab.dir, XDG_RUNTIME_DIR: lab.dir } }); // prettier-ignore
          }
        }),
      );
      times.skopeo.push(performance.now() - started);
      await Promise.all(targets.map(t => t.stop()));
    }
  }
  const m = { mirrorer: median(times.mirrorer), skopeo: median(times.skopeo) };
  console.log(`\n20-image bundle (${repos.length} repositories) to two replicas, median of 2`);
  console.table({
    "skopeo sync": { ms: m.skopeo.toFixed(0) },
    mirrorer: { ms: m.mirrorer.toFixed(0), "× skopeo sync": (m.mirrorer / m.skopeo).toFixed(2) },
  });
}

export async function benchDataplane(): Promise<void> {
  const lab = await createLab("bench-dataplane");
  try {
    const ca = await createCa(lab.path("pki"));
    await benchGateway(lab, ca);
    await benchMirrorer(lab);
  } finally {
    await lab.close();
  }
}

const argv = process.argv.slice(2);
if (argv[0] === "--serve-gateway" && argv[1]) {
  await serveGateway(argv[1], argv.includes("--unauthenticated"));
} else if (argv[0] === "--serve-file" && argv[1] && argv[2] && argv[3]) {
  await serveFile(argv[1], argv[2], argv[3]);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await benchDataplane();
  // keep-alive sockets of child clients must not hold the process
  process.exit(0);
}
