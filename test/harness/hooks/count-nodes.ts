// A test hook exercising every output: values (internal.nodes, internal.count), a ConfigMap
// (CreateOrUpdate), a MergePatch with ignoreMissingObject, a grouped metric, logs. A node named
// "explode" makes it fail; `internal.state = "Bogus"` on a node label makes it violate the schema.
import { defineHook } from "../../../lib/runtime/define-hook";
import { record, string } from "../../../lib/runtime/narrow";

export default defineHook({
  name: "count-nodes",
  beforeHelm: 10,
  kubernetes: {
    nodes: {
      apiVersion: "v1",
      kind: "Node",
      jqFilter: '{name: .metadata.name, state: (.metadata.labels["test/state"] // "Ready")}',
      keepFullObjectsInMemory: false,
      narrow: item => {
        const r = record(item.filterResult, "node");
        return { name: string(r.name, "node.name"), state: string(r.state, "node.state") };
      },
    },
  },
  schedule: [{ name: "every-minute", crontab: "* * * * *" }],
  handler: ({ snapshots, values, kubernetes, metrics, log }) => {
    const nodes = snapshots.nodes.map(n => n.name).sort();
    if (nodes.includes("explode")) throw new Error("node explode is not supported");
    log.info("counted nodes", { count: nodes.length });
    values.set("registry.internal.nodes", nodes);
    values.set("registry.internal.count", nodes.length);
    const state = snapshots.nodes.find(n => n.state !== "Ready")?.state;
    if (state) values.set("registry.internal.state", state);
    kubernetes.createOrUpdate({
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "node-count", namespace: "d8-system" },
      data: { count: String(nodes.length) },
    });
    kubernetes.mergePatch(
      { kind: "ConfigMap", namespace: "d8-system", name: "maybe", ignoreMissingObject: true },
      { metadata: { labels: { seen: "true" } } },
    );
    metrics.set("d8_registry_test_nodes", nodes.length, {}, "count_nodes");
  },
});
