// Every constructed binding context of the reference fixtures, reproduced by the engine from an
// equivalent cluster state and hook config, compared as JSON (deep equality).
import { beforeAll, describe, expect, it } from "vitest";
import type { ModuleHookConfig } from "../../lib/runtime/types";
import { ClusterState } from "../../lib/harness/cluster";
import { BindingContextEngine } from "../../lib/harness/engine";
import { normalizeHookConfig } from "../../lib/harness/hook-config";
import type { JqEngine } from "../../lib/harness/jq";
import { loadJq } from "../../lib/harness/jq";
import { fixtureJson } from "./fixtures";

let jq: JqEngine;
beforeAll(async () => {
  jq = await loadJq();
});

const moduleConfig = () => fixtureJson<ModuleHookConfig>("constructed/hook-config-module.json");

/** The module config with the nodes binding's labelSelector dropped (fixtures whose nodes carry no labels). */
function withoutNodeLabels(config = moduleConfig()): ModuleHookConfig {
  for (const b of config.kubernetes ?? []) if (b.name === "nodes") delete b.labelSelector;
  return config;
}

function engineFor(config: unknown, opts: { batch?: boolean } = {}) {
  return new BindingContextEngine(normalizeHookConfig(config, opts), new ClusterState(), jq);
}

const worker = (name: string, spec: object = {}, labelled = true) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name, ...(labelled && { labels: { "node-role.kubernetes.io/worker": "" } }) },
  spec,
});
const bareNode = (name: string, extra: object = {}) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name },
  ...extra,
});
const settingsCm = {
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "my-module-settings", namespace: "d8-my-module" },
  data: { replicas: "3" },
};

describe("constructed fixtures", () => {
  it("hook-config-module.json is a valid module hook config", () => {
    const config = normalizeHookConfig(moduleConfig());
    expect(config.kubernetes.map(b => b.name)).toEqual(["nodes", "settings_cm"]);
    expect(config.kubernetes[1]).toMatchObject({
      executeHookOnEvent: [],
      executeHookOnSynchronization: false,
      keepFullObjectsInMemory: false,
    });
    expect(config.schedule[0]?.includeSnapshotsFrom).toEqual(["nodes", "settings_cm"]);
  });

  it("bc-kubernetes-synchronization.json", () => {
    const engine = engineFor(moduleConfig());
    const contexts = engine.kubeStateSet([
      worker("worker-b", { unschedulable: true }),
      worker("worker-a"),
      worker("not-a-worker", {}, false),
      settingsCm,
    ]);
    expect(contexts).toEqual(fixtureJson("constructed/bc-kubernetes-synchronization.json"));
  });

  it("bc-kubernetes-synchronization-empty.json", () => {
    const contexts = engineFor(moduleConfig()).kubeStateSet([]);
    expect(contexts).toEqual(fixtureJson("constructed/bc-kubernetes-synchronization-empty.json"));
  });

  it("bc-kubernetes-event-added.json", () => {
    const engine = engineFor(moduleConfig());
    engine.kubeStateSet([worker("worker-a"), worker("worker-b", {}, false)]);
    const contexts = engine.kubeStateSet([
      worker("worker-a"),
      worker("worker-b", {}, false),
      worker("worker-c"),
    ]);
    expect(contexts).toEqual(fixtureJson("constructed/bc-kubernetes-event-added.json"));
  });

  it("bc-kubernetes-event-deleted-no-full-object.json", () => {
    const engine = engineFor({
      configVersion: "v1",
      kubernetes: [
        { name: "cm_data", kind: "ConfigMap", jqFilter: ".data", keepFullObjectsInMemory: false },
      ],
    });
    const cm = { ...settingsCm, metadata: { name: "cm", namespace: "d8-my-module" } };
    engine.kubeStateSet([cm]);
    expect(engine.kubeStateSet([])).toEqual(
      fixtureJson("constructed/bc-kubernetes-event-deleted-no-full-object.json"),
    );
  });

  it("bc-combined-events.json (two queued events in one run, one snapshot read)", () => {
    const engine = engineFor(withoutNodeLabels());
    engine.kubeStateSet([]);
    const contexts = engine.kubeStateSequence([
      [bareNode("worker-c")],
      [bareNode("worker-c", { spec: { unschedulable: true } })],
    ]);
    // The fixture's snapshot object lacks the `spec` its own filterResult was computed from
    // (unschedulable: true); the operator reads one snapshot — the current object — for both.
    const expected = fixtureJson<Record<string, unknown>[]>("constructed/bc-combined-events.json");
    const current = bareNode("worker-c", { spec: { unschedulable: true } });
    for (const ctx of expected) {
      const nodes = (ctx.snapshots as { nodes: { object: unknown }[] }).nodes;
      expect(nodes[0]?.object).toEqual(bareNode("worker-c"));
      (nodes[0] as { object: unknown }).object = current;
    }
    expect(contexts).toEqual(expected);
  });

  it("bc-group.json (grouped Synchronization → one Group context)", () => {
    const config = withoutNodeLabels();
    for (const b of config.kubernetes ?? []) b.group = "main";
    const contexts = engineFor(config).kubeStateSet([bareNode("worker-a")]);
    expect(contexts).toEqual(fixtureJson("constructed/bc-group.json"));
  });

  it("bc-schedule-with-snapshots.json", () => {
    const engine = engineFor(withoutNodeLabels());
    engine.kubeStateSet([bareNode("worker-a"), settingsCm]);
    expect(engine.schedule("every-10m")).toEqual(
      fixtureJson("constructed/bc-schedule-with-snapshots.json"),
    );
    expect(engine.schedule("*/10 * * * *")).toEqual(
      fixtureJson("constructed/bc-schedule-with-snapshots.json"),
    );
  });

  it("bc-beforeHelm-with-snapshots.json", () => {
    const engine = engineFor(withoutNodeLabels());
    engine.kubeStateSet([settingsCm, bareNode("worker-a")]);
    expect(engine.lifecycle("beforeHelm")).toEqual(
      fixtureJson("constructed/bc-beforeHelm-with-snapshots.json"),
    );
  });

  it("bc-beforeHelm-no-kubernetes-bindings.json", () => {
    const engine = engineFor({ configVersion: "v1", beforeHelm: 10 });
    expect(engine.lifecycle("beforeHelm")).toEqual(
      fixtureJson("constructed/bc-beforeHelm-no-kubernetes-bindings.json"),
    );
  });
});

describe("verbatim binding contexts", () => {
  it("so-onstartup.json", () => {
    const engine = engineFor({ configVersion: "v1", onStartup: 1 });
    expect(engine.onStartup()).toEqual(fixtureJson("binding-contexts/valid/so-onstartup.json"));
  });

  it("so-schedule.json", () => {
    const engine = engineFor({
      configVersion: "v1",
      schedule: [{ name: "incremental", crontab: "0 * * * *" }],
    });
    expect(engine.schedule("incremental")).toEqual(
      fixtureJson("binding-contexts/valid/so-schedule.json"),
    );
  });

  it("ms-group-empty-snapshot-items.json (batch hook: group, no full objects, no jqFilter)", () => {
    const engine = engineFor({
      configVersion: "v1",
      kubernetes: [
        { name: "node_roles", kind: "Node", group: "policy", keepFullObjectsInMemory: false },
      ],
    });
    expect(engine.kubeStateSet([bareNode("a"), bareNode("b")])).toEqual(
      fixtureJson("binding-contexts/valid/ms-group-empty-snapshot-items.json"),
    );
  });
});
