// Hook start-up (issue 13, docs/adr/0118): the built executable as addon-operator runs it, timed by
// hyperfine against a bare `node -e 0` in the same hyperfine runs, over several rounds.
//   - `hook run` of the orchestrator, first switch run on a 1000-node cluster: ≤ 1.3× node -e 0;
//   - steady-state run of a converged Direct cluster grown to 5000 nodes: ≤ 1.5× the same at 10.
// A round is BENCH_BATCHES hyperfine invocations over every command, BENCH_RUNS runs each (after
// one warm-up run): the commands take turns through the round, so a slower moment of a shared
// machine falls on all of them rather than on whichever command hyperfine was running then. A
// round's ratio divides the medians of the round's runs; the spread is over rounds. Before every
// run the output files are made empty again, as addon-operator gives each run fresh empty files
// (truncating the previous run's output instead would be timed as part of the hook). The targets
// are on wall time; CPU time (user + system, hyperfine's means) is printed beside it because on a
// shared machine it moves far less with the other load than wall time does.
// BENCH_COMPARE_EXE=<another build's registry-hooks> times that build too, in the same runs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import orchestrator from "../hooks/orchestrator";
import { createHookTest } from "../lib/harness/index";
import type { BindingContext } from "../lib/runtime/types";
import { cluster } from "../test/fixtures/clusters/generate";
import { filesFor, grow, OUTPUT_FILES, steadyState } from "./orchestrator";
import { quantile } from "./lib";

const HOOKS_EXE = resolve("dist/module/hooks/registry-hooks");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FIRST_RUN_NODES = 1000;
const COMPARE_EXE = process.env.BENCH_COMPARE_EXE;

interface Command {
  name: string;
  /** A /bin/sh command line: hyperfine measures the shell's own start and subtracts it. */
  shell: string;
}

