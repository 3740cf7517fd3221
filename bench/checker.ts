// Checker benchmark (issue 4): one loop tick over 1000 manifests in a real local registry
// (distribution 2.8, HTTPS with a test CA, Bearer token auth as real registries have), against
// a sequential HEAD loop over the same list measured in the same run: one request at a time, a
// new TLS connection each, the Bearer token fetched once up front (no per-item auth cost).
//
// Two placements of the same registry:
//   loopback — client and registry share this machine's cores: the registry's CPU is the limit;
//   WAN      — the same registry behind a relay adding BENCH_ONE_WAY_MS per direction (default
//              10 ms, a 20 ms RTT: a registry in a nearby data centre). This is where keep-alive
//              and concurrency are meant to pay, and where the ≥ 5× target is checked.
// Rounds alternate baseline and tick so machine load affects both alike. Figures: medians, the
// ratio, the tick against its 30 s budget, per-item latency p50/p99 inside the tick.
//
//   node --import tsx bench/checker.ts          (BENCH_ITEMS=1000 BENCH_ROUNDS=2 BENCH_ONE_WAY_MS=10)
import { createHash } from "node:crypto";
import { request } from "node:https";
import {
  DEFAULT_OPTIONS,
  EMPTY_STATE,
  openOciSession,
  runTick,
  type CheckerParams,
  type RegistryParams,
  type RegistrySession,
  type RequiredImages,
} from "../lib/checker";
import { MANIFEST_ACCEPT, OCI_MANIFEST, RegistryClient } from "../lib/oci";
import {
  createCa,
  createLab,
  createTokenSigner,
  issueServerCert,
  pushImage,
  startLatencyProxy,
  startRegistry,
  startTokenServer,
  writeOciLayout,
  type Lab,
} from "../test/e2e-lab";

