// Kubernetes bindings of the orchestrator (docs/architecture.md#orchestrator), with the registry
// settings read straight from ModuleConfig/deckhouse instead of the `registry-config` secret. Every
// binding projects what the orchestrator needs in its jqFilter (snapshots of 1000 nodes stay small)
// and keeps no full objects; the narrowing functions check that projection and fail closed on
// anything else.
import { MODULE_NAMESPACE } from "../../lib/domain/names";
import { NODE_SERVICES_POD_SELECTOR } from "../../lib/domain/node-services";
import type { CertKey } from "../../lib/domain/pki";
import type {
  DeckhouseRegistrySnapshot,
  DeploymentRollout,
  MasterNodeSnapshot,
  NodeSnapshot,
  PkiSnapshot,
  RegistryServiceSnapshot,
  StaticPodSnapshot,
  SwitcherPodSnapshot,
  UserSnapshot,
} from "../../lib/orchestrator/model";
import type { KubernetesBinding } from "../../lib/runtime/define-hook";
import type { ObjectAndFilterResult } from "../../lib/runtime/types";
import {
  filterObject,
  filterTuple,
  NarrowError,
  optionalBoolean,
  optionalNumber,
  optionalString,
  secretValue,
  string,
} from "../../lib/runtime/narrow";

const inNamespace = { namespace: { nameSelector: { matchNames: [MODULE_NAMESPACE] } } };

/** Snapshot-only: the hook runs on beforeHelm and on any change of what it watches. */
const watch = { keepFullObjectsInMemory: false } as const;

function secret<R>(name: string, jqFilter: string, narrow: (f: Record<string, unknown>) => R) {
  return {
    apiVersion: "v1",
    kind: "Secret",
    nameSelector: { matchNames: [name] },
    ...inNamespace,
    jqFilter,
    ...watch,
    narrow: item => narrow(filterObject(item, `Secret ${MODULE_NAMESPACE}/${name}`)),
  } satisfies KubernetesBinding<R>;
}

export interface ModuleConfigSnapshot {
  generation: number;
  /** `spec.settings.registry` as written (undefined when the section is absent). */
  registry: unknown;
}

export const moduleConfig: KubernetesBinding<ModuleConfigSnapshot> = {
  apiVersion: "deckhouse.io/v1alpha1",
  kind: "ModuleConfig",
  nameSelector: { matchNames: ["deckhouse"] },
  jqFilter: "{generation: .metadata.generation, registry: .spec.settings.registry}",
  ...watch,
  narrow: item => {
    const f = filterObject(item, "ModuleConfig deckhouse");
    return {
      generation: optionalNumber(f.generation, "ModuleConfig deckhouse metadata.generation") ?? 0,
      registry: f.registry ?? undefined,
    };
  },
};

export interface StateSecretSnapshot {
  /** The YAML document of `data.state`, undefined when the key is missing. */
  state: string | undefined;
}

export const stateSecret = secret<StateSecretSnapshot>(
  "registry-state",
  "{data: {state: .data.state}}",
  f => ({ state: secretValue(f.data, "state", "Secret registry-state") }),
);

export const deckhouseRegistrySecret = secret<DeckhouseRegistrySnapshot>(
  "deckhouse-registry",
  '{data: (.data // {} | {address, path, scheme, ca, ".dockerconfigjson"})}',
  f => {
    const what = "Secret deckhouse-registry";
    const out: DeckhouseRegistrySnapshot = {};
    const address = secretValue(f.data, "address", what);
    const path = secretValue(f.data, "path", what);
    const scheme = secretValue(f.data, "scheme", what);
    const ca = secretValue(f.data, "ca", what);
    const dockerConfigJson = secretValue(f.data, ".dockerconfigjson", what);
    if (address !== undefined) out.address = address;
    if (path !== undefined) out.path = path;
    if (scheme !== undefined) out.scheme = scheme;
    if (ca !== undefined) out.ca = ca;
    if (dockerConfigJson !== undefined) out.dockerConfigJson = dockerConfigJson;
    return out;
  },
);

