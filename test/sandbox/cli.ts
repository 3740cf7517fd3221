// `npm run sandbox -- [--scenario FILE] [--report FILE]`: checks everything it was given, then
// hands the scenario to the engine (./sandbox) and shows what it reports: the live view while it
// runs, the summary tables and the acceptance verdict at the end, the JSON report if asked.
//
// Exit codes: 0 accepted; 1 acceptance failed or the engine failed; 2 bad input (nothing was
// started); 130 interrupted (Ctrl-C; the engine cleans up before it returns).
import { statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { LiveView } from "./live-view";
import type { ViewOutput } from "./live-view";
import { acceptanceProblems, buildReport, latencyTable, summaryTable, writeReport } from "./report";
import { ScenarioError, loadScenario } from "./scenario";
import type { PullRecord, RunSandbox, SandboxReport, Scenario, StepResult } from "./types";

export const DEFAULT_SCENARIO = join(import.meta.dirname, "scenarios", "default.yaml");

export const USAGE = `Usage: npm run sandbox -- [--scenario FILE] [--report FILE]

Plays a scenario of registry mode switches and faults on a five-node cluster on this machine
(real control plane and data plane) while every node pulls images, and reports every switch.

  --scenario FILE  the scenario (default: test/sandbox/scenarios/default.yaml; format:
                   test/sandbox/README.md); checked completely before anything starts
  --report FILE    also write the result as JSON (one entry per step, in order)
  -h, --help       this text

Exit codes: 0 accepted, 1 not accepted or the sandbox failed, 2 bad input, 130 interrupted.`;

export interface CliOptions {
  scenario: string;
  report?: string;
}

/** Bad command-line input: exit code 2, nothing started. */
export class UsageError extends Error {}

/** The options, or "help"; throws UsageError naming the problem. */
export function parseCli(argv: readonly string[]): CliOptions | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        scenario: { type: "string" },
        report: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values } = parsed;
  if (values.help) return "help";
  if (values.scenario === "") throw new UsageError("--scenario: needs a file");
  if (values.report !== undefined) checkReportDirectory(values.report);
  return {
    scenario: values.scenario ?? DEFAULT_SCENARIO,
    ...(values.report !== undefined ? { report: values.report } : {}),
  };
}

/** A report that cannot be written is found now, not after the whole run. */
function checkReportDirectory(report: string): void {
  if (report === "") throw new UsageError("--report: needs a file");
  const dir = dirname(resolve(report));
  let isDirectory = false;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    // reported below, with the rule
  }
  if (!isDirectory) throw new UsageError(`--report: directory ${dir} does not exist`);
}

/** Everything before the engine: options and scenario; a failure here starts nothing. */
export function prepare(
  argv: readonly string[],
): { options: CliOptions; scenario: Scenario } | "help" {
  const options = parseCli(argv);
  if (options === "help") return "help";
  return { options, scenario: loadScenario(options.scenario) };
}

/** Where a run writes and which signals interrupt it: the process, or a test's stand-ins. */
export interface RunIo {
  out: ViewOutput;
  err: { write(chunk: string): unknown };
  signals: Pick<NodeJS.EventEmitter, "once" | "off">;
}

const processIo: RunIo = { out: process.stdout, err: process.stderr, signals: process };

/**
 * Plays the scenario with the engine and reports it; the exit code. Also on an engine failure or
 * Ctrl-C, what was played is shown and written, so a long run is never lost.
 */
export async function play(
  options: CliOptions,
  scenario: Scenario,
  runSandbox: RunSandbox,
  io: RunIo = processIo,
): Promise<number> {
  const view = new LiveView(io.out);
  const pulls: PullRecord[] = [];
  const steps: StepResult[] = [];
  const abort = new AbortController();
  // The engine gets the signal and cleans up before it returns; the process must not die first.
  const interrupt = () => abort.abort(new Error("interrupted"));
  io.signals.once("SIGINT", interrupt);
  io.signals.once("SIGTERM", interrupt);

  let engineError: unknown;
  try {
    const results = await runSandbox(scenario, {
      onSnapshot: snapshot => view.update(snapshot),
      onPull: pull => pulls.push(pull),
      onStep: result => steps.push(result),
      signal: abort.signal,
    });
    steps.splice(0, steps.length, ...results);
  } catch (err) {
    engineError = err;
  } finally {
    io.signals.off("SIGINT", interrupt);
    io.signals.off("SIGTERM", interrupt);
  }

  const report = buildReport(scenario, steps, pulls);
  view.finish(endOfRunText(report, steps.length));
  if (options.report !== undefined) writeReport(options.report, report);
  if (engineError !== undefined) {
    const message = engineError instanceof Error ? engineError.message : String(engineError);
    io.err.write(`sandbox: ${message}\n`);
    for (const line of failedPullLines(pulls)) io.err.write(`${line}\n`);
    return abort.signal.aborted ? 130 : 1;
  }
  const problems = acceptanceProblems(report);
  if (steps.length < scenario.steps.length) {
    problems.push(`the engine played ${steps.length} of ${scenario.steps.length} steps`);
  }
  for (const problem of problems) io.err.write(`not accepted: ${problem}\n`);
  for (const line of failedPullLines(pulls)) io.err.write(`${line}\n`);
  return problems.length === 0 ? 0 : 1;
}

/**
 * The failed pulls no step expected, a few per step and node (the first ones: where a defect
 * starts), so a run that is not accepted says which pull failed how without a rerun; and the
 * first expected failure of each step, to show what a user then reads.
 */
export function failedPullLines(pulls: readonly PullRecord[], perStepAndNode = 3): string[] {
  const seen = new Map<string, number>();
  const out: string[] = [];
  for (const p of pulls) {
    if (p.ok) continue;
    // an expected failure: its message once per step (is it clear?), an unexpected one per node
    const key = p.expectedFailure ? `${p.step}\u0000expected` : `${p.step}\u0000${p.node}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    if (n > (p.expectedFailure ? 1 : perStepAndNode)) continue;
    const at = new Date(p.time).toISOString().slice(11, 23);
    const what = p.expectedFailure ? "expected failed pull" : "failed pull";
    out.push(`${what}: ${p.step}: ${p.node} ${at} (${p.mode}) ${p.image}: ${p.error ?? ""}`);
  }
  return out;
}

/** The summary tables, or why there are none. */
function endOfRunText(report: SandboxReport, played: number): string {
  if (played === 0) return "no step was played";
  const latency = report.pullLatency ?? [];
  return [
    summaryTable(report),
    ...(latency.length > 0
      ? ["", "pull latency per mode (nearest-rank percentiles)", latencyTable(latency)]
      : []),
  ].join("\n");
}

export async function main(argv: readonly string[]): Promise<number> {
  let prepared;
  try {
    prepared = prepare(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`sandbox: ${err.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ScenarioError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (prepared === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // ---- THE ENGINE CALL POINT: the only place the sandbox starts anything, after every check. ----
  const { runSandbox } = await import("./sandbox");
  return play(prepared.options, prepared.scenario, runSandbox);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main(process.argv.slice(2)).then(
    code => process.exit(code),
    (err: unknown) => {
      process.stderr.write(
        `sandbox: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
}