const ITEMS = Number(process.env.BENCH_ITEMS ?? 1000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const ONE_WAY_MS = Number(process.env.BENCH_ONE_WAY_MS ?? 10);
const TARGET_RATIO = 5;
const REPO = "deckhouse/ee";
const user = { username: "bench", password: "bench-password" };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;

interface Figures {
  baseMs: number;
  tickMs: number;
  worstTickMs: number;
  p50: number;
  p99: number;
}

async function main(): Promise<void> {
  let lab: Lab | undefined;
  try {
    lab = await createLab("bench-checker");
    const ca = await createCa(lab.path("pki"));
    const tokens = await startTokenServer({
      signer: await createTokenSigner(lab.path("pki")),
      users: { [user.username]: user.password },
    });
    const reg = await startRegistry({
      dir: lab.path("reg"),
      tls: await issueServerCert(ca, "reg"),
      tokenAuth: tokens.registryAuth("bench"),
      quiet: true,
    });
    const layout = await writeOciLayout(lab.path("img"), { seed: "bench", tags: ["v1"] });
    await pushImage(layout, reg, REPO, { creds: user });

    // ITEMS distinct manifests over one config and layer: only the manifests differ
    const seeder = new RegistryClient({ registry: reg.hostPort, ca: ca.certPem, ...user });
    const template = (await seeder.getManifest(REPO, "v1")).document;
    if (template.kind !== "manifest") throw new Error("expected an image manifest");
    const digests: string[] = [];
    const seedStart = performance.now();
    for (let i = 0; i < ITEMS; i += 50) {
      const batch = Array.from({ length: Math.min(50, ITEMS - i) }, (_, j) => {
        const bytes = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: template.config,
            layers: template.layers,
            annotations: { "bench.item": String(i + j) },
          }),
        );
        const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
        digests.push(digest);
        return seeder.putManifest(REPO, digest, bytes, OCI_MANIFEST);
      });
      await Promise.all(batch);
    }
    await seeder.close();
    console.log(`seeded ${ITEMS} manifests in ${ms(performance.now() - seedStart)}`);

    // the naive loop gets its token once, as any loop would: only connections and order differ
    const tokenRes = await fetch(
      `${tokens.realm}?service=bench&scope=${encodeURIComponent(`repository:${REPO}:pull`)}`,
      {
        headers: {
          authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString("base64")}`,
        },
      },
    );
    const bearer = `Bearer ${((await tokenRes.json()) as { token: string }).token}`;
    const required: RequiredImages = {
      moduleDigests: new Map(digests.map((d, i) => [d, `module/bench/item-${i}`])),
      deckhouse: { containers: {}, initContainers: {} },
    };

    const measure = async (name: string, hostPort: string): Promise<Figures> => {
      const [host, port] = [hostPort.split(":")[0] as string, Number(hostPort.split(":")[1])];
      const registry: RegistryParams = {
        address: `${hostPort}/${REPO}`,
        scheme: "HTTPS",
        ca: ca.certPem,
        ...user,
      };
      const params: CheckerParams = {
        version: name,
        checkMode: "Default",
        registries: { [name]: registry },
      };

      const tick = async () => {
        const latencies: number[] = [];
        const deps = {
          now: () => new Date(),
          openRegistry: (_n: string, p: RegistryParams): RegistrySession => {
            const session = openOciSession(p, DEFAULT_OPTIONS.budgetMs);
            return {
              async check(image, signal) {
                const t = performance.now();
                try {
                  await session.check(image, signal);
                } finally {
                  latencies.push(performance.now() - t);
                }
              },
              close: () => session.close(),
            };
          },
        };
        const init = await runTick(EMPTY_STATE, params, () => required, deps);
        const start = performance.now();
        const r = await runTick(init.state, params, () => required, deps);
        const elapsed = performance.now() - start;
        if (!r.state.ready || r.found !== ITEMS) {
          throw new Error(
            `${name} tick incomplete: ${r.state.message.split("\n").slice(0, 4).join(" | ")}`,
          );
        }
        return { elapsed, latencies };
      };

      const sequential = async () => {
        const start = performance.now();
        for (const digest of digests) {
          const status = await new Promise<number>((resolve, reject) => {
            const req = request(
              {
                host,
                port,
                method: "HEAD",
                path: `/v2/${REPO}/manifests/${digest}`,
                ca: ca.certPem,
                agent: false,
                headers: { authorization: bearer, accept: MANIFEST_ACCEPT },
              },
              res => {
                res.resume();
                resolve(res.statusCode ?? 0);
              },
            );
            req.on("error", reject);
            req.end();
          });
          if (status !== 200) throw new Error(`${name} baseline HEAD ${digest}: HTTP ${status}`);
        }
        return performance.now() - start;
      };

      await tick(); // warm-up: JIT, the registry's caches
      const base: number[] = [];
      const ticks: number[] = [];
      let latencies: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        base.push(await sequential());
        const t = await tick();
        ticks.push(t.elapsed);
        latencies = latencies.concat(t.latencies);
      }
      const f = {
        baseMs: median(base),
        tickMs: median(ticks),
        worstTickMs: Math.max(...ticks),
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      };
      console.log(`\n${name}:`);
      console.log(
        `  sequential HEAD loop, new TLS connection per item: median ${ms(f.baseMs)} (${base.map(ms).join(", ")})`,
      );
      console.log(
        `  checker tick, ${DEFAULT_OPTIONS.workersPerRegistry} workers + keep-alive: median ${ms(f.tickMs)} ` +
          `(${ticks.map(ms).join(", ")}); budget ${ms(DEFAULT_OPTIONS.budgetMs)}: ` +
          (f.worstTickMs < DEFAULT_OPTIONS.budgetMs ? "within" : "EXCEEDED"),
      );
      console.log(
        `  per-item latency in the tick: p50 ${f.p50.toFixed(2)} ms, p99 ${f.p99.toFixed(2)} ms`,
      );
      console.log(`  speed-up: ${(f.baseMs / f.tickMs).toFixed(1)}×`);
      return f;
    };

    const local = await measure("loopback", reg.hostPort);
    const wan = await startLatencyProxy({ target: reg.hostPort, oneWayMs: ONE_WAY_MS });
    const far = await measure(`WAN (RTT ${2 * ONE_WAY_MS} ms)`, wan.hostPort);
    const ratio = far.baseMs / far.tickMs;
    const withinBudget = Math.max(local.worstTickMs, far.worstTickMs) < DEFAULT_OPTIONS.budgetMs;
    console.log(
      `\nresult: ${ITEMS} items, every tick within the ${DEFAULT_OPTIONS.budgetMs / 1000} s budget: ` +
        `${withinBudget ? "yes" : "NO"}; WAN speed-up ${ratio.toFixed(1)}× (target ≥ ${TARGET_RATIO}×): ` +
        `${ratio >= TARGET_RATIO ? "met" : "NOT met"}; loopback speed-up ` +
        `${(local.baseMs / local.tickMs).toFixed(1)}× (registry CPU-bound on the same cores)`,
    );
    if (ratio < TARGET_RATIO || !withinBudget) process.exitCode = 1;
  } finally {
    await lab?.close();
  }
}

await main();
