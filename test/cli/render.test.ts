// `registry-module render` as a user runs it: the built CLI (dist/cli), real files.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { requireBuild } from "../contract/built";
import { cluster } from "../fixtures/clusters/generate";

const CLI = "dist/cli/registry-module.mjs";

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

function clusterFile(registry: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "render-"));
  const file = join(dir, "cluster.yaml");
  writeFileSync(
    file,
    cluster({ nodes: 4, masters: 1, registry })
      .map(o => stringify(o))
      .join("---\n"),
  );
  return file;
}

beforeAll(requireBuild);

describe("registry-module render", () => {
  it("prints the computed values for the example cluster", () => {
    const r = cli(
      "render",
      "--cluster",
      "examples/cluster.yaml",
      "--values",
      "examples/values.yaml",
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = parse(r.stdout) as {
      registry: { internal: { orchestrator: { hash: string; state: unknown } } };
    };
    expect(out.registry.internal.orchestrator.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(out.registry.internal.orchestrator.state).toMatchObject({ mode: "Unmanaged" });
  });

  it("-o json prints the same document as JSON", () => {
    const yaml = cli(
      "render",
      "--cluster",
      "examples/cluster.yaml",
      "--values",
      "examples/values.yaml",
    );
    const json = cli(
      "render",
      "--cluster",
      "examples/cluster.yaml",
      "--values",
      "examples/values.yaml",
      "-o",
      "json",
    );
    expect(JSON.parse(json.stdout)).toEqual(parse(yaml.stdout));
  });

  it("says the module is disabled where the enabled script says so, and prints nothing", () => {
    const r = cli("render", "--cluster", "examples/cluster.yaml");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      "module registry is disabled: global.clusterConfiguration is absent",
    );
  });

  it("fails with the settings rule's message on invalid settings", () => {
    const file = clusterFile({ mode: "Proxy", proxy: { imagesRepo: "r.example/d", ttl: "1m" } });
    const r = cli("render", "--cluster", file, "--values", "examples/values.yaml");
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("registry.proxy.ttl");
  });

  it.each([
    [["render"], "--cluster FILE is required"],
    [["render", "--cluster", "examples/cluster.yaml", "-o", "xml"], "-o must be yaml or json"],
    [["render", "--bogus"], "Unknown option '--bogus'"],
    [["frobnicate"], 'unknown command "frobnicate"'],
  ])("refuses bad usage %j with a clear message", (args, message) => {
    const r = cli(...args);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
  });
});
