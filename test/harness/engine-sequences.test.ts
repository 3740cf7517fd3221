// Sequences à la shell-operator's test/hook/context generator_test.go: Synchronization, then
// Added / Modified / (suppressed Modified) / Deleted events, schedules and groups.
import { beforeAll, describe, expect, it } from "vitest";
import type { BindingContext } from "../../lib/runtime/types";
import { ClusterState } from "../../lib/harness/cluster";
import { BindingContextEngine } from "../../lib/harness/engine";
import { normalizeHookConfig } from "../../lib/harness/hook-config";
import type { JqEngine } from "../../lib/harness/jq";
import { loadJq } from "../../lib/harness/jq";
import { parse as parseYamlConfig } from "yaml";

let jq: JqEngine;
beforeAll(async () => {
  jq = await loadJq();
});

function engineFor(configYaml: string, logs: string[] = []) {
  return new BindingContextEngine(
    normalizeHookConfig(parseYamlConfig(configYaml)),
    new ClusterState(),
    jq,
    (_level, msg, fields) => logs.push(`${msg} ${JSON.stringify(fields)}`),
  );
}

const pods = (...docs: string[]) => docs.join("\n---\n");
const pod = (name: string, extra = "") =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${name}\n  namespace: default\n${extra}`;

const SELECTED_PODS = `
configVersion: v1
kubernetes:
- apiVersion: v1
  includeSnapshotsFrom: [selected_pods]
  kind: Pod
  name: selected_pods
schedule:
- name: every_minute
  crontab: "* * * * *"
  includeSnapshotsFrom: [selected_pods]
`;

const names = (items: { object?: { metadata: { name: string } } | null }[] | undefined) =>
  (items ?? []).map(i => i.object?.metadata.name);

describe("generator sequence", () => {
  it("sync with 2 → Added (3) → Modified → Deleted (2) → schedule", () => {
    const engine = engineFor(SELECTED_PODS);
    let ctx = engine.kubeStateSet(pods(pod("pod1"), pod("pod2")));
    expect(ctx).toHaveLength(1);
    expect(ctx[0]).toMatchObject({ binding: "selected_pods", type: "Synchronization" });
    expect(ctx[0]?.objects).toHaveLength(2);
    expect(names(ctx[0]?.snapshots?.selected_pods)).toEqual(["pod1", "pod2"]);

    ctx = engine.kubeStateSet(
      pods(pod("pod1"), pod("pod2"), pod("pod3", "spec:\n  containers: []")),
    );
    expect(ctx).toHaveLength(1);
    expect(ctx[0]).toMatchObject({ type: "Event", watchEvent: "Added" });
    expect(ctx[0]?.object?.metadata.name).toBe("pod3");
    expect(ctx[0]).not.toHaveProperty("filterResult");
    expect(ctx[0]?.snapshots?.selected_pods).toHaveLength(3);

    ctx = engine.kubeStateSet(
      pods(pod("pod1"), pod("pod2"), pod("pod3", "spec:\n  containers:\n  - name: test")),
    );
    expect(ctx).toHaveLength(1);
    expect(ctx[0]).toMatchObject({ type: "Event", watchEvent: "Modified" });
    expect(ctx[0]?.object?.spec).toEqual({ containers: [{ name: "test" }] });
    expect(ctx[0]?.snapshots?.selected_pods).toHaveLength(3);

    // Same state again: nothing changed, nothing emitted.
    expect(
      engine.kubeStateSet(
        pods(pod("pod1"), pod("pod2"), pod("pod3", "spec:\n  containers:\n  - name: test")),
      ),
    ).toEqual([]);

    ctx = engine.kubeStateSet(pods(pod("pod1"), pod("pod2")));
    expect(ctx).toHaveLength(1);
    expect(ctx[0]).toMatchObject({ type: "Event", watchEvent: "Deleted" });
    expect(ctx[0]?.object?.metadata.name).toBe("pod3");
    expect(names(ctx[0]?.snapshots?.selected_pods)).toEqual(["pod1", "pod2"]);

    ctx = engine.schedule("* * * * *");
    expect(ctx).toEqual([
      {
        binding: "every_minute",
        type: "Schedule",
        snapshots: { selected_pods: engine.snapshots().selected_pods },
      },
    ]);
    expect(ctx[0]?.snapshots?.selected_pods).toHaveLength(2);
  });

  it("Modified is suppressed when the jq output is unchanged (cache still updated)", () => {
    const engine = engineFor(`
