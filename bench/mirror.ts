// mirror benchmark (issue 7, issue 13): the same image set copied registry → disk → registry by
// `registry-module mirror pull` + `mirror push` and by `skopeo sync` (docker → dir → docker), in
// the same run, rounds interleaved (ours, skopeo, ours, skopeo, …) so machine load affects both
// alike. Real distribution 2.8 on loopback with TLS and htpasswd (quiet: no per-request logs) as
// source and target.
//
// Image set: BENCH_IMAGES (default 24) images, each with its own BENCH_LAYER_MIB (default 8) MiB
// layer over 3 shared base layers of BENCH_LAYER_MIB each; every 4th image is a 2-platform index.
// Ours is the CLI as a user runs it: the built executable `dist/cli/registry-module.mjs mirror`
// (what `npx registry-module` starts; `npm run build` first — the bench refuses a dist older than
// the sources). Figures: each round's ratio (skopeo's wall time ÷ ours, pull + push), their median
// and minimum, MB/s over the bytes each side moves (unique blob bytes, twice: down and up), peak
// RSS of each side measured the same way (GNU time's maximum resident set of the process: neither
// side runs child processes; per round, their median and range), our per-phase timings (REGISTRY_MODULE_MIRROR_PHASES=1, lib/mirror/phases.ts:
// busy = summed over concurrent operations, span = first start to last end, busy ÷ span = the
// concurrency achieved), and the 1-minute load average at the start and end of every round.
//
//   node --import tsx bench/mirror.ts            (BENCH_IMAGES=24 BENCH_LAYER_MIB=8 BENCH_ROUNDS=5)
//   node --import tsx bench/mirror.ts --burner   the same with a CPU-bound process running beside
//                                                it for the whole measurement (one core of two)
//   BENCH_ALSO="MIRROR_V8_OPT=1" …               each round also runs ours with these variables
//   BENCH_ALSO_CLI=/elsewhere/dist/cli/registry-module.mjs …
//                                                each round also runs another build of ours (e.g.
//                                                main's, for before/after figures from one run)
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import type { PhaseFigure } from "../lib/mirror/phases";
import { RegistryClient } from "../lib/oci/client";
import {
  createCa,
  createLab,
  issueServerCert,
  pushImage,
  requireTools,
  startRegistry,
  writeOciLayout,
  type Lab,
} from "../test/e2e-lab";

