// Refuses Proxy and Local on a cloud cluster that has no node prepared with a data device for
// /opt/deckhouse/registry (docs/architecture.md#restrictions): there the cache or the local store
// would fill the root disk. beforeHelm order 5, before the orchestrator starts a switch it could
// not finish.
import { defineHook } from "../lib/runtime/define-hook";
import { filterObject, optionalString, string } from "../lib/runtime/narrow";

const DATA_DEVICE_LABEL = "node.deckhouse.io/registry-data-device-ready";

export default defineHook({
  name: "check-data-devices",
  queue: "/modules/registry/check-data-devices-bofore-helm",
  group: "main",
  beforeHelm: 5,
  kubernetes: {
    config: {
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "ModuleConfig",
      nameSelector: { matchNames: ["deckhouse"] },
      jqFilter: "{mode: .spec.settings.registry.mode}",
      executeHookOnEvent: [],
      executeHookOnSynchronization: false,
      keepFullObjectsInMemory: false,
      narrow: item =>
        optionalString(filterObject(item, "ModuleConfig deckhouse").mode, "registry.mode") ??
        "Unmanaged",
    },
    "data-device-nodes": {
      apiVersion: "v1",
      kind: "Node",
      labelSelector: { matchLabels: { [DATA_DEVICE_LABEL]: "true" } },
      jqFilter: "{name: .metadata.name}",
      executeHookOnEvent: [],
      executeHookOnSynchronization: false,
      keepFullObjectsInMemory: false,
      narrow: item => string(filterObject(item, "Node").name, "Node metadata.name"),
    },
  },
  handler({ snapshots, values }) {
    const mode = snapshots.config[0] ?? "Unmanaged";
    if (mode !== "Proxy" && mode !== "Local") return;
    const clusterType = values.get("global.clusterConfiguration.clusterType");
    if (typeof clusterType !== "string" || clusterType === "") {
      throw new Error("Cluster type 'global.clusterConfiguration.clusterType' not found");
    }
    if (clusterType === "Static") return;
    if (snapshots["data-device-nodes"].length === 0) {
      throw new Error(
        `No nodes with registry data devices found in the cloud cluster: mode ${mode} needs at ` +
          `least one node labelled ${DATA_DEVICE_LABEL}=true. Proxy and Local are unsupported ` +
          `for non-static clusters (clusterType ${clusterType}); the admission policy refuses ` +
          `them there. Please use other available modes.`,
      );
    }
  },
});