/** A pair is usable only when both halves are present (docs/architecture.md#orchestrator). */
function pair(cert: string | undefined, key: string | undefined): CertKey | undefined {
  return cert && key ? { cert, key } : undefined;
}

export const pkiSecret = secret<PkiSnapshot>(
  "registry-pki",
  '{data: (.data // {} | {"ca.crt", "ca.key", "token.crt", "token.key"})}',
  f => {
    const what = "Secret registry-pki";
    const out: PkiSnapshot = {};
    const ca = pair(secretValue(f.data, "ca.crt", what), secretValue(f.data, "ca.key", what));
    const token = pair(
      secretValue(f.data, "token.crt", what),
      secretValue(f.data, "token.key", what),
    );
    if (ca) out.ca = ca;
    if (token) out.token = token;
    return out;
  },
);

export const USER_SECRETS = [
  "registry-user-ro",
  "registry-user-rw",
  "registry-user-mirror-puller",
  "registry-user-mirror-pusher",
] as const satisfies readonly UserSnapshot["secretName"][];

export const userSecrets: KubernetesBinding<UserSnapshot> = {
  apiVersion: "v1",
  kind: "Secret",
  nameSelector: { matchNames: [...USER_SECRETS] },
  ...inNamespace,
  jqFilter: "{secretName: .metadata.name, data: (.data // {} | {name, password, passwordHash})}",
  ...watch,
  narrow: item => {
    const f = filterObject(item, "user Secret");
    const secretName = string(f.secretName, "user Secret metadata.name");
    if (!(USER_SECRETS as readonly string[]).includes(secretName)) {
      throw new NarrowError(`user Secret ${secretName}: not a registry user secret`);
    }
    const what = `Secret ${secretName}`;
    return {
      secretName: secretName as UserSnapshot["secretName"],
      name: secretValue(f.data, "name", what) ?? "",
      password: secretValue(f.data, "password", what) ?? "",
      passwordHash: secretValue(f.data, "passwordHash", what) ?? "",
    };
  },
};

export const registryService: KubernetesBinding<RegistryServiceSnapshot> = {
  apiVersion: "v1",
  kind: "Service",
  nameSelector: { matchNames: ["registry"] },
  ...inNamespace,
  jqFilter: "{name: .metadata.name, type: .spec.selector.type}",
  ...watch,
  narrow: item => {
    const f = filterObject(item, "Service registry");
    return { selects: optionalString(f.type, "Service registry spec.selector.type") };
  },
};

export const inClusterProxy: KubernetesBinding<DeploymentRollout> = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  nameSelector: { matchNames: ["registry-incluster-proxy"] },
  ...inNamespace,
  jqFilter: `{
    version: .metadata.annotations["registry.deckhouse.io/version"],
    generation: (.metadata.generation // 0),
    observedGeneration: (.status.observedGeneration // 0),
    desired: (.spec.replicas // 1),
    replicas: (.status.replicas // 0),
    updated: (.status.updatedReplicas // 0),
    available: (.status.availableReplicas // 0)
  }`,
  ...watch,
  narrow: item => {
    const what = "Deployment registry-incluster-proxy";
    const f = filterObject(item, what);
    const n = (key: string) => optionalNumber(f[key], `${what} ${key}`) ?? 0;
    return {
      generation: n("generation"),
      observedGeneration: n("observedGeneration"),
      desired: optionalNumber(f.desired, `${what} spec.replicas`) ?? 1,
      replicas: n("replicas"),
      updated: n("updated"),
      available: n("available"),
      version: optionalString(f.version, `${what} version annotation`),
    };
  },
};

