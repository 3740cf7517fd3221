// The `enabled` script, run by real bash and jq as addon-operator runs it during discovery.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { runEnabledScript } from "../../lib/harness/enabled";

const SCRIPT = "./enabled";

function requireTool(tool: string, pkg: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${tool}`]);
  if (r.status !== 0) throw new Error(`${tool} is not installed: apt-get install -y ${pkg}`);
}

describe("enabled script", () => {
  it("enables the module where DKP manages the cluster (global.clusterConfiguration exists)", () => {
    requireTool("jq", "jq");
    const values = { global: { clusterConfiguration: { clusterType: "Static" } }, registry: {} };
    expect(runEnabledScript(SCRIPT, values)).toEqual({ enabled: true, reason: "" });
  });

  it("disables it, with a reason, in managed Kubernetes (no clusterConfiguration)", () => {
    requireTool("jq", "jq");
    const verdict = runEnabledScript(SCRIPT, { global: { enabledModules: [] }, registry: {} });
    expect(verdict.enabled).toBe(false);
    expect(verdict.reason).toMatch(/clusterConfiguration is absent/);
  });

  it("fails instead of guessing when values cannot be read", () => {
    requireTool("jq", "jq");
    expect(() => runEnabledScript(SCRIPT, "{not json")).toThrow(/exited [1-9]/);
  });

  it("passes shellcheck", () => {
    requireTool("shellcheck", "shellcheck");
    const r = spawnSync("shellcheck", ["-s", "bash", SCRIPT], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
