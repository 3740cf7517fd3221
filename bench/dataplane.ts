// Data-plane benchmark (issue 6). Everything on loopback, real stock distribution 2.8, the gateway
// in its own process; baselines measured in the same run, rounds interleaved so machine load hits
// both sides alike.
//
//   throughput  blob GETs: one 128 MiB blob, and 32 distinct 4 MiB blobs at once, against
//               distribution serving TLS itself over the same storage (what a node talked to
//               before the gateway), median and spread of per-round ratios over 5 interleaved
//               rounds. Contenders (docs/adr/0110, 0136): (a) the registry path — nginx with the
//               manager's config, the gateway's verdict, committed blobs from distribution's
//               storage; (a) proxying every blob from distribution (the 0110 path); (a) with the
//               client held to AES-256-GCM (what nginx negotiated before it preferred Go's
//               AES-128-GCM); (b) distribution with token auth: the baseline's own program, so its
//               spread is the noise of the run. Target ≥ 0.9× for (a).
//   HEAD        manifest HEAD latency, sequential on a kept-alive connection, each contender vs
//               distribution: added p50 / p99. Target: added p50 ≤ 1 ms. Blob HEADs: the price
//               of (a)'s verdict subrequest.
//   RPS         concurrent manifest HEADs through nginx to the gateway with authentication
//               (verdict cache) vs the same without authentication. Target ≥ 0.8×.
//   mirrorer    a 20-image bundle synced to two fresh replicas: the mirrorer (one per replica, as
//               on masters) vs `skopeo sync --all --preserve-digests` doing the same copies.
//
//   node --import tsx bench/dataplane.ts     (BENCH_BLOB_MB=128 BENCH_ROUNDS=5 BENCH_HEADS=2000
//                                             BENCH_RPS_SECONDS=4 BENCH_CONCURRENCY=32
//                                             BENCH_BLOBS=32 BENCH_SMALL_MB=4
//                                             BENCH_SKIP_MIRRORER=1: the blob path only)
import bcrypt from "bcryptjs";
import { chmod, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
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
  createTokenSigner,
  freePort,
  issueServerCert,
  type Lab,
  pushImage,
  type Registry,
  run,
  spawnProcess,
  startRegistry,
  startTokenServer,
  writeOciLayout,
} from "../test/e2e-lab";
import { startRegistryNginx } from "../test/dataplane/support/nginx";
import { pushBundle, writeBundle } from "../test/dataplane/support/bundle";

