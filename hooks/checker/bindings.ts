// Kubernetes bindings of the checker hooks (docs/architecture.md#checker): the checker state secret
// (init), the critical embedded Modules and the deckhouse Deployment (loop). None of them runs the
// hook on events: the init hook runs once on Synchronization, the loop hook on its schedule with
// these snapshots included.
import { MODULE_NAMESPACE } from "../../lib/domain/names";
import type { KubernetesBinding } from "../../lib/runtime/define-hook";
import type { WatchEvent } from "../../lib/runtime/types";
import { filterObject, NarrowError, optionalString, secretValue } from "../../lib/runtime/narrow";
import { isRecord } from "../../lib/validation/reader";

export const STATE_SECRET = "registry-checker-state";
const inNamespace = { namespace: { nameSelector: { matchNames: [MODULE_NAMESPACE] } } };
const snapshotOnly = { executeHookOnEvent: [] as WatchEvent[], keepFullObjectsInMemory: false };

export interface StateSecretSnapshot {
  /** YAML document of `data.state`. */
  state: string | undefined;
  /** YAML document of `data.params`. */
  params: string | undefined;
}

export const stateSecret: KubernetesBinding<StateSecretSnapshot> = {
  apiVersion: "v1",
  kind: "Secret",
  nameSelector: { matchNames: [STATE_SECRET] },
  ...inNamespace,
  jqFilter: "{data: {state: .data.state, params: .data.params}}",
  ...snapshotOnly,
  narrow: item => {
    const what = `Secret ${MODULE_NAMESPACE}/${STATE_SECRET}`;
    const f = filterObject(item, what);
    return {
      state: secretValue(f.data, "state", what),
      params: secretValue(f.data, "params", what),
    };
  },
};

/** The loop reads the secret only to skip writing what it already holds. */
export const stateSecretForLoop: KubernetesBinding<StateSecretSnapshot> = {
  ...stateSecret,
  executeHookOnSynchronization: false,
};

/** Name of a critical embedded module, or null for any other module. */
export const criticalModules: KubernetesBinding<string | null> = {
  apiVersion: "deckhouse.io/v1alpha1",
  kind: "Module",
  jqFilter:
    'if (.properties.source == "Embedded" and .properties.critical == true) then .metadata.name else null end',
  ...snapshotOnly,
  executeHookOnSynchronization: false,
  narrow: item => {
    if (item.filterResult === null || item.filterResult === undefined) return null;
    const name = optionalString(item.filterResult, "Module filterResult");
    if (!name) throw new NarrowError("Module filterResult: empty module name");
    return name;
  },
};

export interface DeckhouseDeploymentSnapshot {
  containers: Record<string, string>;
  initContainers: Record<string, string>;
}

function images(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw new NarrowError(`${what}: expected an object`);
  const out: Record<string, string> = {};
  for (const [name, image] of Object.entries(v)) {
    if (typeof image !== "string" || image === "") {
      throw new NarrowError(`${what}.${name}: expected an image reference`);
    }
    out[name] = image;
  }
  return out;
}

export const deckhouseDeployment: KubernetesBinding<DeckhouseDeploymentSnapshot> = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  nameSelector: { matchNames: ["deckhouse"] },
  ...inNamespace,
  jqFilter:
    "{containers: ([.spec.template.spec.containers[]? | {key: .name, value: .image}] | from_entries)," +
    " initContainers: ([.spec.template.spec.initContainers[]? | {key: .name, value: .image}] | from_entries)}",
  ...snapshotOnly,
  executeHookOnSynchronization: false,
  narrow: item => {
    const f = filterObject(item, `Deployment ${MODULE_NAMESPACE}/deckhouse`);
    return {
      containers: images(f.containers, "Deployment d8-system/deckhouse containers"),
      initContainers: images(f.initContainers, "Deployment d8-system/deckhouse initContainers"),
    };
  },
};
