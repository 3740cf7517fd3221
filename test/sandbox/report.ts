// The sandbox's result: the `--report FILE` JSON (one entry per played step, in scenario order),
// the summary table printed at the end, the pull latency per mode, and the acceptance verdict.
// Pure functions of the scenario, the engine's StepResults and the pull loop's PullRecords, so
// the figures can be checked on known inputs without a sandbox.
import { writeFileSync } from "node:fs";
import { settingsLabel } from "./scenario";
import type {
  PullRecord,
  RegistrySettings,
  SandboxReport,
  Scenario,
  StepResult,
  UpstreamName,
} from "./types";

type SwitchEntry = SandboxReport["switches"][number];
type FaultEntry = SandboxReport["faults"][number];
export type LatencyRow = NonNullable<SandboxReport["pullLatency"]>[number];

/** The modes the issue compares (a cached pull in Proxy vs Direct vs Local), listed first. */
const MODE_ORDER = ["Proxy", "Direct", "Local"];

/**
 * The report of the steps played so far: `results[i]` belongs to `scenario.steps[i]` (a run that
 * stopped early has fewer results; the report then covers those steps only).
 */
export function buildReport(
  scenario: Scenario,
  results: readonly StepResult[],
  pulls: readonly PullRecord[],
): SandboxReport {
  if (results.length > scenario.steps.length) {
    throw new Error(`${results.length} step results for ${scenario.steps.length} steps`);
  }
  const switches: SwitchEntry[] = [];
  const faults: FaultEntry[] = [];
  let current: { settings: RegistrySettings; upstream?: UpstreamName } = { settings: "legacy" };
  results.forEach((result, i) => {
    const step = scenario.steps[i]!;
    if (result.name !== step.name) {
      throw new Error(
        `step result ${i} is "${result.name}", the scenario's step is "${step.name}"`,
      );
    }
    const from = settingsLabel(current.settings, current.upstream);
    const counts = pullCounts(pulls, step.name);
    const to = step.settings === undefined ? from : settingsLabel(step.settings, step.upstream);
    const outcome = {
      from,
      to,
      converged: result.converged,
      seconds: result.seconds,
      hookRuns: result.hookRuns,
    };
    if (step.kind === "fault") {
      faults.push({
        name: step.name,
        pulls: counts,
        ...(step.settings !== undefined ? { switch: outcome } : {}),
      });
    } else {
      const refused = step.kind === "refused" ? { refused: true } : {};
      switches.push({
        ...outcome,
        pulls: { attempted: counts.attempted, failed: counts.failed },
        ...refused,
      });
    }
    // A refused switch leaves the cluster where it was; a fault's switch moves it like any other.
    if (step.kind !== "refused" && step.settings !== undefined) {
      current = { settings: step.settings, upstream: step.upstream };
    }
  });
  return { switches, faults, pullLatency: pullLatencyByMode(pulls) };
}

/** `failed` counts every failed pull; `expectedFailures` is the part the step expected. */
export function pullCounts(
  pulls: readonly PullRecord[],
  step: string,
): { attempted: number; failed: number; expectedFailures: number } {
  const mine = pulls.filter(p => p.step === step);
  const failed = mine.filter(p => !p.ok);
  return {
    attempted: mine.length,
    failed: failed.length,
    expectedFailures: failed.filter(p => p.expectedFailure === true).length,
  };
}

/**
 * Nearest-rank percentile: the smallest value with at least p% of the values at or below it
 * (rank ⌈p/100·n⌉, 1-based). A value that occurred, never an interpolation. Throws on no values.
 */
