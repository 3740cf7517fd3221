// The report from known step results and pull records: the JSON (validated against the report's
// JSON Schema with Ajv, keys in the order), the summary table, nearest-rank percentiles
// per mode, and the acceptance verdict.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv";
import { afterEach, describe, expect, it } from "vitest";
import {
  acceptanceProblems,
  buildReport,
  latencyTable,
  nearestRank,
  pullLatencyByMode,
  summaryTable,
  writeReport,
} from "./report";
import type { PullRecord, SandboxReport, Scenario, StepResult } from "./types";

const SCHEMA = JSON.parse(
  readFileSync(join(import.meta.dirname, "report.schema.json"), "utf8"),
) as object;

const scenario: Scenario = {
  file: "known.yaml",
  steps: [
    { kind: "switch", line: 2, name: "to Direct", upstream: "ee", settings: { mode: "Direct" } },
    { kind: "switch", line: 6, name: "to Proxy", upstream: "ee", settings: { mode: "Proxy" } },
    { kind: "fault", line: 10, name: "master down", fault: "master-down" },
    { kind: "refused", line: 12, name: "to Local", settings: { mode: "Local" } },
    {
      kind: "fault",
      line: 15,
      name: "operator restart",
      fault: "operator-restart",
      upstream: "ce",
      settings: { mode: "Direct" },
    },
  ],
};

const results: StepResult[] = [
  { name: "to Direct", converged: true, seconds: 12.5, hookRuns: 20 },
  { name: "to Proxy", converged: true, seconds: 30.25, hookRuns: 41 },
  { name: "master down", converged: true, seconds: 60, hookRuns: 0 },
  { name: "to Local", converged: true, seconds: 0.4, hookRuns: 0, refusal: "forbidden" },
  { name: "operator restart", converged: false, seconds: 90, hookRuns: 55 },
];

let clock = 0;
function pull(step: string, mode: string, ms: number, ok = true, expected = false): PullRecord {
  clock += 1000;
  return {
    time: clock,
    node: "worker-0",
    mode,
    step,
    image: "system/deckhouse@sha256:0",
    ok,
    ms,
    ...(ok ? {} : { error: "not found" }),
    ...(expected ? { expectedFailure: true } : {}),
  };
}

const pulls: PullRecord[] = [
  pull("to Direct", "Unmanaged", 40),
  pull("to Direct", "Unmanaged", 60),
  // Proxy: 10..100 ms shuffled, and the refused step's 100 below: of 11, p50 is rank ⌈5.5⌉ = 6
  // (60), p99 rank ⌈10.89⌉ = 11 (100)
  ...[70, 10, 100, 40, 20, 90, 30, 60, 80, 50].map(ms => pull("to Proxy", "Proxy", ms)),
  pull("master down", "Proxy", 5000, false),
  pull("master down", "Proxy", 6000, false, true),
  pull("to Local", "Proxy", 100),
  // Direct: 3, 5, 7: p50 is rank ⌈1.5⌉ = 2 (5), p99 rank ⌈2.97⌉ = 3 (7); the failure is not timed
  ...[7, 3, 5].map(ms => pull("operator restart", "Direct", ms)),
  pull("operator restart", "Direct", 9000, false),
];

const expectedReport: SandboxReport = {
  switches: [
    {
      from: "legacy Unmanaged",
      to: "Direct (EE)",
      converged: true,
      seconds: 12.5,
      hookRuns: 20,
      pulls: { attempted: 2, failed: 0 },
    },
    {
      from: "Direct (EE)",
      to: "Proxy (EE)",
      converged: true,
      seconds: 30.25,
      hookRuns: 41,
      pulls: { attempted: 10, failed: 0 },
    },
    {
      from: "Proxy (EE)",
      to: "Local",
      converged: true,
      seconds: 0.4,
      hookRuns: 0,
      pulls: { attempted: 1, failed: 0 },
      refused: true,
    },
  ],
  faults: [
    { name: "master down", pulls: { attempted: 2, failed: 2, expectedFailures: 1 } },
    {
      name: "operator restart",
      pulls: { attempted: 4, failed: 1, expectedFailures: 0 },
      switch: {
        from: "Proxy (EE)",
        to: "Direct (CE)",
        converged: false,
        seconds: 90,
        hookRuns: 55,
      },
    },
  ],
  pullLatency: [
    { mode: "Proxy", pulls: 11, p50Ms: 60, p99Ms: 100 },
    { mode: "Direct", pulls: 3, p50Ms: 5, p99Ms: 7 },
    { mode: "Unmanaged", pulls: 2, p50Ms: 40, p99Ms: 60 },
  ],
};

describe("buildReport", () => {
  it("one entry per step in order: switches and refused in switches, faults in faults", () => {
    expect(buildReport(scenario, results, pulls)).toEqual(expectedReport);
  });

  it("covers only the steps played when a run stopped early", () => {
    const report = buildReport(scenario, results.slice(0, 1), pulls);
    expect(report.switches).toEqual(expectedReport.switches.slice(0, 1));
    expect(report.faults).toEqual([]);
  });

  it("refuses results that do not belong to the scenario's steps", () => {
    const swapped = [results[1]!, results[0]!];
    expect(() => buildReport(scenario, swapped, pulls)).toThrow(
      'step result 0 is "to Proxy", the scenario\'s step is "to Direct"',
    );
  });
});

