// `npm run sandbox` as a person runs it (a process of its own): bad input ends with exit code 2
// and the message naming the line, and nothing starts. "Nothing started" is shown by the module
// loads of the process: the engine (./sandbox.ts) is the only code that starts anything and the
// CLI imports it at its one call point, after every check. A loader hook records every module
// the process loads; that it recorded the scenario parser shows the record is real.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

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