export const registrySwitcher: KubernetesBinding<SwitcherPodSnapshot> = {
  apiVersion: "v1",
  kind: "Pod",
  labelSelector: { matchLabels: { app: "deckhouse", leader: "true" } },
  ...inNamespace,
  jqFilter: `{
    phase: .status.phase,
    ready: ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length > 0),
    registryVersion: .metadata.annotations["checksum/registry-version"]
  }`,
  ...watch,
  narrow: item => {
    const what = "deckhouse leader Pod";
    const f = filterObject(item, what);
    const ready = optionalBoolean(f.ready, `${what} Ready condition`) ?? false;
    const phase = optionalString(f.phase, `${what} status.phase`) ?? "Unknown";
    return {
      ready,
      readyMessage: ready ? "Pod is ready" : `Pod phase is ${phase}`,
      registryVersion: optionalString(f.registryVersion, `${what} checksum/registry-version`),
    };
  },
};

/**
 * What the orchestrator reads of a Node, by position in the array the jqFilter projects. Thousands
 * of Nodes per run: without a key per field the binding context of 5000 Nodes is a third smaller
 * and parses about 1 ms faster (docs/adr/0166); the narrowing names each field in its messages.
 */
const NODE_FIELDS = [
  "metadata.name",
  "InternalIP",
  "control-plane label",
  "registry.deckhouse.io/version",
  "containerd label",
] as const;

export const bashibleNodes: KubernetesBinding<NodeSnapshot> = {
  apiVersion: "v1",
  kind: "Node",
  // the order of NODE_FIELDS
  jqFilter: `[
    .metadata.name,
    ([.status.addresses[]? | select(.type == "InternalIP") | .address][0]),
    (.metadata.labels // {} | has("node-role.kubernetes.io/control-plane")),
    .metadata.annotations["registry.deckhouse.io/version"],
    .metadata.labels["node.deckhouse.io/containerd-config-registry"]
  ]`,
  ...watch,
  narrow: item => wellFormedNode(item.filterResult) ?? checkedNode(item),
};

/**
 * A Node whose every value already has its type, read without the guards: thousands of Nodes
 * are narrowed on every run, and a guard call per field and a label string per Node were most
 * of that (docs/adr/0145). Anything else is undefined here and goes through `checkedNode`, whose
 * result for a well-formed Node is the same (null reads as absent, as there).
 */
function wellFormedNode(f: unknown): NodeSnapshot | undefined {
  if (!Array.isArray(f) || f.length !== NODE_FIELDS.length) return undefined;
  const name: unknown = f[0];
  const internalIP: unknown = f[1] ?? undefined;
  const isMaster: unknown = f[2] ?? false;
  const version: unknown = f[3] ?? "unknown";
  const containerdConfigMode: unknown = f[4] ?? undefined;
  if (typeof name !== "string" || typeof isMaster !== "boolean" || typeof version !== "string") {
    return undefined;
  }
  if (internalIP !== undefined && typeof internalIP !== "string") return undefined;
  if (containerdConfigMode !== undefined && typeof containerdConfigMode !== "string") {
    return undefined;
  }
  // key order: the inputs hash serialises the narrowed Node
  return { name, isMaster, version, internalIP, containerdConfigMode };
}

/** The guarded narrowing of a Node, whose messages name the object and the field. */
function checkedNode(item: ObjectAndFilterResult): NodeSnapshot {
  const [name, internalIP, isMaster, version, containerdConfigMode] = filterTuple(
    item,
    "Node",
    NODE_FIELDS,
  );
  const checkedName = string(name, "Node", NODE_FIELDS[0]);
  const what = `Node ${checkedName}`;
  return {
    name: checkedName,
    isMaster: optionalBoolean(isMaster, what, NODE_FIELDS[2]) ?? false,
    version: optionalString(version, what, NODE_FIELDS[3]) ?? "unknown",
    internalIP: optionalString(internalIP, what, NODE_FIELDS[1]),
    containerdConfigMode: optionalString(containerdConfigMode, what, NODE_FIELDS[4]),
  };
}

export interface BashibleSecretSnapshot {
  /** The YAML of `data.config`: what a restore of the state takes the config back from. */
  config: string | undefined;
}

export const bashibleSecret = secret<BashibleSecretSnapshot>(
  "registry-bashible-config",
  "{data: {config: .data.config}}",
  f => ({ config: secretValue(f.data, "config", "Secret registry-bashible-config") }),
);

