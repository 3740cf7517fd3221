// The `enabled` script, run by real bash and jq as addon-operator runs it during discovery.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const SCRIPT = "enabled";

function requireTool(tool: string, pkg: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${tool}`]);
  if (r.status !== 0) throw new Error(`${tool} is not installed: apt-get install -y ${pkg}`);
}

function runEnabled(values: string) {
  requireTool("jq", "jq");
  const dir = mkdtempSync(join(tmpdir(), "enabled-"));
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    VALUES_PATH: join(dir, "values.json"),
    CONFIG_VALUES_PATH: join(dir, "config-values.json"),
    MODULE_ENABLED_RESULT: join(dir, "result"),
    MODULE_ENABLED_REASON: join(dir, "reason"),
  };
  writeFileSync(env.VALUES_PATH, values);
  writeFileSync(env.CONFIG_VALUES_PATH, JSON.stringify({ global: {}, registry: {} }));
  writeFileSync(env.MODULE_ENABLED_RESULT, "");
  writeFileSync(env.MODULE_ENABLED_REASON, "");
  const r = spawnSync(`./${SCRIPT}`, [], { env, encoding: "utf8" });
  return {
    status: r.status,
    stderr: r.stderr,
    result: readFileSync(env.MODULE_ENABLED_RESULT, "utf8"),
    reason: readFileSync(env.MODULE_ENABLED_REASON, "utf8"),
  };
}

describe("enabled script", () => {
  it("enables the module where DKP manages the cluster (global.clusterConfiguration exists)", () => {
    const values = { global: { clusterConfiguration: { clusterType: "Static" } }, registry: {} };
    expect(runEnabled(JSON.stringify(values))).toMatchObject({
      status: 0,
      result: "true",
      reason: "",
    });
  });

  it("disables it, with a reason, in managed Kubernetes (no clusterConfiguration)", () => {
    const r = runEnabled(JSON.stringify({ global: { enabledModules: [] }, registry: {} }));
    expect(r).toMatchObject({ status: 0, result: "false" });
    expect(r.reason).toMatch(/clusterConfiguration is absent/);
  });

  it("fails instead of guessing when values cannot be read", () => {
    const r = runEnabled("{not json");
    expect(r.status).not.toBe(0);
    expect(r.result).toBe("");
  });

  it("passes shellcheck", () => {
    requireTool("shellcheck", "shellcheck");
    const r = spawnSync("shellcheck", ["-s", "bash", SCRIPT], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
