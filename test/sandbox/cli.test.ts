// `npm run sandbox` as a person runs it (a process of its own): bad input ends with exit code 2
// and the message naming the line, and nothing starts. "Nothing started" is shown by the module
// loads of the process: the engine (./sandbox.ts) is the only code that starts anything and the
// CLI imports it at its one call point, after every check. A loader hook records every module
// the process loads; that it recorded the scenario parser shows the record is real.
import { spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { failedPullLines, play, type RunIo } from "./cli";
import { loadScenario } from "./scenario";
import type { LiveSnapshot, PullRecord, RunSandbox, SandboxReport, StepResult } from "./types";

const ROOT = join(import.meta.dirname, "..", "..");
const CLI = join(import.meta.dirname, "cli.ts");
const TRACER = join(import.meta.dirname, "fixtures", "trace-module-loads.mjs");
const ENGINE_URL = `file://${join(import.meta.dirname, "sandbox.ts")}`;
const PARSER_URL = `file://${join(import.meta.dirname, "scenario.ts")}`;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** URLs of every module the process loaded */
  loaded: string[];
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "sandbox-cli-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const trace = join(dir, "loaded.txt");
  writeFileSync(trace, "");
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: { ...process.env, ...env, TRACE_MODULE_LOADS: trace },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("exit", code =>
      resolve({ code, stdout, stderr, loaded: readFileSync(trace, "utf8").split("\n") }),
    );
  });
}

/** The CLI exactly as the npm script runs it, with the module-load recorder. */
const sandbox = (...args: string[]) =>
  run(process.execPath, ["--import", "tsx", "--import", TRACER, CLI, ...args]);

function writeScenario(text: string): string {
  const file = join(dir, "scenario.yaml");
  writeFileSync(file, text);
  return file;
}

describe("npm run sandbox: bad input starts nothing", () => {
  it("a scenario with an unknown step and a mode the schema refuses: exit 2, lines named", async () => {
    const file = writeScenario(
      [
        "steps:",
        "  - kind: switch",
        "    upstream: ee",
        "    settings: {mode: Direct}",
        "  - kind: pause",
        "  - kind: switch",
        "    upstream: ee",
        "    settings:",
        "      mode: Mirror",
        "",
      ].join("\n"),
    );
    const result = await sandbox("--scenario", file);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      [
        `${file}:5: steps[1].kind: unknown step kind "pause" (expected switch, refused, fault)`,
        `${file}:9: steps[2].settings.mode: registry.mode: must be one of "Unmanaged", "Direct", "Proxy", "Local" (enum), got "Mirror"`,
        "",
      ].join("\n"),
    );
    expect(result.stdout).toBe("");
    expect(result.loaded).toContain(PARSER_URL);
    expect(result.loaded).not.toContain(ENGINE_URL);
  });

  it("a report that could not be written at the end: exit 2 before the scenario is played", async () => {
    const missing = join(dir, "no-such-dir", "report.json");
    const result = await sandbox("--report", missing);
    expect(result.code).toBe(2);
    expect(result.stderr.split("\n")[0]).toBe(
      `sandbox: --report: directory ${join(dir, "no-such-dir")} does not exist`,
    );
    expect(result.loaded).not.toContain(ENGINE_URL);
  });

  it("an unknown option: exit 2 with the usage; --help: exit 0, usage on stdout", async () => {
    const bad = await sandbox("--scenarios", "x.yaml");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^sandbox: Unknown option '--scenarios'.*\n\nUsage: npm run sandbox/,
    );
    expect(bad.loaded).not.toContain(ENGINE_URL);

    const help = await sandbox("--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(
      /^Usage: npm run sandbox -- \[--scenario FILE\] \[--report FILE\]\n/,
    );
    expect(help.loaded).not.toContain(ENGINE_URL);
  });

  it("through the npm script: the same exit code and message", async () => {
    const file = writeScenario("steps:\n  - kind: fault\n    fault: power-cut\n");
    // the recorder reaches the script's node process through NODE_OPTIONS
    const result = await run("npm", ["run", "--silent", "sandbox", "--", "--scenario", file], {
      NODE_OPTIONS: `--import ${TRACER}`,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `${file}:3: steps[0].fault: unknown fault "power-cut" (expected master-down, upstream-down, containerd-restart, operator-restart)\n`,
    );
    expect(result.loaded).toContain(PARSER_URL);
    expect(result.loaded).not.toContain(ENGINE_URL);
  });
});