describe("pull latency (nearest rank)", () => {
  it("is a value that occurred: rank ⌈p/100·n⌉", () => {
    expect(nearestRank([1, 2, 3, 4], 50)).toBe(2);
    expect(nearestRank([1, 2, 3, 4], 99)).toBe(4);
    expect(nearestRank([15, 20, 35, 40, 50], 30)).toBe(20);
    expect(nearestRank([42], 99)).toBe(42);
    expect(() => nearestRank([], 50)).toThrow("no values");
  });

  it("per mode, Proxy/Direct/Local first, successful pulls only", () => {
    expect(pullLatencyByMode([pull("x", "Local", 9), ...pulls])).toEqual([
      { mode: "Proxy", pulls: 11, p50Ms: 60, p99Ms: 100 },
      { mode: "Direct", pulls: 3, p50Ms: 5, p99Ms: 7 },
      { mode: "Local", pulls: 1, p50Ms: 9, p99Ms: 9 },
      { mode: "Unmanaged", pulls: 2, p50Ms: 40, p99Ms: 60 },
    ]);
  });
});

describe("writeReport", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it("writes JSON the report schema accepts, keys in the issue's order", () => {
    dir = mkdtempSync(join(tmpdir(), "sandbox-report-"));
    const file = join(dir, "report.json");
    // built with keys in another order: the file must not depend on it
    const shuffled = {
      faults: expectedReport.faults.map(f => ({ pulls: f.pulls, name: f.name })),
      switches: expectedReport.switches.slice(0, 1).map(s => ({
        pulls: { failed: s.pulls.failed, attempted: s.pulls.attempted },
        hookRuns: s.hookRuns,
        seconds: s.seconds,
        converged: s.converged,
        to: s.to,
        from: s.from,
      })),
    };
    writeReport(file, shuffled);
    const text = readFileSync(file, "utf8");
    expect(text).toBe(
      [
        "{",
        '  "switches": [',
        "    {",
        '      "from": "legacy Unmanaged",',
        '      "to": "Direct (EE)",',
        '      "converged": true,',
        '      "seconds": 12.5,',
        '      "hookRuns": 20,',
        '      "pulls": {',
        '        "attempted": 2,',
        '        "failed": 0',
        "      }",
        "    }",
        "  ],",
        '  "faults": [',
        "    {",
        '      "name": "master down",',
        '      "pulls": {',
        '        "attempted": 2,',
        '        "failed": 2,',
        '        "expectedFailures": 1',
        "      }",
        "    },",
        "    {",
        '      "name": "operator restart",',
        '      "pulls": {',
        '        "attempted": 4,',
        '        "failed": 1,',
        '        "expectedFailures": 0',
        "      }",
        "    }",
        "  ]",
        "}",
        "",
      ].join("\n"),
    );
    const validate = new Ajv({ allErrors: true, strict: true }).compile(SCHEMA);
    expect(validate(JSON.parse(text)), JSON.stringify(validate.errors)).toBe(true);
  });

  it("the full report (added fields included) passes the schema; a broken one does not", () => {
    dir = mkdtempSync(join(tmpdir(), "sandbox-report-"));
    const file = join(dir, "report.json");
    writeReport(file, buildReport(scenario, results, pulls));
    const validate = new Ajv({ allErrors: true, strict: true }).compile(SCHEMA);
    const written = JSON.parse(readFileSync(file, "utf8")) as SandboxReport;
    expect(written).toEqual(expectedReport);
    expect(validate(written), JSON.stringify(validate.errors)).toBe(true);

    const { hookRuns: _dropped, ...withoutHookRuns } = written.switches[0]!;
    const broken = { ...written, switches: [withoutHookRuns], extra: 1 };
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.map(e => `${e.instancePath} ${e.message}`)).toEqual([
      " must NOT have additional properties",
      "/switches/0 must have required property 'hookRuns'",
    ]);
  });
});

describe("summary", () => {
  it("a table per switch and per fault, columns aligned", () => {
    expect(summaryTable(expectedReport)).toBe(
      [
        "from              to           converged  seconds  hook runs  pulls attempted/failed",
        "legacy Unmanaged  Direct (EE)  yes           12.5         20                     2/0",
        "Direct (EE)       Proxy (EE)   yes           30.3         41                    10/0",
        "Proxy (EE)        Local        refused        0.4          0                     1/0",
        "",
        "fault             converged  seconds  hook runs  pulls attempted/failed (expected)",
        "master down       -                -          -                            2/2 (1)",
        "operator restart  NO            90.0         55                            4/1 (0)",
      ].join("\n"),
    );
  });

  it("latency per mode in whole milliseconds", () => {
    expect(latencyTable(expectedReport.pullLatency!)).toBe(
      [
        "mode       pulls  p50 ms  p99 ms",
        "Proxy         11      60     100",
        "Direct         3       5       7",
        "Unmanaged      2      40      60",
      ].join("\n"),
    );
  });

  it("acceptance: every non-converged step and every unexpected failed pull", () => {
    expect(acceptanceProblems(expectedReport)).toEqual([
      "master down: 1 unexpected failed pulls",
      "operator restart: did not converge",
      "operator restart: 1 unexpected failed pulls",
    ]);
    const notRefused = {
      switches: [{ ...expectedReport.switches[2]!, converged: false }],
      faults: [],
    };
    expect(acceptanceProblems(notRefused)).toEqual([
      "Proxy (EE) → Local: not refused, or registry-state changed",
    ]);
    expect(acceptanceProblems({ switches: expectedReport.switches, faults: [] })).toEqual([]);
  });
});