export interface ComponentConfigSnapshot {
  /** The YAML of `data.config` and `data.version` as the orchestrator rendered them. */
  config: string | undefined;
  version: string | undefined;
}

/** The in-cluster proxy's config, read back only to restore the state (docs/adr/0081). */
export const inClusterProxyConfig = secret<ComponentConfigSnapshot>(
  "registry-incluster-proxy-config",
  "{data: {config: .data.config, version: .data.version}}",
  f => ({
    config: secretValue(f.data, "config", "Secret registry-incluster-proxy-config"),
    version: secretValue(f.data, "version", "Secret registry-incluster-proxy-config"),
  }),
);

export const masterNodes: KubernetesBinding<MasterNodeSnapshot> = {
  apiVersion: "v1",
  kind: "Node",
  labelSelector: { matchLabels: { "node-role.kubernetes.io/control-plane": "" } },
  jqFilter: `{
    name: .metadata.name,
    ip: ([.status.addresses[]? | select(.type == "InternalIP") | .address][0]),
    ready: ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length > 0)
  }`,
  ...watch,
  narrow: item => {
    const f = filterObject(item, "master Node");
    const name = string(f.name, "master Node metadata.name");
    return {
      name,
      ip: optionalString(f.ip, `master Node ${name} InternalIP`),
      ready: optionalBoolean(f.ready, `master Node ${name} Ready`) ?? false,
    };
  },
};

export const staticPods: KubernetesBinding<StaticPodSnapshot | null> = {
  apiVersion: "v1",
  kind: "Pod",
  labelSelector: { matchLabels: { ...NODE_SERVICES_POD_SELECTOR } },
  ...inNamespace,
  // Only mirror pods of static pods (owned by their Node) count; others filter to null.
  jqFilter: `if ([.metadata.ownerReferences[]? | select(.kind == "Node")] | length > 0) then {
    name: .metadata.name,
    node: .spec.nodeName,
    ready: ([.status.conditions[]? | select(.type == "Ready" and .status == "True")] | length > 0),
    version: .metadata.annotations["registry.deckhouse.io/config-version"]
  } else null end`,
  ...watch,
  narrow: item => {
    if (item.filterResult === null || item.filterResult === undefined) return null;
    const f = filterObject(item, "node services Pod");
    const name = string(f.name, "node services Pod metadata.name");
    return {
      name,
      node: string(f.node, `Pod ${name} spec.nodeName`),
      ready: optionalBoolean(f.ready, `Pod ${name} Ready`) ?? false,
      version: optionalString(f.version, `Pod ${name} registry.deckhouse.io/config-version`),
    };
  },
};

export interface NodeConfigSecretSnapshot extends ComponentConfigSnapshot {
  node: string;
}

const NODE_CONFIG_PREFIX = "registry-node-config-";

export const nodeConfigSecrets: KubernetesBinding<NodeConfigSecretSnapshot | null> = {
  apiVersion: "v1",
  kind: "Secret",
  labelSelector: { matchLabels: { app: "registry", type: "registry-node-services-config" } },
  ...inNamespace,
  jqFilter: "{name: .metadata.name, data: {config: .data.config, version: .data.version}}",
  ...watch,
  narrow: item => {
    const f = filterObject(item, "node config Secret");
    const name = string(f.name, "Secret metadata.name");
    if (!name.startsWith(NODE_CONFIG_PREFIX)) return null;
    const what = `Secret ${name}`;
    return {
      node: name.slice(NODE_CONFIG_PREFIX.length),
      config: secretValue(f.data, "config", what),
      version: secretValue(f.data, "version", what),
    };
  },
};

export interface InitSecretSnapshot {
  applied: boolean;
  config: string | undefined;
}

export const initSecret = secret<InitSecretSnapshot>(
  "registry-init",
  '{applied: (.metadata.annotations // {} | has("registry.deckhouse.io/is-applied")), data: {config: .data.config}}',
  f => ({
    applied: optionalBoolean(f.applied, "Secret registry-init is-applied annotation") ?? false,
    config: secretValue(f.data, "config", "Secret registry-init"),
  }),
);
