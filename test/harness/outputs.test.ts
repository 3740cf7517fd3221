// Hook output files as the operator reads them: kubernetes operations (shell-operator's
// serialized_operations testdata and docs), metrics (docs examples), values patches.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { ClusterState } from "../../lib/harness/cluster";
import type { JqEngine } from "../../lib/harness/jq";
import { loadJq } from "../../lib/harness/jq";
import {
  applyKubernetesOperations,
  mergePatch,
  parseKubernetesOperations,
} from "../../lib/harness/kube-ops";
import { MetricsStore, parseMetrics } from "../../lib/harness/metrics";
import { FIXTURES, fixtureText } from "./fixtures";

let jq: JqEngine;
beforeAll(async () => {
  jq = await loadJq();
});

const testdata = (prefix: string) =>
  readdirSync(join(FIXTURES, "kubernetes-patch/testdata")).filter(f => f.startsWith(prefix));

describe("KUBERNETES_PATCH_PATH parsing", () => {
  it.each(testdata("valid_"))("%s parses", file => {
    const ops = parseKubernetesOperations(fixtureText(`kubernetes-patch/testdata/${file}`));
    expect(ops).toHaveLength(3 - (file === "valid_create.yaml" ? 1 : 0));
  });

  it.each(testdata("invalid_"))("%s is rejected", file => {
    expect(() =>
      parseKubernetesOperations(fixtureText(`kubernetes-patch/testdata/${file}`)),
    ).toThrow();
  });

  // One row per invalid_*.yaml: what each of its documents gets on its own. The first Delete is
  // complete; its file is invalid because of the others.
  it.each([
    [
      "invalid_create.yaml",
      [
        "(Create): 'object' is required (a non-empty object)",
        "(CreateOrUpdate): 'object' is required (a non-empty object)",
      ],
    ],
    [
      "invalid_delete.yaml",
      [
        "ok",
        "(DeleteInBackground): 'kind' is required",
        "(DeleteNonCascading): 'name' is required",
      ],
    ],
    [
      "invalid_patch.yaml",
      [
        "(JQPatch): 'jqFilter' is required",
        "(MergePatch): 'mergePatch' is required (a non-empty object)",
        expect.stringMatching(/^\(jsonPatch\): unsupported operation/),
      ],
    ],
  ])("each offending document of %s is rejected on its own", (file, expected) => {
    const outcome = (doc: string) => {
      try {
        parseKubernetesOperations(doc);
        return "ok";
      } catch (err) {
        return (err as Error).message.replace(/^operation #0 /, "");
      }
    };
    const docs = parseAllDocuments(fixtureText(`kubernetes-patch/testdata/${file}`));
    expect(docs.map(d => outcome(d.toString()))).toEqual(expected);
  });

  it("docs examples parse, including stringified object/mergePatch", () => {
    for (const file of [
      "create-or-update-daemonset.json",
      "delete-pod.json",
      "jqpatch-deployment.json",
      "mergepatch-deployment.json",
      "jsonpatch-deployment.json",
      "create-configmap-stringified.yaml",
      "mergepatch-deployment-stringified.yaml",
    ]) {
      expect(
        parseKubernetesOperations(fixtureText(`kubernetes-patch/docs/${file}`)),
        file,
      ).toHaveLength(1);
    }
    const [create] = parseKubernetesOperations(
      fixtureText("kubernetes-patch/docs/create-configmap-stringified.yaml"),
    );
    expect(create?.object).toMatchObject({ kind: "ConfigMap", data: { foo: "bar" } });
    const [merge] = parseKubernetesOperations(
      fixtureText("kubernetes-patch/docs/mergepatch-deployment-stringified.yaml"),
    );
    expect(merge).toMatchObject({
      mergePatch: { spec: { replicas: 1 } },
      ignoreMissingObject: true,
    });
  });

  it("constructed JSON Lines parse in order; unknown fields are dropped", () => {
    const ops = parseKubernetesOperations(fixtureText("constructed/kubernetes-patch.jsonl"));
    expect(ops.map(o => o.operation)).toEqual([
      "CreateOrUpdate",
      "MergePatch",
      "JSONPatch",
      "DeleteInBackground",
    ]);
    const [op] = parseKubernetesOperations(
      '{"operation":"Delete","kind":"Pod","name":"x","ignoreMissingObjects":true}',
    );
    expect(op).toEqual({ operation: "Delete", kind: "Pod", name: "x" });
  });

  it("a top-level JSON array is refused", () => {
    expect(() =>
      parseKubernetesOperations('[{"operation":"Delete","kind":"Pod","name":"x"}]'),
    ).toThrow(/array is not accepted/);
  });

  it("empty file → no operations; JSON field names match case-insensitively like Go", () => {
    expect(parseKubernetesOperations("  \n")).toEqual([]);
    const [op] = parseKubernetesOperations('{"operation":"Delete","Kind":"Pod","NAME":"x"}');
    expect(op).toMatchObject({ kind: "Pod", name: "x" });
  });
});

describe("kubernetes operations applied to the cluster", () => {
  const CM = `
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: ns}
data: {foo: bar}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nginx, namespace: default}
spec: {replicas: 3}
status: {readyReplicas: 3}
---
apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata: {name: my-module}
spec: {enabled: true}
status: {message: ""}
`;
  const apply = (c: ClusterState, text: string) =>
    applyKubernetesOperations(c, parseKubernetesOperations(text), jq);
  const fresh = () => {
    const c = new ClusterState();
    c.set(CM);
    return c;
  };

  it("Create fails if exists; CreateIfNotExists ignores; CreateOrUpdate replaces (status kept)", () => {
    const c = fresh();
    const cm = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "cm", namespace: "ns" },
      data: { a: "1" },
    };
    const lines = [
      { operation: "Create", object: cm },
      { operation: "CreateIfNotExists", object: cm },
      { operation: "CreateOrUpdate", object: cm },
      {
        operation: "CreateOrUpdate",
        object: {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: { name: "nginx", namespace: "default" },
          spec: { replicas: 1 },
          status: {},
        },
      },
    ]
      .map(o => JSON.stringify(o))
      .join("\n");
    const errors = apply(c, lines);
    expect(errors).toEqual([
      { index: 0, operation: "Create", message: expect.stringMatching(/already exists/) },
    ]);
    expect(c.get("cm", "ns", "cm")?.data).toEqual({ a: "1" });
    expect(c.get("deploy", "default", "nginx")).toMatchObject({
      spec: { replicas: 1 },
      status: { readyReplicas: 3 },
    });
  });

  it("Delete variants ignore NotFound", () => {
    const c = fresh();
    const errors = apply(
      c,
      [
        '{"operation":"Delete","kind":"ConfigMap","namespace":"ns","name":"cm"}',
        '{"operation":"DeleteInBackground","kind":"ConfigMap","namespace":"ns","name":"cm"}',
        '{"operation":"DeleteNonCascading","kind":"Secret","namespace":"ns","name":"nope"}',
      ].join("\n"),
    );
    expect(errors).toEqual([]);
    expect(c.get("ConfigMap", "ns", "cm")).toBeUndefined();
  });

  it("MergePatch (RFC 7386), JSONPatch (RFC 6902), JQPatch; ignoreMissingObject", () => {
    const c = fresh();
    const errors = apply(
      c,
      [
        fixtureText("kubernetes-patch/docs/mergepatch-deployment.json"),
        '{"operation":"MergePatch","kind":"ConfigMap","namespace":"ns","name":"cm","mergePatch":{"data":{"foo":null,"x":"y"}}}',
        '{"operation":"JSONPatch","kind":"ConfigMap","namespace":"ns","name":"cm","jsonPatch":[{"op":"add","path":"/data/z","value":"1"}]}',
        '{"operation":"JQPatch","kind":"ConfigMap","namespace":"ns","name":"cm","jqFilter":".metadata.labels = {\\"seen\\": \\"true\\"}"}',
        '{"operation":"MergePatch","kind":"ConfigMap","namespace":"ns","name":"missing","mergePatch":{"a":1},"ignoreMissingObject":true}',
        '{"operation":"JSONPatch","kind":"ConfigMap","namespace":"ns","name":"missing","jsonPatch":[{"op":"add","path":"/a","value":1}]}',
        '{"operation":"JSONPatch","kind":"ConfigMap","namespace":"ns","name":"cm","jsonPatch":[{"op":"replace","path":"/nope/x","value":1}]}',
      ].join("\n"),
    );
    expect(errors.map(e => e.index)).toEqual([5, 6]);
    expect(errors[0]?.message).toMatch(/not found/);
    expect(c.get("deploy", "default", "nginx")?.spec).toEqual({ replicas: 1 });
    expect(c.get("cm", "ns", "cm")).toMatchObject({
      data: { x: "y", z: "1" },
      metadata: { labels: { seen: "true" } },
    });
    expect(c.get("cm", "ns", "cm")?.data).not.toHaveProperty("foo");
  });

  it("status subresource: plain patches cannot change .status, subresource: status changes only it", () => {
    const c = fresh();
    const ops = fixtureText("constructed/kubernetes-patch.jsonl").replaceAll(
      "my-module-settings",
      "none",
    );
    const errors = apply(
      c,
      ops +
        '{"operation":"MergePatch","kind":"ModuleConfig","name":"my-module","mergePatch":{"status":{"message":"ignored"},"spec":{"enabled":false}}}\n' +
        '{"operation":"MergePatch","kind":"ModuleConfig","name":"my-module","subresource":"status","mergePatch":{"spec":{"x":1},"status":{"extra":"1"}}}\n',
    );
    expect(errors).toEqual([]);
    expect(c.get("mc", undefined, "my-module")).toEqual({
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "ModuleConfig",
      metadata: { name: "my-module" },
      spec: { enabled: false },
      status: { message: "ok", extra: "1" },
    });
    expect(c.get("ConfigMap", "d8-my-module", "my-module-nodes")?.data).toEqual({ count: "2" });
  });

  it("errors are collected with their index and later operations still run", () => {
    const c = fresh();
    const errors = apply(
      c,
      [
        '{"operation":"JQPatch","kind":"ConfigMap","namespace":"ns","name":"cm","jqFilter":"error(\\"no\\")"}',
        '{"operation":"Create","object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"noNs"}}}',
        '{"operation":"Create","object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"ns"}}}',
      ].join("\n"),
    );
    expect(errors.map(e => [e.index, e.operation])).toEqual([
      [0, "JQPatch"],
      [1, "Create"],
    ]);
    expect(c.get("Secret", "ns", "s")).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", namespace: "ns" },
    });
  });

  it("merge patch is RFC 7386", () => {
    expect(mergePatch({ a: { b: 1, c: 2 }, l: [1] }, { a: { b: null, d: 3 }, l: [2] })).toEqual({
      a: { c: 2, d: 3 },
      l: [2],
    });
    expect(mergePatch({ a: 1 }, "x")).toBe("x");
  });
});