configVersion: v1
kubernetes:
- name: labels
  kind: Pod
  jqFilter: .metadata.labels
  includeSnapshotsFrom: [labels]
`);
    engine.kubeStateSet(pod("p", "  labels: {a: '1'}\nspec: {x: 1}"));
    const unchanged = engine.kubeStateSet(
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\n  labels: {a: "1"}\nspec: {x: 2}`,
    );
    expect(unchanged).toEqual([]);
    // The cache holds the new object even though no event was emitted.
    expect(engine.snapshots().labels?.[0]?.object?.spec).toEqual({ x: 2 });
    const changed = engine.kubeStateSet(
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: default\n  labels: {a: "2"}\nspec: {x: 2}`,
    );
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({ watchEvent: "Modified", filterResult: { a: "2" } });
  });

  it("Synchronization: executeHookOnSynchronization:false skipped, grouped bindings collapse", () => {
    const engine = engineFor(`
configVersion: v1
kubernetes:
- {apiVersion: apps/v1, includeSnapshotsFrom: [deployment], kind: Deployment, name: deployment}
- {apiVersion: v1, kind: ConfigMap, name: cms, executeHookOnSynchronization: false}
- {apiVersion: v1, includeSnapshotsFrom: [deployment, cms], kind: Pod, name: pods}
- {apiVersion: v1, kind: Secret, name: secrets-grouped, group: group1}
- {apiVersion: v1, kind: ConfigMap, name: cms-grouped, group: group1}
- {apiVersion: v1, kind: Pod, name: pods-grouped, group: group1}
`);
    const ctx = engine.kubeStateSet(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: my-res-obj-2, namespace: default}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm-obj-1, namespace: default}
`);
    expect(ctx.map(c => [c.binding, c.type])).toEqual([
      ["deployment", "Synchronization"],
      ["pods", "Synchronization"],
      ["pods-grouped", "Group"],
    ]);
    expect(ctx[0]?.snapshots?.deployment).toHaveLength(1);
    expect(ctx[1]?.snapshots?.deployment).toHaveLength(1);
    expect(ctx[1]?.snapshots?.cms).toHaveLength(1);
    expect(ctx[1]?.objects).toEqual([]);
    expect(ctx[2]).toEqual({
      binding: "pods-grouped",
      type: "Group",
      groupName: "group1",
      snapshots: {
        "cms-grouped": [{ object: expect.objectContaining({ kind: "ConfigMap" }) }],
        "pods-grouped": [],
        "secrets-grouped": [],
      },
    });
  });

  it("grouped events are compacted (last survives), ungrouped ones are kept", () => {
    const engine = engineFor(`
configVersion: v1
kubernetes:
- {kind: Secret, name: secret, group: main}
- {kind: ConfigMap, name: cm, group: main}
- {kind: Pod, name: pod}
`);
    engine.kubeStateSet("");
    const obj = (kind: string, name: string) =>
      `apiVersion: v1\nkind: ${kind}\nmetadata: {name: ${name}, namespace: ns}`;
    const ctx = engine.kubeStateSet(
      [
        obj("Secret", "s1"),
        obj("ConfigMap", "c1"),
        obj("Secret", "s2"),
        obj("Pod", "p1"),
        obj("ConfigMap", "c2"),
      ].join("\n---\n"),
    );
    const summary = ctx.map(c => `${c.binding}:${c.type}:${c.watchEvent ?? ""}`);
    expect(summary).toEqual(["secret:Group:", "pod:Event:Added", "cm:Group:"]);
    expect(ctx[0]).not.toHaveProperty("watchEvent");
    expect(ctx[0]).not.toHaveProperty("object");
    expect(ctx[0]?.snapshots?.secret).toHaveLength(2);
    expect(ctx[2]?.snapshots?.cm).toHaveLength(2);
  });

  it("executeHookOnEvent filters events but the snapshot follows", () => {
    const engine = engineFor(`
configVersion: v1
kubernetes:
- {kind: Pod, name: only-deleted, executeHookOnEvent: [Deleted], includeSnapshotsFrom: [only-deleted]}
`);
    engine.kubeStateSet("");
    expect(engine.kubeStateSet(pod("a"))).toEqual([]);
    expect(engine.snapshots()["only-deleted"]).toHaveLength(1);
    const del = engine.kubeStateSet("");
    expect(del.map(c => c.watchEvent)).toEqual(["Deleted"]);
  });

  it("a jq error drops the event, logs it, and leaves the cache unchanged", () => {
    const logs: string[] = [];
    const engine = engineFor(
      `
configVersion: v1
kubernetes:
- {kind: Pod, name: p, jqFilter: 'if .metadata.name == "bad" then error("boom") else .metadata.name end'}
`,
      logs,
    );
    engine.kubeStateSet("");
    const ctx = engine.kubeStateSet(pods(pod("good"), pod("bad")));
    expect(ctx.map(c => c.filterResult)).toEqual(["good"]);
    expect(engine.snapshots().p).toHaveLength(1);
    expect(logs.join("\n")).toMatch(/jqFilter failed.*boom/);
  });

  it("keepFullObjectsInMemory:false: no object anywhere, sorted by namespace/Kind/name", () => {
    const engine = engineFor(`
configVersion: v1
kubernetes:
- {kind: ConfigMap, name: cms, jqFilter: .metadata.name, keepFullObjectsInMemory: false, includeSnapshotsFrom: [cms]}
`);
    const cm = (ns: string, name: string) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ${name}, namespace: ${ns}}`;
    const sync = engine.kubeStateSet([cm("b", "x"), cm("a", "z"), cm("a", "y")].join("\n---\n"));
    expect(sync).toEqual([
      {
        binding: "cms",
        type: "Synchronization",
        objects: [{ filterResult: "y" }, { filterResult: "z" }, { filterResult: "x" }],
        snapshots: { cms: [{ filterResult: "y" }, { filterResult: "z" }, { filterResult: "x" }] },
      },
    ]);
    const ev = engine.kubeStateSet([cm("b", "x"), cm("a", "z")].join("\n---\n"));
    expect(ev).toEqual([
      {
        binding: "cms",
        type: "Event",
        watchEvent: "Deleted",
        filterResult: "y",
        snapshots: { cms: [{ filterResult: "z" }, { filterResult: "x" }] },
      },
    ]);
  });

  it("lifecycle contexts carry every binding's snapshot, even before any state", () => {
    const engine = engineFor(SELECTED_PODS);
    const expected: BindingContext[] = [{ binding: "afterHelm", snapshots: { selected_pods: [] } }];
    expect(engine.lifecycle("afterHelm")).toEqual(expected);
  });
});

describe("batch protocol conversion", () => {
  it("puts every binding in group main with keepFullObjectsInMemory false by default", () => {
    const config = normalizeHookConfig(
      {
        configVersion: "v1",
        kubernetes: [
          { name: "a", kind: "Pod", jqFilter: ".metadata.name" },
          { name: "b", kind: "Secret", keepFullObjectsInMemory: true },
        ],
        schedule: [
          { name: "s", crontab: "* * * * *", includeSnapshotsFrom: ["a"], allowFailure: true },
        ],
      },
      { batch: true },
    );
    expect(
      config.kubernetes.map(b => [b.group, b.keepFullObjectsInMemory, b.includeSnapshotsFrom]),
    ).toEqual([
      ["main", false, ["a", "b"]],
      ["main", true, ["a", "b"]],
    ]);
    expect(config.schedule[0]).toMatchObject({
      group: "main",
      allowFailure: false,
      includeSnapshotsFrom: ["a", "b"],
    });
    const engine = new BindingContextEngine(config, new ClusterState(), jq);
    const ctx = engine.kubeStateSet(pod("x"));
    expect(ctx).toEqual([
      {
        binding: "b",
        type: "Group",
        groupName: "main",
        snapshots: { a: [{ filterResult: "x" }], b: [] },
      },
    ]);
  });
});