const BLOB_MB = Number(process.env.BENCH_BLOB_MB ?? 128);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
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
  behindNginx = false,
): Promise<number> {
  const file = lab.path(`${name}.yaml`);
  await writeFile(
    file,
    stringify({
      mode: "local",
      listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
      ...(behindNginx ? { tlsFrontend: { address: "127.0.0.1:0" } } : {}),
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

const BLOBS = Number(process.env.BENCH_BLOBS ?? 32);
const SMALL_MB = Number(process.env.BENCH_SMALL_MB ?? 4);

/** min–max and median of a series, as the tables print them */
const spread = (xs: readonly number[]) =>
  `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;

/** `paths` downloaded all at once: aggregate MiB/s. */
async function downloadAll(e: Endpoint, paths: readonly string[]): Promise<number> {
  const started = process.hrtime.bigint();
  const bytes = await Promise.all(
    paths.map(async path => {
      const res = await request(`${e.origin}${path}`, {
        dispatcher: e.dispatcher,
        headers: e.auth ? { authorization: e.auth } : {},
      });
      if (res.statusCode !== 200) throw new Error(`${e.name}: GET ${path} → ${res.statusCode}`);
      let n = 0;
      for await (const chunk of res.body) n += (chunk as Buffer).length;
      return n;
    }),
  );
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  return bytes.reduce((a, b) => a + b, 0) / s / 1024 / 1024;
}

/** A pull token for candidate (b), fetched once as clients do (and then cached per scope). */
async function bearerFor(realm: string, service: string, scope: string): Promise<string> {
  const url = `${realm}?service=${encodeURIComponent(service)}&scope=${encodeURIComponent(scope)}`;
  const res = await request(url, { headers: { authorization: AUTH } });
  const body = (await res.body.json()) as { token: string };
  return `Bearer ${body.token}`;
}

async function benchGateway(lab: Lab, ca: CertificateAuthority): Promise<void> {
  const storage = lab.path("storage");
  const backend = await startRegistry({
    dir: lab.path("backend"),
    storageDir: storage,
    quiet: true,
  });
  const cert = await issueServerCert(ca, "bench");
  // the baseline: distribution serving TLS itself, same storage
  const direct = await startRegistry({
    dir: lab.path("direct"),
    storageDir: storage,
    tls: cert,
    quiet: true,
  });
  // candidate (b): distribution serving TLS with token auth, a token service issuing the scopes
  const tokens = await startTokenServer({
    signer: await createTokenSigner(lab.path("token-pki")),
    users: { [USER.name]: USER.password },
  });
  const tokenAuthed = await startRegistry({
    dir: lab.path("token"),
    storageDir: storage,
    tls: cert,
    tokenAuth: tokens.registryAuth("bench"),
    quiet: true,
  });
  const image = await writeOciLayout(lab.path("img"), {
    seed: "bench",
    tags: ["v1"],
    payloadBytes: BLOB_MB * 1024 * 1024,
    baseLayers: Array.from({ length: BLOBS }, (_, i) => ({
      seed: `bench-small-${i}`,
      payloadBytes: SMALL_MB * 1024 * 1024,
    })),
  });
  await pushImage(image, backend, "system/deckhouse");
  const bySize = [...image.blobs].sort((a, b) => b[1] - a[1]);
  const [blob] = bySize[0] as [string, number];
  const smallBlobs = bySize.slice(1, 1 + BLOBS).map(([d]) => d);
  const authPort = await startGatewayProcess(lab, "gateway-auth", backend, cert, false);
  const openPort = await startGatewayProcess(lab, "gateway-open", backend, cert, true);
  // candidate (a), the path chosen (docs/adr/0110): nginx with the manager's config in front of
  // the gateway (plain HTTP behind it) and of distribution
  const behindPort = await startGatewayProcess(lab, "gateway-behind", backend, cert, false, true);
  const openBehindPort = await startGatewayProcess(
    lab,
    "gateway-open-behind",
    backend,
    cert,
    true,
    true,
  );
  const backendPort = Number(new URL(backend.url).port);
  // nginx's workers (nobody) read the storage: the lab directory must let them through
  await chmod(lab.dir, 0o711);
  const nginxAt = async (name: string, gatewayPort: number, fromStorage = true) =>
    startRegistryNginx(lab.path(name), {
      listen: { host: "127.0.0.1", port: await freePort() },
      certificate: cert.cert,
      key: cert.key,
      gateway: { host: "127.0.0.1", port: gatewayPort },
      distribution: { host: "127.0.0.1", port: backendPort },
      ...(fromStorage ? { storage: { root: storage, headers: {} } } : {}),
    });
  const nginx = await nginxAt("nginx", behindPort);
  const nginxProxied = await nginxAt("nginx-proxied", behindPort, false);
  const nginxOpen = await nginxAt("nginx-open", openBehindPort);
  const agent = (ciphers?: string) =>
    new Agent({
      connect: { ca: ca.certPem, ...(ciphers ? { ciphers } : {}) },
      connections: CONCURRENCY,
    });
  const keepAlive = () =>
    new HttpsAgent({ keepAlive: true, ca: ca.certPem, maxSockets: CONCURRENCY });
  const endpoint = (name: string, origin: string, auth?: string, ciphers?: string): Endpoint => ({
    name,
    origin,
    ...(auth ? { auth } : {}),
    dispatcher: agent(ciphers),
    keepAlive: keepAlive(),
  });
  const directE = endpoint("distribution (TLS)", direct.url);
  const nginxE = endpoint("(a) nginx + verdict, blob files", nginx.base, AUTH);
  const nginxProxiedE = endpoint("(a) proxying from distribution", nginxProxied.base, AUTH);
  const nginxAes256E = endpoint(
    "(a) blob files, AES-256-GCM",
    nginx.base,
    AUTH,
    "TLS_AES_256_GCM_SHA384",
  );
  const nginxOpenE = endpoint("(a) nginx, gateway no auth", nginxOpen.base);
  const scope = "repository:system/deckhouse:pull";
  const tokenE = endpoint(
    "(b) distribution, token auth",
    tokenAuthed.url,
    await bearerFor(tokens.realm, "bench", scope),
  );
  const gatewayE = endpoint("gateway alone (Node TLS)", `https://127.0.0.1:${authPort}`, AUTH);
  const openE = endpoint("gateway alone, no auth", `https://127.0.0.1:${openPort}`);
  const blobPath = `/v2/system/deckhouse/blobs/${blob}`;
  const smallPaths = smallBlobs.map(d => `/v2/system/deckhouse/blobs/${d}`);
  const manifestPath = "/v2/system/deckhouse/manifests/v1";
  // the gateway alone (Node TLS, 0.5–0.7×, docs/adr/0110) only in the latency tables
  const contenders = [directE, nginxE, nginxProxiedE, nginxAes256E, tokenE];

  // warm-up: page cache, TLS sessions, the verdict caches
  for (const e of contenders) {
    await download(e, blobPath);
    await downloadAll(e, smallPaths);
  }
  const big = new Map(contenders.map(e => [e, [] as number[]]));
  const many = new Map(contenders.map(e => [e, [] as number[]]));
  for (let r = 0; r < ROUNDS; r++) {
    // interleaved, and the order rotated each round so no contender always goes first
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length] as Endpoint);
    for (const e of order) big.get(e)?.push(await download(e, blobPath));
    for (const e of order) many.get(e)?.push(await downloadAll(e, smallPaths));
  }
  const table = (series: Map<Endpoint, number[]>) => {
    const base = series.get(directE) as number[];
    return Object.fromEntries(
      contenders.map(e => {
        const xs = series.get(e) as number[];
        // per-round ratios: each against the baseline of the same round
        const ratios = xs.map((x, i) => x / (base[i] as number));
        return [
          e.name,
          {
            "MiB/s (median)": median(xs).toFixed(0),
            "× distribution (median)": e === directE ? "" : median(ratios).toFixed(2),
            "× spread (min–max)": e === directE ? "" : spread(ratios),
          },
        ];
      }),
    );
  };
  const ratio = (series: Map<Endpoint, number[]>, e: Endpoint) => {
    const base = series.get(directE) as number[];
    return median((series.get(e) as number[]).map((x, i) => x / (base[i] as number)));
  };
  console.log(`\nblob download, one ${BLOB_MB} MiB blob, median of ${ROUNDS} interleaved rounds`);
  console.table(table(big));
  console.log(
    `\n${BLOBS} concurrent ${SMALL_MB} MiB blobs, aggregate, median of ${ROUNDS} interleaved rounds`,
  );
  console.table(table(many));
  const rBig = ratio(big, nginxE);
  const rMany = ratio(many, nginxE);
  console.log(
    `target ≥ 0.90× on the registry path (a): ${BLOB_MB} MiB ${rBig.toFixed(2)}× ${rBig >= 0.9 ? "met" : "NOT met"}, ` +
      `${BLOBS}×${SMALL_MB} MiB ${rMany.toFixed(2)}× ${rMany >= 0.9 ? "met" : "NOT met"}`,
  );

  const latency = async (path: string, contendersL: Endpoint[]) => {
    const lat = new Map(contendersL.map(e => [e, [] as number[]]));
    for (let i = 0; i < 50; i++) for (const e of contendersL) await head(e, path);
    const block = 100;
    for (let done = 0; done < HEADS; done += block) {
      for (const e of contendersL) {
        for (let i = 0; i < block; i++) lat.get(e)?.push(await head(e, path));
      }
    }
    return lat;
  };
  const p = (xs: number[], q: number) => quantile(xs, q);
  const latencyTable = (lat: Map<Endpoint, number[]>) => {
    const d = lat.get(directE) as number[];
    return Object.fromEntries(
      [...lat].map(([e, xs]) => [
        e.name,
        {
          "p50 ms": p(xs, 0.5).toFixed(3),
          "p99 ms": p(xs, 0.99).toFixed(3),
          "added p50 ms": e === directE ? "" : (p(xs, 0.5) - p(d, 0.5)).toFixed(3),
          "added p99 ms": e === directE ? "" : (p(xs, 0.99) - p(d, 0.99)).toFixed(3),
        },
      ]),
    );
  };
  const manifestLat = await latency(manifestPath, [directE, nginxE, tokenE, gatewayE]);
  console.log(`\nmanifest HEAD latency, ${HEADS} sequential each, kept-alive`);
  console.table(latencyTable(manifestLat));
  const added50 =
    p(manifestLat.get(nginxE) as number[], 0.5) - p(manifestLat.get(directE) as number[], 0.5);
  console.log(
    `target added p50 ≤ 1 ms on the registry path (a): ${added50 <= 1 ? "met" : "NOT met"}`,
  );
  // a blob HEAD on path (a) costs nginx's verdict subrequest to the gateway: its price per blob
  const blobLat = await latency(blobPath, [directE, nginxE, tokenE]);
  console.log(`\nblob HEAD latency (the verdict subrequest of path (a)), ${HEADS} sequential each`);
  console.table(latencyTable(blobLat));

  const r = { auth: [] as number[], open: [] as number[] };
  await rps(nginxE, manifestPath, 1);
  await rps(nginxOpenE, manifestPath, 1);
  for (let i = 0; i < 2; i++) {
    r.open.push(await rps(nginxOpenE, manifestPath, RPS_SECONDS));
    r.auth.push(await rps(nginxE, manifestPath, RPS_SECONDS));
  }
  const rr = { auth: median(r.auth), open: median(r.open) };
  console.log(
    `\nmanifest HEADs per second through nginx, ${CONCURRENCY} concurrent, ${RPS_SECONDS} s × 2 each`,
  );
  console.table({
    "gateway, no auth": { "req/s": rr.open.toFixed(0) },
    "gateway, Basic auth": {
      "req/s": rr.auth.toFixed(0),
      "× no auth": (rr.auth / rr.open).toFixed(2),
    },
  });
  console.log(`target ≥ 0.80×: ${rr.auth / rr.open >= 0.8 ? "met" : "NOT met"}`);
  for (const e of [
    directE,
    nginxE,
    nginxProxiedE,
    nginxAes256E,
    nginxOpenE,
    tokenE,
    gatewayE,
    openE,
  ]) {
    await e.dispatcher.close();
    e.keepAlive.destroy();
  }
  await Promise.all([nginx.stop(), nginxProxied.stop(), nginxOpen.stop(), tokens.stop()]);
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
    // BENCH_SKIP_MIRRORER=1: the blob path only
    if (process.env.BENCH_SKIP_MIRRORER !== "1") await benchMirrorer(lab);
  } finally {
    await lab.close();
  }
}

const argv = process.argv.slice(2);
if (argv[0] === "--serve-gateway" && argv[1]) {
  await serveGateway(argv[1], argv.includes("--unauthenticated"));
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await benchDataplane();
  // keep-alive sockets of child clients must not hold the process
  process.exit(0);
}
