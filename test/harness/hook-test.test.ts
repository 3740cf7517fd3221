// The Deckhouse-style API end to end: one hook run in-process and as an executable (per-hook and
// batch protocol) must give the same results; failures apply nothing; refusals keep values.
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import type { HookTest } from "../../lib/harness";
import { createHookTest } from "../../lib/harness";
import countNodes from "./hooks/count-nodes";
import { testSchemas } from "./schemas";

const LAUNCHER = resolve("test/harness/hooks/launcher.ts");

/** An executable that runs the test hook through the runtime's process contract (node + tsx). */
function launcher(): string {
  const dir = mkdtempSync(join(tmpdir(), "harness-launcher-"));
  const file = join(dir, "count-nodes");
  writeFileSync(file, `#!/bin/sh\nexec "${process.execPath}" --import tsx "${LAUNCHER}" "$@"\n`);
  chmodSync(file, 0o755);
  return file;
}

const NODES = (...names: string[]) =>
  names
    .map(n => `apiVersion: v1\nkind: Node\nmetadata:\n  name: ${n}\n  labels: {}\n`)
    .join("---\n");

const common = {
  schemas: testSchemas(),
  configValues: { mode: "Direct" },
  globalValues: { clusterConfiguration: { clusterType: "Static" } },
};

async function scenario(f: HookTest) {
  f.kubeStateSet(
    NODES("b", "a") +
      "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: maybe, namespace: d8-system}\n",
  );
  f.bindingContexts = f.generateBeforeHelmContext();
  const res = await f.runHook();
  return {
    res,
    state: {
      values: f.values(),
      cm: f.kubernetesResource("ConfigMap", "d8-system", "node-count"),
      maybe: f.kubernetesResource("cm", "d8-system", "maybe"),
      metrics: f.metrics(),
    },
  };
}

