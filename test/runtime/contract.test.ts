import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { batchConfig, goDurationToNanoseconds, runContract } from "../../lib/runtime/contract";
import { defineHook } from "../../lib/runtime/define-hook";
import { filterObject, string } from "../../lib/runtime/narrow";

const probe = defineHook({
  name: "probe",
  queue: "/modules/registry/probe",
  beforeHelm: 5,
  kubernetes: {
    nodes: {
      apiVersion: "v1",
      kind: "Node",
      jqFilter: "{name: .metadata.name}",
      executeHookOnEvent: [],
      narrow: item => string(filterObject(item, "Node").name, "Node name"),
    },
  },
  schedule: [{ name: "tick", crontab: "*/10 * * * * *" }],
  settings: { executionMinInterval: "1m30s", executionBurst: 2 },
  handler({ snapshots, values, kubernetes, metrics, log }) {
    if (snapshots.nodes.includes("explode")) throw new Error("boom\nsecond line");
    values.set("registry.internal.nodes", snapshots.nodes);
    kubernetes.mergePatch(
      { kind: "Secret", namespace: "d8-system", name: "x" },
      { metadata: { labels: { a: "b" } } },
    );
    metrics.set("d8_registry_nodes", snapshots.nodes.length);
    log.info("done", { password: "p4ssword" });
  },
});

function io() {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: (t: string) => void (out.stdout += t),
      stderr: (t: string) => void (out.stderr += t),
    },
  };
}

function runFiles(contexts: string) {
  const dir = mkdtempSync(join(tmpdir(), "contract-"));
  const env: Record<string, string> = {};
  const files = {
    BINDING_CONTEXT_PATH: contexts,
    VALUES_PATH: JSON.stringify({ global: {}, registry: { internal: {} } }),
    CONFIG_VALUES_PATH: JSON.stringify({ global: {}, registry: {} }),
    VALUES_JSON_PATCH_PATH: "",
    CONFIG_VALUES_JSON_PATCH_PATH: "",
    KUBERNETES_PATCH_PATH: "",
    METRICS_PATH: "",
  };
  for (const [name, content] of Object.entries(files)) {
    env[name] = join(dir, name);
    writeFileSync(env[name], content);
  }
  const read = (name: string) => readFileSync(env[name] as string, "utf8");
  return { env, read };
}

const nodesContext = (names: string[]) =>
  JSON.stringify([
    {
      binding: "beforeHelm",
      snapshots: { nodes: names.map(name => ({ filterResult: { name } })) },
    },
  ]);

describe("hook executable contract (in process)", () => {
  it("lists hooks in the form addon-operator's batch probe matches", async () => {
    const { out, io: sink } = io();
    expect(await runContract({ hooks: [probe] }, ["hook", "list"], {}, sink)).toBe(0);
    expect(out.stdout).toBe("Found 1 items:\n0 - probe\n");
    expect(out.stdout).toMatch(/Found ([1-9][0-9]{0,3}) items/);
  });

  it("prints the batch config with module-sdk's field shapes", async () => {
    const { out, io: sink } = io();
    expect(await runContract({ hooks: [probe] }, ["hook", "config"], {}, sink)).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(batchConfig([probe]));
    expect(JSON.parse(out.stdout)).toMatchObject({
      version: "v1",
      hooks: [
        {
          configVersion: "v1",
          metadata: { name: "probe", path: "hooks/probe" },
          beforeHelm: 5,
          kubernetes: [
            { name: "nodes", executeHookOnEvent: false, queue: "/modules/registry/probe" },
          ],
          schedule: [{ name: "tick", crontab: "*/10 * * * * *" }],
          settings: { executionMinInterval: 90e9, executionBurst: 2 },
        },
      ],
    });
  });

  it("runs a hook by index and writes the three outputs", async () => {
    const { env, read } = runFiles(nodesContext(["a", "b"]));
    const { out, io: sink } = io();
    expect(await runContract({ hooks: [probe] }, ["hook", "run", "0"], env, sink)).toBe(0);
    expect(JSON.parse(read("VALUES_JSON_PATCH_PATH"))).toEqual([
      { op: "add", path: "/registry/internal/nodes", value: ["a", "b"] },
    ]);
    expect(
      read("KUBERNETES_PATCH_PATH")
        .trim()
        .split("\n")
        .map(l => JSON.parse(l)),
    ).toEqual([
      {
        operation: "MergePatch",
        kind: "Secret",
        namespace: "d8-system",
        name: "x",
        mergePatch: { metadata: { labels: { a: "b" } } },
      },
    ]);
    expect(JSON.parse(read("METRICS_PATH"))).toEqual({
      name: "d8_registry_nodes",
      group: "probe",
      action: "set",
      value: 2,
      labels: {},
    });
    expect(out.stdout).not.toContain("p4ssword");
    expect(JSON.parse(out.stdout.trim())).toMatchObject({ level: "info", msg: "done" });
    expect(out.stderr).toBe("");
  });

  it.each([
    ["malformed binding context JSON", "[{"],
    ["a binding context that is not an array", "{}"],
    ["a failing handler", nodesContext(["explode"])],
  ])("fails on %s: non-zero exit, one stderr line, no output written", async (_, contexts) => {
    const { env, read } = runFiles(contexts);
    const { out, io: sink } = io();
    expect(await runContract({ hooks: [probe] }, ["hook", "run", "0"], env, sink)).toBe(1);
    expect(out.stderr.trim().split("\n")).toHaveLength(1);
    for (const file of ["VALUES_JSON_PATCH_PATH", "KUBERNETES_PATCH_PATH", "METRICS_PATH"]) {
      expect(read(file)).toBe("");
    }
  });

  it.each([[[]], [["--config"]], [["hook"]], [["hook", "run"]], [["hook", "run", "7"]], [["x"]]])(
    "refuses the foreign argument vector %j with no stdout",
    async argv => {
      const { out, io: sink } = io();
      expect(await runContract({ hooks: [probe] }, argv, {}, sink)).toBe(2);
      expect(out.stdout).toBe("");
      expect(out.stderr).not.toBe("");
    },
  );

  it("speaks the per-hook protocol when REGISTRY_HOOK names a hook", async () => {
    const { out, io: sink } = io();
    expect(
      await runContract({ hooks: [probe] }, ["--config"], { REGISTRY_HOOK: "probe" }, sink),
    ).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(probe.config());
    const { env, read } = runFiles(nodesContext(["c"]));
    expect(
      await runContract({ hooks: [probe] }, [], { ...env, REGISTRY_HOOK: "probe" }, sink),
    ).toBe(0);
    expect(read("VALUES_JSON_PATCH_PATH")).toContain('"value":["c"]');
  });

  it("converts Go durations to nanoseconds and refuses what is not one", () => {
    expect(goDurationToNanoseconds("1h2m3s")).toBe(3723e9);
    expect(goDurationToNanoseconds("250ms")).toBe(250e6);
    expect(() => goDurationToNanoseconds("5 minutes")).toThrow(/not a Go duration/);
  });
});
