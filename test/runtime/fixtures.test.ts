// The constructed protocol fixtures (test/fixtures/protocol/constructed) drive the runtime: a hook
// declared with defineHook prints exactly their hook config, reads every binding-context shape,
// and writes values patches, kubernetes operations and metrics in exactly their wire form.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runContract } from "../../lib/runtime/contract";
import { defineHook, executeHook } from "../../lib/runtime/define-hook";
import { isRecord } from "../../lib/validation/reader";
import { filterObject, optionalBoolean, string } from "../../lib/runtime/narrow";
import type { BindingContext, JsonPatchOperation } from "../../lib/runtime/types";

const DIR = "test/fixtures/protocol/constructed";
const text = (file: string) => readFileSync(join(DIR, file), "utf8");
const json = <T>(file: string) => JSON.parse(text(file)) as T;
const jsonLines = (file: string) =>
  text(file)
    .trim()
    .split("\n")
    .map(l => JSON.parse(l) as Record<string, unknown>);

interface Seen {
  nodes: { name: string; unschedulable: boolean }[];
  settings: Record<string, unknown>[];
  bindings: string[];
}

function constructedHook(seen: Seen[]) {
  return defineHook({
    name: "constructed",
    onStartup: 10,
    beforeHelm: 10,
    kubernetes: {
      nodes: {
        apiVersion: "v1",
        kind: "Node",
        labelSelector: { matchLabels: { "node-role.kubernetes.io/worker": "" } },
        jqFilter: "{name: .metadata.name, unschedulable: (.spec.unschedulable // false)}",
        includeSnapshotsFrom: ["nodes"],
        narrow: item => {
          const f = filterObject(item, "Node");
          return {
            name: string(f.name, "Node name"),
            unschedulable: optionalBoolean(f.unschedulable, "Node unschedulable") ?? false,
          };
        },
      },
      settings_cm: {
        apiVersion: "v1",
        kind: "ConfigMap",
        nameSelector: { matchNames: ["my-module-settings"] },
        namespace: { nameSelector: { matchNames: ["d8-my-module"] } },
        jqFilter: ".data",
        executeHookOnSynchronization: false,
        executeHookOnEvent: [],
        keepFullObjectsInMemory: false,
        narrow: item => (isRecord(item.filterResult) ? item.filterResult : {}),
      },
    },
    schedule: [
      {
        name: "every-10m",
        crontab: "*/10 * * * *",
        includeSnapshotsFrom: ["nodes", "settings_cm"],
      },
    ],
    handler({ snapshots, bindingContexts }) {
      seen.push({
        nodes: snapshots.nodes,
        settings: snapshots.settings_cm,
        bindings: bindingContexts.map(c => c.binding),
      });
    },
  });
}

const bindingContextFiles = readdirSync(DIR).filter(f => f.startsWith("bc-"));

describe("constructed fixtures through the runtime", () => {
  it("defineHook prints exactly the constructed hook config", () => {
    expect(constructedHook([]).config()).toEqual(json("hook-config-module.json"));
  });

  it.each(bindingContextFiles)("reads %s", async file => {
    const contexts = json<BindingContext[]>(file);
    const seen: Seen[] = [];
    await executeHook(constructedHook(seen), {
      bindingContexts: contexts,
      values: { global: {}, registry: {} },
      configValues: { global: {}, registry: {} },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.bindings).toEqual(contexts.map(c => c.binding));
    // the last element carrying a binding's snapshot is what the handler sees
    const last = [...contexts]
      .reverse()
      .find(c => c.snapshots?.nodes ?? (c.binding === "nodes" && c.objects));
    const expected = last?.snapshots?.nodes ?? last?.objects ?? [];
    expect(seen[0]?.nodes.map(n => n.name)).toEqual(
      expected.map(i => (i.filterResult as { name: string }).name),
    );
  });

  it("writes values patches, kubernetes operations and metrics in the constructed wire form", async () => {
    const dir = mkdtempSync(join(tmpdir(), "constructed-"));
    const env: Record<string, string> = {};
    const values = JSON.parse(text("values.json").replace('"myModule"', '"registry"')) as object;
    const files = {
      BINDING_CONTEXT_PATH: text("bc-beforeHelm-with-snapshots.json"),
      VALUES_PATH: JSON.stringify(values),
      CONFIG_VALUES_PATH: text("config-values.json").replace('"myModule"', '"registry"'),
      VALUES_JSON_PATCH_PATH: "",
      KUBERNETES_PATCH_PATH: "",
      METRICS_PATH: "",
    };
    for (const [name, content] of Object.entries(files)) {
      env[name] = join(dir, name);
      writeFileSync(env[name], content);
    }
    const ops = jsonLines("kubernetes-patch.jsonl");
    const writer = defineHook({
      name: "writer",
      beforeHelm: 10,
      handler({ values: v, kubernetes, metrics }) {
        v.set("registry.internal.nodes", ["worker-a", "worker-b"]);
        v.remove("registry.internal.legacyFlag");
        kubernetes.createOrUpdate(ops[0]?.object as never);
        kubernetes.mergePatch(
          {
            apiVersion: "v1",
            kind: "ConfigMap",
            namespace: "d8-my-module",
            name: "my-module-settings",
            ignoreMissingObject: true,
          },
          { metadata: { labels: { seen: "true" } } },
        );
        kubernetes.jsonPatch(
          {
            apiVersion: "deckhouse.io/v1alpha1",
            kind: "ModuleConfig",
            name: "my-module",
            subresource: "status",
          },
          ops[2]?.jsonPatch as JsonPatchOperation[],
        );
        kubernetes.delete(
          { apiVersion: "v1", kind: "Secret", namespace: "d8-my-module", name: "obsolete" },
          "Background",
        );
        metrics.expire("my_module_nodes");
        metrics.set("d8_my_module_worker_nodes", 2, { pool: "default" }, "my_module_nodes");
        metrics.add("d8_my_module_hook_runs_total", 1);
      },
    });
    const sink = { stdout: () => undefined, stderr: (t: string) => expect(t).toBe("") };
    expect(await runContract({ hooks: [writer] }, ["hook", "run", "0"], env, sink)).toBe(0);

    const patch = json<{ op: string; path: string }[]>("values-json-patch.json").map(op => ({
      ...op,
      path: op.path.replace("/myModule/", "/registry/"),
    }));
    expect(JSON.parse(readFileSync(env.VALUES_JSON_PATCH_PATH as string, "utf8"))).toEqual(patch);

    const written = readFileSync(env.KUBERNETES_PATCH_PATH as string, "utf8")
      .trim()
      .split("\n");
    expect(written.map(l => JSON.parse(l) as unknown)).toEqual(ops);

    const metrics = readFileSync(env.METRICS_PATH as string, "utf8")
      .trim()
      .split("\n");
    const expected = jsonLines("metrics.jsonl");
    // An ungrouped metric gets the hook name as its group from the operator anyway
    // (docs/hook-protocol.md#values-patches); the runtime writes that group explicitly.
    expected[2] = { ...expected[2], group: "writer" };
    expect(metrics.map(l => JSON.parse(l) as unknown)).toEqual(expected);
  });
});
