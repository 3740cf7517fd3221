// Hook start-up (issue 13, docs/adr/0118): the built executable as addon-operator runs it, timed by
// hyperfine against a bare `node -e 0` in the same hyperfine runs, over several rounds.
//   - `hook run` of the orchestrator, first switch run on a 1000-node cluster: ≤ 1.3× node -e 0;
//   - steady-state run of a converged Direct cluster grown to 5000 nodes: ≤ 1.5× the same at 10.
// A round is BENCH_BATCHES batches, BENCH_RUNS runs of every command each (after one warm-up
// run): the commands take turns through the round, so a slower moment of a shared machine falls
// on all of them rather than on whichever command hyperfine was running then. A round's ratio
// divides the medians of the round's runs; the spread is over rounds. Before every run the output
// files are made empty again, as addon-operator gives each run fresh empty files (truncating the
// previous run's output instead would be timed as part of the hook).
// Against `node -e 0`, the commands run without a shell (hyperfine -N) with the first run's
// environment set for all of them, `node -e 0` included: hyperfine's correction for a shell's
// start is an estimate subtracted from both sides of the ratio, and without a shell there is
// nothing to estimate. The two steady-state runs need different environments and are compared
// with each other: they run through the shell, which costs both the same. The targets are on
// wall time; CPU time (user + system, hyperfine's means) is printed beside it because on a
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
  /** the command line: run by /bin/sh in a shell group, split into words by hyperfine otherwise */
  line: string;
}

/** Commands one hyperfine invocation times, with what they run in. */
interface Group {
  /** through /bin/sh (hyperfine subtracts its start), or exec'd directly (-N) */
  shell: boolean;
  /** set for every command of the group, `node -e 0` included */
  env: Record<string, string>;
  /** run before every run, untimed: empties the output files (`truncate`, no shell needed) */
  prepare: string;
  commands: Command[];
}

function requireHyperfine(): void {
  const r = spawnSync("hyperfine", ["--version"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error("hyperfine is missing: apt-get install -y hyperfine");
}

const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

function hookRun(exe: string, name: string, env: Record<string, string>): Command {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
  return { name, line: `${assignments.join(" ")} ${quote(exe)} hook run 0` };
}

/** Empties the output files of `env`, as addon-operator creates them for a run. */
const truncateOutputs = (envs: Record<string, string>[]): string =>
  `truncate -s 0 ${envs.flatMap(env => OUTPUT_FILES.map(name => quote(env[name] as string))).join(" ")}`;

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
function hyperfineBatch({
  shell,
  env,
  prepare,
  commands,
}: Group): { times: number[]; cpu: number }[] {
  const dir = mkdtempSync(join(tmpdir(), "bench-hyperfine-"));
  const out = join(dir, "batch.json");
  try {
    const r = spawnSync(
      "hyperfine",
      [
        ...(shell ? [] : ["--shell=none"]),
        ...["--warmup", "1", "--runs", String(RUNS), "--prepare", prepare],
        ...["--style", "none", "--export-json", out],
        ...commands.flatMap(c => ["--command-name", c.name, c.line]),
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } },
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

/** Each command's timing (groups in order) over one round of BATCHES interleaved batches. */
function hyperfineRound(groups: readonly Group[]): Timing[] {
  const batches = Array.from({ length: BATCHES }, () => groups.flatMap(hyperfineBatch));
  return groups
    .flatMap(g => g.commands)
    .map((_, i) => {
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
  const executables = [{ exe: HOOKS_EXE, label: "" }];
  // another build's executable (e.g. of main) in the same hyperfine runs: before/after figures
  if (COMPARE_EXE) executables.push({ exe: resolve(COMPARE_EXE), label: "compared: " });
  const firstRun = `first switch run, ${FIRST_RUN_NODES} nodes`;
  const groups: Group[] = [
    {
      shell: false,
      env: first as Record<string, string>,
      prepare: truncateOutputs([first as Record<string, string>]),
      commands: [
        { name: "node -e 0", line: `${quote(process.execPath)} -e 0` },
        ...executables.flatMap(({ exe, label }) => [
          { name: `${label}hook config`, line: `${quote(exe)} hook config` },
          { name: `${label}${firstRun}`, line: `${quote(exe)} hook run 0` },
        ]),
      ],
    },
    {
      shell: true,
      env: {},
      prepare: truncateOutputs([steady10, steady5000] as Record<string, string>[]),
      commands: executables.flatMap(({ exe, label }) => [
        hookRun(exe, `${label}steady state, 10 nodes`, steady10 as Record<string, string>),
        hookRun(exe, `${label}steady state, 5000 nodes`, steady5000 as Record<string, string>),
      ]),
    },
  ];
  const commands = groups.flatMap(g => g.commands);
  const rounds: Timing[][] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) rounds.push(hyperfineRound(groups));
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
  const index = (name: string) => commands.findIndex(c => c.name === name);
  const checks = executables.flatMap(({ label }) => [
    { what: `${label}hook config / node -e 0`, num: index(`${label}hook config`), den: 0 },
    {
      what: `${label}${firstRun} / node -e 0`,
      num: index(`${label}${firstRun}`),
      den: 0,
      target: 1.3,
    },
    {
      what: `${label}steady state, 5000 nodes / 10 nodes`,
      num: index(`${label}steady state, 5000 nodes`),
      den: index(`${label}steady state, 10 nodes`),
      target: 1.5,
    },
  ]);
  for (const c of checks) {
    const wall = ratio(c.num, c.den, "wall");
    const median = quantile(wall, 0.5);
    const target = c.target;
    const verdict =
      target === undefined
        ? ""
        : `; target ≤ ${target}: median ${median <= target ? "PASS" : "MISS"}, ` +
          `${wall.filter(x => x <= target).length} of ${wall.length} rounds`;
    const cpu = ratio(c.num, c.den, "cpu");
    console.log(`${c.what}: wall ${spread(wall)}, cpu ${spread(cpu)}${verdict}`);
    // every round, in order: a target holds only when it holds on each of them
    const each = (xs: number[]) => xs.map(x => x.toFixed(2)).join(" ");
    console.log(`  per round: wall ${each(wall)}; cpu ${each(cpu)}`);
  }
}