export function nearestRank(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error("no values");
  if (!(p > 0 && p <= 100)) throw new Error(`percentile ${p} is not in (0, 100]`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}

/**
 * p50/p99 of successful pulls per registry-state mode at the pull's start. The pull loop removes
 * the image before each pull, so a successful pull is a full pull through the mode's path; the
 * registries behind it (Proxy's cache, Local's store) hold the image after the first one.
 */
export function pullLatencyByMode(pulls: readonly PullRecord[]): LatencyRow[] {
  const byMode = new Map<string, number[]>();
  for (const p of pulls) {
    if (!p.ok) continue;
    byMode.set(p.mode, [...(byMode.get(p.mode) ?? []), p.ms]);
  }
  return [...byMode.keys()].sort(byModeOrder).map(mode => {
    const ms = byMode.get(mode)!;
    return { mode, pulls: ms.length, p50Ms: nearestRank(ms, 50), p99Ms: nearestRank(ms, 99) };
  });
}

function byModeOrder(a: string, b: string): number {
  const rank = (m: string) => (MODE_ORDER.includes(m) ? MODE_ORDER.indexOf(m) : MODE_ORDER.length);
  return rank(a) - rank(b) || a.localeCompare(b);
}

/**
 * What breaks the acceptance: a switch that did not converge, a refused one that was not
 * refused, any failed pull the step did not expect. [] when the run passes.
 */
export function acceptanceProblems(report: SandboxReport): string[] {
  const problems: string[] = [];
  for (const s of report.switches) {
    const move = `${s.from} → ${s.to}`;
    if (!s.converged) {
      problems.push(
        s.refused ? `${move}: not refused, or registry-state changed` : `${move}: did not converge`,
      );
    }
    if (s.pulls.failed > 0) problems.push(`${move}: ${s.pulls.failed} failed pulls`);
  }
  for (const f of report.faults) {
    if (f.switch && !f.switch.converged) problems.push(`${f.name}: did not converge`);
    const unexpected = f.pulls.failed - f.pulls.expectedFailures;
    if (unexpected > 0) problems.push(`${f.name}: ${unexpected} unexpected failed pulls`);
  }
  return problems;
}

/** The report with its keys in the order, whatever order the object was built in. */
export function canonicalReport(report: SandboxReport): SandboxReport {
  const outcome = (s: Omit<SwitchEntry, "pulls" | "refused">) => ({
    from: s.from,
    to: s.to,
    converged: s.converged,
    seconds: s.seconds,
    hookRuns: s.hookRuns,
  });
  return {
    switches: report.switches.map(s => ({
      ...outcome(s),
      pulls: { attempted: s.pulls.attempted, failed: s.pulls.failed },
      ...(s.refused !== undefined ? { refused: s.refused } : {}),
    })),
    faults: report.faults.map(f => ({
      name: f.name,
      pulls: {
        attempted: f.pulls.attempted,
        failed: f.pulls.failed,
        expectedFailures: f.pulls.expectedFailures,
      },
      ...(f.switch !== undefined ? { switch: outcome(f.switch) } : {}),
    })),
    ...(report.pullLatency !== undefined
      ? {
          pullLatency: report.pullLatency.map(l => ({
            mode: l.mode,
            pulls: l.pulls,
            p50Ms: l.p50Ms,
            p99Ms: l.p99Ms,
          })),
        }
      : {}),
  };
}

export function reportJson(report: SandboxReport): string {
  return `${JSON.stringify(canonicalReport(report), null, 2)}\n`;
}

export function writeReport(file: string, report: SandboxReport): void {
  writeFileSync(file, reportJson(report));
}

/** Per switch, then per fault: plain text with aligned columns, for the end of a run. */
export function summaryTable(report: SandboxReport): string {
  const switches = formatTable(
    ["from", "to", "converged", "seconds", "hook runs", "pulls attempted/failed"],
    report.switches.map(s => [
      s.from,
      s.to,
      s.refused ? (s.converged ? "refused" : "NOT REFUSED") : s.converged ? "yes" : "NO",
      s.seconds.toFixed(1),
      String(s.hookRuns),
      `${s.pulls.attempted}/${s.pulls.failed}`,
    ]),
    ["left", "left", "left", "right", "right", "right"],
  );
  if (report.faults.length === 0) return switches;
  const faults = formatTable(
    ["fault", "converged", "seconds", "hook runs", "pulls attempted/failed (expected)"],
    report.faults.map(f => [
      f.name,
      f.switch ? (f.switch.converged ? "yes" : "NO") : "-",
      f.switch ? f.switch.seconds.toFixed(1) : "-",
      f.switch ? String(f.switch.hookRuns) : "-",
      `${f.pulls.attempted}/${f.pulls.failed} (${f.pulls.expectedFailures})`,
    ]),
    ["left", "left", "right", "right", "right"],
  );
  return `${switches}\n\n${faults}`;
}

/** p50/p99 per mode, nearest-rank, in whole milliseconds. */
export function latencyTable(rows: readonly LatencyRow[]): string {
  return formatTable(
    ["mode", "pulls", "p50 ms", "p99 ms"],
    rows.map(r => [r.mode, String(r.pulls), r.p50Ms.toFixed(0), r.p99Ms.toFixed(0)]),
    ["left", "right", "right", "right"],
  );
}

type Align = "left" | "right";

/** Columns two spaces apart, each as wide as its widest cell; trailing spaces trimmed. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[],
): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map(r => width(r[c] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => pad(cell, widths[c]!, align[c] ?? "left"))
      .join("  ")
      .trimEnd();
  return all.map(line).join("\n");
}

/** Characters, not UTF-16 units: labels carry `→`. */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, align: Align): string {
  const fill = " ".repeat(Math.max(0, w - width(s)));
  return align === "left" ? s + fill : fill + s;
}