const IMAGES = Number(process.env.BENCH_IMAGES ?? 24);
const LAYER_MIB = Number(process.env.BENCH_LAYER_MIB ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BURNER = process.argv.includes("--burner");
/** `NAME=VALUE …`: each round also runs ours with these variables set (reported beside). */
/** Another build of our CLI, run in each round beside this one (with BENCH_ALSO's variables, if any). */
const ALSO_CLI = process.env.BENCH_ALSO_CLI || undefined;
const ALSO: NodeJS.ProcessEnv | undefined = process.env.BENCH_ALSO
  ? Object.fromEntries(
      process.env.BENCH_ALSO.split(/\s+/).map(kv => kv.split("=", 2) as [string, string]),
    )
  : ALSO_CLI
    ? {}
    : undefined;
const ALSO_LABEL = [ALSO_CLI && `the CLI at ${ALSO_CLI}`, process.env.BENCH_ALSO]
  .filter(Boolean)
  .join(" with ");
const TARGET_RATIO = 1.5;
const TARGET_RSS_MIB = 64;
const ROOT = join(import.meta.dirname, "..");
const user = { username: "bench", password: "bench-password" };
const credsArg = `${user.username}:${user.password}`;

interface Step {
  ms: number;
  rssKiB: number;
  /** Our CLI's `mirror phases:` line (REGISTRY_MODULE_MIRROR_PHASES=1). */
  phases?: PhaseReport;
}

interface PhaseReport {
  wallMs: number;
  connections: number;
  maxRssKiB: number;
  phases: PhaseFigure[];
}

// Asynchronous on purpose: the lab reads the registries' output through pipes in this process;
// a blocking spawnSync lets those pipes fill and the registries stall on their next log line.
async function timed(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<Step> {
  const start = process.hrtime.bigint();
  const child = spawn("/usr/bin/time", ["-f", "%M", ...argv], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-64 * 1024);
  });
  const code = await new Promise<number | null>(resolve => child.on("exit", resolve));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (code !== 0) throw new Error(`${argv.slice(0, 4).join(" ")} failed (${code}): ${stderr}`);
  const phases = /mirror phases: (\{.*\})/.exec(stderr)?.[1];
  return {
    ms,
    rssKiB: Number(stderr.trim().split("\n").at(-1)),
    ...(phases ? { phases: JSON.parse(phases) as PhaseReport } : {}),
  };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const load1 = () => (loadavg()[0] as number).toFixed(2);

/** One core's worth of busy work beside the benchmark (`--burner`). */
function startBurner(): ChildProcess {
  return spawn(process.execPath, ["-e", "for (;;) Math.sqrt(Math.random());"], { stdio: "ignore" });
}

/** Our phases over the rounds: median busy and span, and the concurrency achieved. */
function phaseTable(steps: Step[]): Record<string, string | number>[] {
  const byPhase = new Map<string, PhaseFigure[]>();
  for (const step of steps)
    for (const f of step.phases?.phases ?? [])
      byPhase.set(f.phase, [...(byPhase.get(f.phase) ?? []), f]);
  return [...byPhase].map(([phase, figures]) => {
    const busy = median(figures.map(f => f.busyMs));
    const span = median(figures.map(f => f.spanMs));
    return {
      phase,
      count: figures[0]?.count ?? 0,
      MB: ((figures[0]?.bytes ?? 0) / 1e6).toFixed(1),
      "busy ms (median)": busy,
      "span ms (median)": span,
      "busy/span": span > 0 ? (busy / span).toFixed(2) : "-",
      "max in flight": Math.max(...figures.map(f => f.maxInFlight)),
    };
  });
}

const CLI = join(ROOT, "dist/cli/registry-module.mjs");

/** The built CLI, refused when a source it is built from is newer (a stale dist measures old code). */
function requireFreshCli(): void {
  let built: number;
  try {
    built = statSync(CLI).mtimeMs;
  } catch {
    throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  }
  for (const dir of ["cli", "lib"]) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true }) as string[]) {
      if (!file.endsWith(".ts")) continue;
      if (statSync(join(ROOT, dir, file)).mtimeMs > built)
        throw new Error(`${dir}/${file} is newer than ${CLI}: run \`npm run build\` first`);
    }
  }
}

interface RoundContext {
  lab: Lab;
  source: { hostPort: string };
  target: { hostPort: string };
  imagesFile: string;
  certDir: string;
  checkTags: (registry: string, repository: string) => Promise<void>;
}

/** One `mirror pull` + `mirror push` of the image set into `name/system/deckhouse`. */
async function mirrorRound(
  ctx: RoundContext,
  name: string,
  env: NodeJS.ProcessEnv,
  cli = CLI,
): Promise<{ p: Step; q: Step }> {
  const bundle = ctx.lab.path(`bundle-${name}`);
  const ca = join(ctx.certDir, "ca.crt");
  const phasesEnv = { REGISTRY_MODULE_MIRROR_PHASES: "1", ...env };
  const source = `${ctx.source.hostPort}/deckhouse/ee`;
  const p = await timed(
    [
      cli,
      "mirror",
      "pull",
      "--source",
      source,
      "--images-file",
      ctx.imagesFile,
      "--creds",
      credsArg,
      "--ca",
      ca,
      bundle,
    ],
    phasesEnv,
  );
  const target = `${ctx.target.hostPort}/${name}/system/deckhouse`;
  const q = await timed(
    [cli, "mirror", "push", bundle, target, "--creds", credsArg, "--ca", ca],
    phasesEnv,
  );
  await ctx.checkTags(ctx.target.hostPort, `${name}/system/deckhouse`);
  await rm(bundle, { recursive: true, force: true });
  return { p, q };
}

