// What the fake API server knows about kinds: canonical name, plural and short names (bindings may
// name a kind any of these ways, case-insensitively), API group, scope, and whether `.status` is
// a subresource (then a plain update cannot change it and a `status` patch changes only it).

export interface KindInfo {
  kind: string;
  /** Preferred apiVersion, e.g. `apps/v1`. */
  apiVersion: string;
  plural: string;
  shortNames?: string[];
  namespaced: boolean;
  statusSubresource?: boolean;
}

/** One built-in kind of an apiVersion: `[kind, plural, shortNames, namespaced, statusSubresource]`. */
type KindRow = readonly [string, string, string[], boolean, boolean];

const NAMESPACED = true;
const CLUSTER = false;
const STATUS = true;
const NO_STATUS = false;

const BUILTIN_BY_API_VERSION: Readonly<Record<string, readonly KindRow[]>> = {
  v1: [
    ["Pod", "pods", ["po"], NAMESPACED, STATUS],
    ["Node", "nodes", ["no"], CLUSTER, STATUS],
    ["Namespace", "namespaces", ["ns"], CLUSTER, STATUS],
    ["Secret", "secrets", [], NAMESPACED, NO_STATUS],
    ["ConfigMap", "configmaps", ["cm"], NAMESPACED, NO_STATUS],
    ["Service", "services", ["svc"], NAMESPACED, STATUS],
    ["ServiceAccount", "serviceaccounts", ["sa"], NAMESPACED, NO_STATUS],
    ["Endpoints", "endpoints", ["ep"], NAMESPACED, NO_STATUS],
    ["Event", "events", ["ev"], NAMESPACED, NO_STATUS],
    ["PersistentVolumeClaim", "persistentvolumeclaims", ["pvc"], NAMESPACED, STATUS],
    ["PersistentVolume", "persistentvolumes", ["pv"], CLUSTER, STATUS],
  ],
  "apps/v1": [
    ["Deployment", "deployments", ["deploy"], NAMESPACED, STATUS],
    ["DaemonSet", "daemonsets", ["ds"], NAMESPACED, STATUS],
    ["StatefulSet", "statefulsets", ["sts"], NAMESPACED, STATUS],
    ["ReplicaSet", "replicasets", ["rs"], NAMESPACED, STATUS],
  ],
  "batch/v1": [
    ["Job", "jobs", [], NAMESPACED, STATUS],
    ["CronJob", "cronjobs", ["cj"], NAMESPACED, STATUS],
  ],
  "networking.k8s.io/v1": [
    ["Ingress", "ingresses", ["ing"], NAMESPACED, STATUS],
    ["NetworkPolicy", "networkpolicies", ["netpol"], NAMESPACED, NO_STATUS],
  ],
  "policy/v1": [["PodDisruptionBudget", "poddisruptionbudgets", ["pdb"], NAMESPACED, STATUS]],
  "rbac.authorization.k8s.io/v1": [
    ["ClusterRole", "clusterroles", [], CLUSTER, NO_STATUS],
    ["ClusterRoleBinding", "clusterrolebindings", [], CLUSTER, NO_STATUS],
    ["Role", "roles", [], NAMESPACED, NO_STATUS],
    ["RoleBinding", "rolebindings", [], NAMESPACED, NO_STATUS],
  ],
  "storage.k8s.io/v1": [["StorageClass", "storageclasses", ["sc"], CLUSTER, NO_STATUS]],
  "scheduling.k8s.io/v1": [["PriorityClass", "priorityclasses", ["pc"], CLUSTER, NO_STATUS]],
  "coordination.k8s.io/v1": [["Lease", "leases", [], NAMESPACED, NO_STATUS]],
  "apiextensions.k8s.io/v1": [
    ["CustomResourceDefinition", "customresourcedefinitions", ["crd", "crds"], CLUSTER, STATUS],
  ],
  "admissionregistration.k8s.io/v1": [
    ["ValidatingWebhookConfiguration", "validatingwebhookconfigurations", [], CLUSTER, NO_STATUS],
    ["MutatingWebhookConfiguration", "mutatingwebhookconfigurations", [], CLUSTER, NO_STATUS],
  ],
  "apiregistration.k8s.io/v1": [["APIService", "apiservices", [], CLUSTER, STATUS]],
  "deckhouse.io/v1alpha1": [
    ["ModuleConfig", "moduleconfigs", ["mc"], CLUSTER, STATUS],
    ["Module", "modules", [], CLUSTER, STATUS],
  ],
  "deckhouse.io/v1": [["NodeGroup", "nodegroups", ["ng"], CLUSTER, STATUS]],
};

const BUILTIN: KindInfo[] = Object.entries(BUILTIN_BY_API_VERSION).flatMap(([apiVersion, rows]) =>
  rows.map(([kind, plural, shortNames, namespaced, statusSubresource]) => ({
    kind,
    apiVersion,
    plural,
    shortNames,
    namespaced,
    statusSubresource,
  })),
);

/** API group of an apiVersion: `""` for the core group (`v1`, also the informal `core/v1`). */
export function apiGroup(apiVersion: string | undefined): string | undefined {
  if (apiVersion === undefined || apiVersion === "") return undefined;
  const slash = apiVersion.indexOf("/");
  if (slash < 0) return "";
  const group = apiVersion.slice(0, slash);
  return group === "core" ? "" : group;
}

export class KindRegistry {
  private readonly byAlias = new Map<string, KindInfo[]>();

  constructor(extra: readonly KindInfo[] = []) {
    for (const info of [...BUILTIN, ...extra]) this.register(info);
  }

  register(info: KindInfo): void {
    for (const alias of [info.kind, info.plural, ...(info.shortNames ?? [])]) {
      const key = alias.toLowerCase();
      const list = (this.byAlias.get(key) ?? []).filter(
        i => !(i.kind === info.kind && apiGroup(i.apiVersion) === apiGroup(info.apiVersion)),
      );
      this.byAlias.set(key, [info, ...list]);
    }
  }

  /** Like Deckhouse's `f.RegisterCRD(group, version, kind, namespaced)`. */
  registerCRD(group: string, version: string, kindName: string, namespaced: boolean): void {
    const lower = kindName.toLowerCase();
    this.register({
      kind: kindName,
      apiVersion: group ? `${group}/${version}` : version,
      plural: lower.endsWith("s") ? `${lower}es` : `${lower}s`,
      namespaced,
      statusSubresource: true,
    });
  }

  /** The kind a binding or operation means by `name` (kind, plural or short name, any case). */
  resolve(name: string, apiVersion?: string): KindInfo | undefined {
    const candidates = this.byAlias.get(name.toLowerCase()) ?? [];
    const group = apiGroup(apiVersion);
    if (group === undefined) return candidates[0];
    return candidates.find(c => apiGroup(c.apiVersion) === group);
  }

  /** Canonical kind name; unknown kinds keep their spelling. */
  canonicalKind(name: string, apiVersion?: string): string {
    return this.resolve(name, apiVersion)?.kind ?? this.resolve(name)?.kind ?? name;
  }
}