describe("createHookTest", () => {
  it("runs an in-process hook and applies its outputs", async () => {
    const f = await createHookTest({ hook: countNodes, ...common });
    const sync = f.kubeStateSet(NODES("b", "a"));
    expect(sync).toEqual([
      {
        binding: "nodes",
        type: "Synchronization",
        objects: [
          { filterResult: { name: "a", state: "Ready" } },
          { filterResult: { name: "b", state: "Ready" } },
        ],
      },
    ]);
    const res = await f.runHook();
    expect(res.ok).toBe(true);
    expect(res.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.nodes")).toEqual(["a", "b"]);
    expect(f.valuesGet("registry.internal.count")).toBe(2);
    expect(f.valuesGet("registry.replicas")).toBe(1);
    expect(f.configValuesGet("registry")).toEqual({ mode: "Direct" });
    expect(f.kubernetesResource("ConfigMap", "d8-system", "node-count")?.data).toEqual({
      count: "2",
    });
    expect(f.metrics()).toEqual([
      { group: "count_nodes", name: "d8_registry_test_nodes", labels: {}, type: "gauge", value: 2 },
    ]);
    expect(f.logs()).toContainEqual(
      expect.objectContaining({ level: "info", msg: "counted nodes", count: 2 }),
    );
    expect(res.valuesChanged).toBe(true);

    // A node goes away: Deleted event; the next run recomputes.
    const ev = f.kubeStateSet(NODES("b"));
    expect(ev).toEqual([
      {
        binding: "nodes",
        type: "Event",
        watchEvent: "Deleted",
        filterResult: { name: "a", state: "Ready" },
      },
    ]);
    // The binding includes no snapshots, so the Event run sees none (the hook's own lookout).
    expect((await f.runHook()).ok).toBe(true);
    expect(f.valuesGet("registry.internal.nodes")).toEqual([]);
    expect((await f.runHook(f.generateBeforeHelmContext())).ok).toBe(true);
    expect(f.valuesGet("registry.internal.nodes")).toEqual(["b"]);
    expect(f.generateScheduleContext("every-minute")).toEqual([
      { binding: "every-minute", type: "Schedule" },
    ]);
  });

  it("gives the same result in-process, as a per-hook executable and as a batch executable", async () => {
    const exe = launcher();
    const inProcess = await scenario(await createHookTest({ hook: countNodes, ...common }));
    const perHook = await createHookTest({
      hook: { command: [exe], env: { REGISTRY_HOOK: "count-nodes" } },
      ...common,
    });
    expect(perHook.config.kubernetes[0]).toMatchObject({
      name: "nodes",
      keepFullObjectsInMemory: false,
    });
    const executable = await scenario(perHook);
    expect(executable.res.ok).toBe(true);
    expect(executable.state).toEqual(inProcess.state);
    for (const key of [
      "valuesPatch",
      "kubernetesOperations",
      "metrics",
      "bindingContexts",
      "logs",
    ] as const) {
      expect(executable.res[key], key).toEqual(inProcess.res[key]);
    }

    const batch = await createHookTest({ hook: { command: [exe, "hook", "run", "0"] }, ...common });
    expect(batch.runner.name).toBe("count-nodes");
    expect(batch.config.kubernetes[0]).toMatchObject({
      group: "main",
      keepFullObjectsInMemory: false,
    });
    const batchRun = await scenario(batch);
    expect(batchRun.res.ok).toBe(true);
    expect(batchRun.state).toEqual(inProcess.state);
    expect(batchRun.res.bindingContexts).toEqual(inProcess.res.bindingContexts);
    expect(batch.kubeStateSet(NODES("c"))).toEqual([
      {
        binding: "nodes",
        type: "Group",
        groupName: "main",
        snapshots: { nodes: [{ filterResult: { name: "c", state: "Ready" } }] },
      },
    ]);
  }, 60_000);

  it("a failing hook applies nothing: no values, no objects, no metrics", async () => {
    for (const hook of [
      countNodes,
      { command: [launcher()], env: { REGISTRY_HOOK: "count-nodes" } },
    ]) {
      const f = await createHookTest({ hook, ...common });
      f.kubeStateSet(NODES("a", "explode"));
      const before = f.values();
      const res = await f.runHook();
      expect(res.ok).toBe(false);
      expect(res.error).toMatch(/node explode is not supported/);
      expect(res.stderr).toMatch(/node explode is not supported/);
      expect(f.values()).toEqual(before);
      expect(f.kubernetesResource("ConfigMap", "d8-system", "node-count")).toBeUndefined();
      expect(f.metrics()).toEqual([]);
    }
  }, 60_000);

  it("a values patch violating the schema fails the run; metrics and objects were already applied (docs/hook-protocol.md#order-of-application)", async () => {
    const f = await createHookTest({ hook: countNodes, ...common });
    f.kubeStateSet(NODES("a").replace("labels: {}", 'labels: {"test/state": "Bogus"}'));
    const before = f.values();
    const res = await f.runHook();
    expect(res.ok).toBe(false);
    expect(res.error).toMatch(/values patch makes values invalid: \/registry\/internal\/state/);
    expect(f.values()).toEqual(before);
    expect(f.kubernetesResource("ConfigMap", "d8-system", "node-count")?.data).toEqual({
      count: "1",
    });
    expect(f.metrics()).toHaveLength(1);
  });

  it("values invalid before the run: the hook is not run", async () => {
    const f = await createHookTest({
      hook: countNodes,
      ...common,
      configValues: { mode: "Wrong" },
    });
    const res = await f.runHook(f.generateBeforeHelmContext());
    expect(res.ok).toBe(false);
    expect(res.error).toMatch(/values are invalid before the run: config values: \/registry\/mode/);
  });

  it("valuesSet/configValuesSet feed the next run; the patch of a run strictly applies on top", async () => {
    const f = await createHookTest({ hook: countNodes, ...common });
    f.valuesSet("registry.internal.hosts", ["h"]);
    f.configValuesSet("registry.replicas", 3);
    f.kubeStateSet(NODES("a"));
    expect((await f.runHook()).ok).toBe(true);
    expect(f.values().registry).toMatchObject({
      mode: "Direct",
      replicas: 3,
      internal: { hosts: ["h"], nodes: ["a"], count: 1, state: "Unknown" },
    });
    expect(f.configValues()).toEqual({ global: {}, registry: { mode: "Direct", replicas: 3 } });
  });
});