describe("METRICS_PATH", () => {
  it("docs examples parse (shortcut add rewritten), grouped by the hook name by default", () => {
    expect(parseMetrics(fixtureText("metrics/add.jsonl"), "hook1")).toEqual([
      {
        name: "metric_name",
        group: "hook1",
        action: "add",
        value: 1,
        labels: { label1: "value1" },
      },
    ]);
    expect(parseMetrics(fixtureText("metrics/set.jsonl"), "hook1")[0]).toMatchObject({
      action: "set",
      value: 33,
    });
    expect(parseMetrics(fixtureText("metrics/shortcut-add.jsonl"), "hook1")[0]).toMatchObject({
      action: "add",
      value: 1,
    });
    expect(parseMetrics(fixtureText("metrics/group-expire.jsonl"), "hook1")).toEqual([
      { group: "group_name_1", action: "expire" },
    ]);
    expect(parseMetrics(fixtureText("constructed/metrics.jsonl"), "hook1")).toHaveLength(3);
  });

  it("observe: refused once the operator assigned the default group; accepted ungrouped", () => {
    expect(() => parseMetrics(fixtureText("metrics/observe.jsonl"), "hook1")).toThrow(
      /unsupported action 'observe' for grouped metric/,
    );
    const [op] = parseMetrics(fixtureText("metrics/observe.jsonl"), "");
    expect(op).toMatchObject({ action: "observe", value: 42, buckets: [1, 2, 5, 10, 20, 50] });
  });

  it("validation: name, value, action", () => {
    expect(() => parseMetrics('{"group":"g","action":"set","value":1}', "h")).toThrow(
      /'name' is required/,
    );
    expect(() => parseMetrics('{"name":"m","action":"set"}', "h")).toThrow(/'value' is required/);
    expect(() => parseMetrics('{"name":"m","value":1}', "h")).toThrow(/'action'/);
    expect(() => parseMetrics('{"name":"m","set":1,"add":2}', "h")).toThrow(/mutual/);
    expect(() => parseMetrics("[]", "h")).toThrow(/not a JSON object/);
  });

  it("store: a batch mentioning a group replaces it; expire deletes; other groups untouched", () => {
    const store = new MetricsStore();
    store.apply(parseMetrics(fixtureText("constructed/metrics.jsonl"), "hook1"));
    expect(store.list().map(m => [m.group, m.name, m.value])).toEqual([
      ["my_module_nodes", "d8_my_module_worker_nodes", 2],
      ["hook1", "d8_my_module_hook_runs_total", 1],
    ]);
    store.apply(
      parseMetrics('{"name":"d8_my_module_hook_runs_total","action":"add","value":1}', "hook1"),
    );
    expect(store.list().map(m => [m.group, m.value])).toEqual([
      ["my_module_nodes", 2],
      ["hook1", 1],
    ]);
    store.apply(parseMetrics('{"group":"my_module_nodes","action":"expire"}', "hook1"));
    expect(store.list().map(m => m.group)).toEqual(["hook1"]);
    store.apply([]);
    expect(store.list()).toHaveLength(1);
  });
});