async function main(): Promise<void> {
  requireTools("docker-registry", "skopeo", "htpasswd", "openssl");
  requireFreshCli();
  let lab: Lab | undefined;
  try {
    lab = await createLab("bench-mirror");
    const ca = await createCa(lab.path("pki"));
    const certDir = lab.path("certs");
    await mkdir(certDir);
    await writeFile(join(certDir, "ca.crt"), ca.certPem);
    const [source, target] = await Promise.all([
      startRegistry({
        dir: lab.path("source"),
        tls: await issueServerCert(ca, "source"),
        htpasswd: { [user.username]: user.password },
        quiet: true,
      }),
      startRegistry({
        dir: lab.path("target"),
        host: "127.0.0.2",
        tls: await issueServerCert(ca, "target", { ips: ["127.0.0.2"] }),
        htpasswd: { [user.username]: user.password },
        quiet: true,
      }),
    ]);
    const bases = [0, 1, 2].map(i => ({ seed: `bench-base-${i}`, payloadBytes: LAYER_MIB << 20 }));
    const tags: string[] = [];
    let uniqueBytes = 0;
    const seen = new Set<string>();
    const setupStart = Date.now();
    for (let i = 0; i < IMAGES; i++) {
      const tag = `v1.${i}.0`;
      const layout = await writeOciLayout(lab.path("img", tag), {
        seed: `bench-${i}`,
        tags: [tag],
        baseLayers: bases.slice(0, 1 + (i % 3)),
        payloadBytes: LAYER_MIB << 20,
        ...(i % 4 === 3 ? { platforms: ["linux/amd64", "linux/arm64"] } : {}),
      });
      for (const [digest, size] of layout.blobs) {
        if (!seen.has(digest)) {
          seen.add(digest);
          uniqueBytes += size;
        }
      }
      await pushImage(layout, source, "deckhouse/ee", { creds: user });
      await rm(layout.dir, { recursive: true, force: true });
      tags.push(tag);
    }
    const mb = uniqueBytes / 1e6;
    console.log(
      `image set: ${IMAGES} images (every 4th a 2-platform index), ${mb.toFixed(0)} MB of unique blobs, 3 shared base layers; set-up ${((Date.now() - setupStart) / 1000).toFixed(0)} s`,
    );
    const imagesFile = lab.path("images.txt");
    await writeFile(imagesFile, tags.join("\n") + "\n");

    const checkTags = async (registry: string, repository: string): Promise<void> => {
      const client = new RegistryClient({ registry, ca: ca.certPem, ...user });
      try {
        const got = await client.listTags(repository);
        if (got.length !== IMAGES)
          throw new Error(`${registry}/${repository}: ${got.length} tags, expected ${IMAGES}`);
      } finally {
        await client.close();
      }
    };
    const ctx: RoundContext = { lab, source, target, imagesFile, certDir, checkTags };
    const ours: Step[] = [];
    const alsoSteps: Step[] = [];
    const theirs: Step[] = [];
    const pulls: Step[] = [];
    const pushes: Step[] = [];
    const ratios: number[] = [];
    const alsoRatios: number[] = [];
    const burner = BURNER ? startBurner() : undefined;
    if (burner) console.log(`a CPU-bound process (pid ${burner.pid}) runs beside every round`);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const loadBefore = load1();
        // ours
        const { p, q } = await mirrorRound(ctx, `ours-${round}`, {});
        pulls.push(p);
        pushes.push(q);
        ours.push({ ms: p.ms + q.ms, rssKiB: Math.max(p.rssKiB, q.rssKiB) });
        // ours again with BENCH_ALSO's environment (e.g. MIRROR_V8_OPT=1), for a trade measured
        // under the same load
        const also = ALSO ? await mirrorRound(ctx, `also-${round}`, ALSO, ALSO_CLI) : undefined;
        if (also)
          alsoSteps.push({
            ms: also.p.ms + also.q.ms,
            rssKiB: Math.max(also.p.rssKiB, also.q.rssKiB),
          });
        // skopeo sync registry → dir → registry
        const dir = lab.path(`dir-${round}`);
        // a fresh HOME per round: skopeo's blob-info cache would otherwise mount blobs it pushed in
        // an earlier round instead of uploading them (our push does not know about earlier rounds)
        const home = lab.path(`home-${round}`);
        await mkdir(home);
        const skopeoEnv = { HOME: home, XDG_RUNTIME_DIR: home };
        const s = await timed(
          [
            "skopeo",
            "sync",
            "--all",
            "--src",
            "docker",
            "--dest",
            "dir",
            "--src-creds",
            credsArg,
            "--src-cert-dir",
            certDir,
            `${source.hostPort}/deckhouse/ee`,
            dir,
          ],
          skopeoEnv,
        );
        const t = await timed(
          [
            "skopeo",
            "sync",
            "--all",
            "--src",
            "dir",
            "--dest",
            "docker",
            "--dest-creds",
            credsArg,
            "--dest-cert-dir",
            certDir,
            dir,
            `${target.hostPort}/skopeo-${round}/system`,
          ],
          skopeoEnv,
        );
        await checkTags(target.hostPort, `skopeo-${round}/system/ee`);
        theirs.push({ ms: s.ms + t.ms, rssKiB: Math.max(s.rssKiB, t.rssKiB) });
        await rm(dir, { recursive: true, force: true });
        const ratio = (s.ms + t.ms) / (p.ms + q.ms);
        ratios.push(ratio);
        if (also) {
          const alsoRatio = (s.ms + t.ms) / (also.p.ms + also.q.ms);
          alsoRatios.push(alsoRatio);
          console.log(
            `round ${round + 1} with ${ALSO_LABEL}: pull ${(also.p.ms / 1000).toFixed(2)} s + push ${(also.q.ms / 1000).toFixed(2)} s ` +
              `(peak RSS ${(also.p.rssKiB / 1024).toFixed(0)}/${(also.q.rssKiB / 1024).toFixed(0)} MiB); ratio ${alsoRatio.toFixed(2)}×`,
          );
        }
        console.log(
          `round ${round + 1}: mirror pull ${(p.ms / 1000).toFixed(2)} s + push ${(q.ms / 1000).toFixed(2)} s ` +
            `(peak RSS ${(p.rssKiB / 1024).toFixed(0)}/${(q.rssKiB / 1024).toFixed(0)} MiB, ` +
            `${p.phases?.connections ?? "?"}+${q.phases?.connections ?? "?"} connections); ` +
            `skopeo sync ${(s.ms / 1000).toFixed(2)} s + ${(t.ms / 1000).toFixed(2)} s ` +
            `(peak RSS ${(s.rssKiB / 1024).toFixed(0)}/${(t.rssKiB / 1024).toFixed(0)} MiB); ` +
            `ratio ${ratio.toFixed(2)}×; load ${loadBefore} → ${load1()}`,
        );
      }
    } finally {
      burner?.kill("SIGKILL");
    }
    const row = (name: string, steps: Step[]) => {
      const ms = median(steps.map(s => s.ms));
      return {
        subject: name,
        "median s (pull+push)": (ms / 1000).toFixed(2),
        "min s": (Math.min(...steps.map(s => s.ms)) / 1000).toFixed(2),
        "max s": (Math.max(...steps.map(s => s.ms)) / 1000).toFixed(2),
        "MB/s (2 × unique bytes)": ((2 * mb) / (ms / 1000)).toFixed(1),
        "peak RSS MiB": (Math.max(...steps.map(s => s.rssKiB)) / 1024).toFixed(1),
      };
    };
    console.table([
      row("skopeo sync (baseline)", theirs),
      row("registry-module mirror", ours),
      ...(ALSO ? [row(`mirror with ${ALSO_LABEL}`, alsoSteps)] : []),
    ]);
    if (ALSO)
      console.log(
        `with ${ALSO_LABEL}: ${median(alsoRatios).toFixed(2)}× (min ${Math.min(...alsoRatios).toFixed(2)}×, ` +
          `max ${Math.max(...alsoRatios).toFixed(2)}×); peak RSS per round median ` +
          `${median(alsoSteps.map(x => x.rssKiB / 1024)).toFixed(1)} MiB`,
      );
    console.log("mirror pull, per phase (median over rounds):");
    console.table(phaseTable(pulls));
    console.log("mirror push, per phase (median over rounds):");
    console.table(phaseTable(pushes));
    const min = Math.min(...ratios);
    const peaks = ours.map(s => s.rssKiB / 1024);
    console.log(
      `our peak RSS per round (MiB): ${peaks.map(p => p.toFixed(1)).join(", ")}; median ${median(peaks).toFixed(1)}, ` +
        `min–max ${Math.min(...peaks).toFixed(1)}–${Math.max(...peaks).toFixed(1)}`,
    );
    console.log(
      `mirror is ${median(ratios).toFixed(2)}× as fast as skopeo sync (median of ${ROUNDS} rounds; ` +
        `min ${min.toFixed(2)}×, max ${Math.max(...ratios).toFixed(2)}×)${BURNER ? " with a CPU-bound process beside it" : ""}; ` +
        `target ≥ ${TARGET_RATIO}× on every round: ${min >= TARGET_RATIO ? "met" : "NOT met"}; ` +
        `peak RSS ${(Math.max(...ours.map(s => s.rssKiB)) / 1024).toFixed(1)} MiB (target ≤ ${TARGET_RSS_MIB}): ` +
        `${Math.max(...ours.map(s => s.rssKiB)) / 1024 <= TARGET_RSS_MIB ? "met" : "NOT met"}; load ${load1()}`,
    );
  } finally {
    await lab?.close();
  }
}

await main();