function requireHyperfine(): void {
  const r = spawnSync("hyperfine", ["--version"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error("hyperfine is missing: apt-get install -y hyperfine");
}

const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

function hookRun(exe: string, name: string, env: Record<string, string>): Command {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
  return { name, shell: `${assignments.join(" ")} ${quote(exe)} hook run 0` };
}

/** The orchestrator's first run after ModuleConfig asks Unmanaged → Direct, on `nodes` nodes. */
async function firstSwitchRun(
  nodes: number,
): Promise<{ dir: string; env: Record<string, string> }> {
  const f = await createHookTest({ hook: orchestrator, openapiDir: "openapi" });
  f.kubeStateSet(
    cluster({
      nodes,
      masters: 3,
      registry: {
        mode: "Direct",
        direct: { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: "bench-licence" },
      },
    }),
  );
  return filesFor({
    bindingContexts: f.generateBeforeHelmContext(),
    values: f.values(),
    configValues: f.configValues(),
  });
}

interface Timing {
  /** Median wall time, ms. */
  wall: number;
  /** Mean user + system CPU time, ms. */
  cpu: number;
}

/** One hyperfine invocation: each command's run times (s) and mean CPU time (ms). */
function hyperfineBatch(
  commands: readonly Command[],
  prepare: string,
): { times: number[]; cpu: number }[] {
  const dir = mkdtempSync(join(tmpdir(), "bench-hyperfine-"));
  const out = join(dir, "batch.json");
  try {
    const r = spawnSync(
      "hyperfine",
      [
        ...["--warmup", "1", "--runs", String(RUNS), "--prepare", prepare],
        ...["--style", "none", "--export-json", out],
        ...commands.flatMap(c => ["--command-name", c.name, c.shell]),
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
    );
    if (r.status !== 0) throw new Error(`hyperfine failed: ${r.stderr}`);
    const { results } = JSON.parse(readFileSync(out, "utf8")) as {
      results: { times: number[]; user: number; system: number }[];
    };
    return results.map(x => ({ times: x.times, cpu: (x.user + x.system) * 1000 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each command's timing over one round of BATCHES interleaved hyperfine invocations. */
function hyperfineRound(commands: readonly Command[], prepare: string): Timing[] {
  const batches = Array.from({ length: BATCHES }, () => hyperfineBatch(commands, prepare));
  return commands.map((_, i) => {
    const mine = batches.map(b => b[i] as { times: number[]; cpu: number });
    return {
      wall:
        quantile(
          mine.flatMap(m => m.times),
          0.5,
        ) * 1000,
      cpu: mine.reduce((sum, m) => sum + m.cpu, 0) / mine.length,
    };
  });
}

function spread(xs: readonly number[]): string {
  const median = quantile(xs, 0.5);
  return `${median.toFixed(2)} (rounds ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
}

export async function benchHooks(): Promise<void> {
  requireHyperfine();
  const base = await steadyState();
  const inputs = [
    await firstSwitchRun(FIRST_RUN_NODES),
    ...[10, 5000].map(nodes =>
      filesFor({ ...base, bindingContexts: grow(base.bindingContexts as BindingContext[], nodes) }),
    ),
  ];
  const [first, steady10, steady5000] = inputs.map(i => i.env) as Record<string, string>[];
  const hookCommands = (exe: string, label: string): Command[] => [
    { name: `${label}hook config`, shell: `${quote(exe)} hook config` },
    hookRun(
      exe,
      `${label}first switch run, ${FIRST_RUN_NODES} nodes`,
      first as Record<string, string>,
    ),
    hookRun(exe, `${label}steady state, 10 nodes`, steady10 as Record<string, string>),
    hookRun(exe, `${label}steady state, 5000 nodes`, steady5000 as Record<string, string>),
  ];
  const executables = [{ exe: HOOKS_EXE, label: "" }];
  // another build's executable (e.g. of main) in the same hyperfine runs: before/after figures
  if (COMPARE_EXE) executables.push({ exe: resolve(COMPARE_EXE), label: "compared: " });
  const commands: Command[] = [
    { name: "node -e 0", shell: `${quote(process.execPath)} -e 0` },
    ...executables.flatMap(e => hookCommands(e.exe, e.label)),
  ];
  const rounds: Timing[][] = [];
  try {
    // addon-operator's output files are fresh and empty for every run
    const outputs = inputs.flatMap(i => OUTPUT_FILES.map(name => i.env[name] as string));
    const prepare = outputs.map(path => `: > ${quote(path)}`).join("; ");
    for (let i = 0; i < ROUNDS; i++) rounds.push(hyperfineRound(commands, prepare));
  } finally {
    for (const i of inputs) rmSync(i.dir, { recursive: true, force: true });
  }

  const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(
    `hook start-up: ${ROUNDS} rounds × ${BATCHES} interleaved hyperfine invocations × ${RUNS} runs (load average ${load})`,
  );
  const at = (i: number, what: keyof Timing) => rounds.map(r => (r[i] as Timing)[what]);
  console.table(
    commands.map((c, i) => ({
      command: c.name,
      "wall ms, median": spread(at(i, "wall")),
      "cpu ms (user+sys)": spread(at(i, "cpu")),
    })),
  );
  const ratio = (num: number, den: number, what: keyof Timing) =>
    rounds.map(r => (r[num] as Timing)[what] / (r[den] as Timing)[what]);
  const checks = executables.flatMap(({ label }, e) => {
    const first = 1 + 4 * e;
    return [
      { what: `${label}hook config / node -e 0`, num: first, den: 0, target: undefined },
      {
        what: `${label}first switch run, ${FIRST_RUN_NODES} nodes / node -e 0`,
        num: first + 1,
        den: 0,
        target: 1.3,
      },
      {
        what: `${label}steady state, 5000 nodes / 10 nodes`,
        num: first + 3,
        den: first + 2,
        target: 1.5,
      },
    ];
  });
  for (const c of checks) {
    const wall = ratio(c.num, c.den, "wall");
    const median = quantile(wall, 0.5);
    const verdict =
      c.target === undefined
        ? ""
        : `; target ≤ ${c.target}: ${median <= c.target ? "PASS" : "MISS"}`;
    const cpu = ratio(c.num, c.den, "cpu");
    console.log(`${c.what}: wall ${spread(wall)}, cpu ${spread(cpu)}${verdict}`);
    // every round, in order: a target holds only when it holds on each of them
    const each = (xs: number[]) => xs.map(x => x.toFixed(2)).join(" ");
    console.log(`  per round: wall ${each(wall)}; cpu ${each(cpu)}`);
  }
}