// What the CLI does with what an engine reports. The engine itself (network namespaces,
// containerd, a control plane: minutes, as root) is stood in here by scripted engines; these
// tests are about the exit code, the partial report and Ctrl-C, not about the engine.
describe("play: the CLI around the engine", () => {
  const scenario = loadScenario(join(import.meta.dirname, "scenarios", "short.yaml"));
  const [toDirect, toProxy] = scenario.steps.map(s => s.name) as [string, string];

  function io(): RunIo & { signals: EventEmitter; outText: () => string; errText: () => string } {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out: { write: (c: string) => out.push(c), isTTY: false },
      err: { write: (c: string) => err.push(c) },
      signals: new EventEmitter(),
      outText: () => out.join(""),
      errText: () => err.join(""),
    };
  }

  const snapshot = (step: string): LiveSnapshot => ({
    step,
    mode: "Unmanaged",
    targetMode: "Direct",
    conditions: [{ type: "Ready", status: "False", message: "switching" }],
    nodeVersions: { "master-0": "v1" },
    pulls: { attempted: 1, failed: 0 },
    elapsedSeconds: 1,
  });
  const pull = (step: string, ok = true): PullRecord => ({
    time: 1,
    node: "worker-0",
    mode: "Unmanaged",
    step,
    image: "system/deckhouse@sha256:0",
    ok,
    ms: 120,
  });
  const done = (name: string, converged = true): StepResult => ({
    name,
    converged,
    seconds: 10,
    hookRuns: 5,
  });

  it("all steps converged without a failed pull: exit 0, the report written", async () => {
    const reportFile = join(dir, "report.json");
    const engine: RunSandbox = (_scenario, cb) => {
      cb.onSnapshot(snapshot(toDirect));
      cb.onPull(pull(toDirect));
      cb.onStep?.(done(toDirect));
      cb.onPull(pull(toProxy));
      cb.onStep?.(done(toProxy));
      return Promise.resolve([done(toDirect), done(toProxy)]);
    };
    const stdio = io();
    expect(
      await play({ scenario: scenario.file, report: reportFile }, scenario, engine, stdio),
    ).toBe(0);
    expect(stdio.errText()).toBe("");
    const report = JSON.parse(readFileSync(reportFile, "utf8")) as SandboxReport;
    expect(report.switches.map(s => [s.from, s.to, s.converged, s.pulls])).toEqual([
      ["legacy Unmanaged", "Direct (EE)", true, { attempted: 1, failed: 0 }],
      ["Direct (EE)", "Proxy (EE)", true, { attempted: 1, failed: 0 }],
    ]);
    expect(stdio.outText()).toBe(
      [
        "[1.0 s] legacy Unmanaged → Direct (EE): mode Unmanaged, target Direct; Ready=False (switching); nodes master-0=v1; pulls 1 attempted, 0 failed",
        "",
        "from              to           converged  seconds  hook runs  pulls attempted/failed",
        "legacy Unmanaged  Direct (EE)  yes           10.0          5                     1/0",
        "Direct (EE)       Proxy (EE)   yes           10.0          5                     1/0",
        "",
        "pull latency per mode (nearest-rank percentiles)",
        "mode       pulls  p50 ms  p99 ms",
        "Unmanaged      2     120     120",
        "",
      ].join("\n"),
    );
  });

  it("a failed pull or a switch that did not converge: exit 1, each problem named, the pull's error shown", async () => {
    const engine: RunSandbox = (_scenario, cb) => {
      cb.onPull({ ...pull(toProxy, false), error: "failed to resolve reference: 503" });
      return Promise.resolve([done(toDirect), done(toProxy, false)]);
    };
    const stdio = io();
    expect(await play({ scenario: scenario.file }, scenario, engine, stdio)).toBe(1);
    expect(stdio.errText()).toBe(
      [
        "not accepted: Direct (EE) → Proxy (EE): did not converge",
        "not accepted: Direct (EE) → Proxy (EE): 1 failed pulls",
        "failed pull: Direct (EE) → Proxy (EE): worker-0 00:00:00.001 (Unmanaged) system/deckhouse@sha256:0: failed to resolve reference: 503",
        "",
      ].join("\n"),
    );
  });

  it("failed pulls at the end: the first three unexpected per step and node, one expected per step", () => {
    const down = "upstream-down in Proxy (EE)";
    const failed = (node: string, error: string, expectedFailure = false): PullRecord => ({
      ...pull(down, false),
      node,
      error,
      ...(expectedFailure ? { expectedFailure } : {}),
    });
    const lines = failedPullLines([
      pull(down),
      ...[1, 2, 3, 4].map(i => failed("worker-0", `503 #${i}`)),
      failed("worker-1", "503 #5"),
      failed("master-0", "upstream registry unavailable", true),
      failed("master-1", "upstream registry unavailable", true),
    ]);
    const at = `${down}: %s 00:00:00.001 (Unmanaged) system/deckhouse@sha256:0: %s`;
    const line = (what: string, node: string, error: string) =>
      `${what}: ${at.replace("%s", node).replace("%s", error)}`;
    expect(lines).toEqual([
      line("failed pull", "worker-0", "503 #1"),
      line("failed pull", "worker-0", "503 #2"),
      line("failed pull", "worker-0", "503 #3"),
      line("failed pull", "worker-1", "503 #5"),
      line("expected failed pull", "master-0", "upstream registry unavailable"),
    ]);
  });

  it("the engine fails after a step: exit 1, the played step still reported", async () => {
    const reportFile = join(dir, "report.json");
    const engine: RunSandbox = (_scenario, cb) => {
      cb.onStep?.(done(toDirect));
      return Promise.reject(new Error("containerd on worker-1 did not start"));
    };
    const stdio = io();
    expect(
      await play({ scenario: scenario.file, report: reportFile }, scenario, engine, stdio),
    ).toBe(1);
    expect(stdio.errText()).toBe("sandbox: containerd on worker-1 did not start\n");
    const report = JSON.parse(readFileSync(reportFile, "utf8")) as SandboxReport;
    expect(report.switches.map(s => s.to)).toEqual(["Direct (EE)"]);
  });

  it("Ctrl-C: the engine is told through its signal, exit 130, no listener left behind", async () => {
    const stdio = io();
    const engine: RunSandbox = (_scenario, cb) =>
      new Promise((_resolve, reject) => {
        // an engine cleans up, then rejects with the reason
        cb.signal?.addEventListener("abort", () => reject(cb.signal?.reason as Error));
        stdio.signals.emit("SIGINT");
      });
    expect(await play({ scenario: scenario.file }, scenario, engine, stdio)).toBe(130);
    expect(stdio.errText()).toBe("sandbox: interrupted\n");
    expect(stdio.outText()).toBe("\nno step was played\n");
    const { signals } = stdio;
    expect([signals.listenerCount("SIGINT"), signals.listenerCount("SIGTERM")]).toEqual([0, 0]);
  });
});
