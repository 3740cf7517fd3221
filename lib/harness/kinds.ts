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

const BUILTIN: KindInfo[] = [
  core("Pod", "pods", ["po"], true, true),
  core("Node", "nodes", ["no"], false, true),
  core("Namespace", "namespaces", ["ns"], false, true),
  core("Secret", "secrets", [], true, false),
  core("ConfigMap", "configmaps", ["cm"], true, false),
  core("Service", "services", ["svc"], true, true),
  core("ServiceAccount", "serviceaccounts", ["sa"], true, false),
  core("Endpoints", "endpoints", ["ep"], true, false),
  core("Event", "events", ["ev"], true, false),
  core("PersistentVolumeClaim", "persistentvolumeclaims", ["pvc"], true, true),
  core("PersistentVolume", "persistentvolumes", ["pv"], false, true),
  apps("Deployment", "deployments", ["deploy"]),
  apps("DaemonSet", "daemonsets", ["ds"]),
  apps("StatefulSet", "statefulsets", ["sts"]),
  apps("ReplicaSet", "replicasets", ["rs"]),
  kind("Job", "batch/v1", "jobs", [], true, true),
  kind("CronJob", "batch/v1", "cronjobs", ["cj"], true, true),
  kind("Ingress", "networking.k8s.io/v1", "ingresses", ["ing"], true, true),
  kind("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies", ["netpol"], true, false),
  kind("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", ["pdb"], true, true),
  rbac("ClusterRole", "clusterroles", false),
  rbac("ClusterRoleBinding", "clusterrolebindings", false),
  rbac("Role", "roles", true),
  rbac("RoleBinding", "rolebindings", true),
  kind("StorageClass", "storage.k8s.io/v1", "storageclasses", ["sc"], false, false),
  kind("PriorityClass", "scheduling.k8s.io/v1", "priorityclasses", ["pc"], false, false),
  kind("Lease", "coordination.k8s.io/v1", "leases", [], true, false),
  kind(
    "CustomResourceDefinition",
    "apiextensions.k8s.io/v1",
    "customresourcedefinitions",
    ["crd", "crds"],
    false,
    true,
  ),
  kind(
    "ValidatingWebhookConfiguration",
    "admissionregistration.k8s.io/v1",
    "validatingwebhookconfigurations",
    [],
    false,
    false,
  ),
  kind(
    "MutatingWebhookConfiguration",
    "admissionregistration.k8s.io/v1",
    "mutatingwebhookconfigurations",
    [],
    false,
    false,
  ),
  kind("APIService", "apiregistration.k8s.io/v1", "apiservices", [], false, true),
  kind("ModuleConfig", "deckhouse.io/v1alpha1", "moduleconfigs", ["mc"], false, true),
  kind("Module", "deckhouse.io/v1alpha1", "modules", [], false, true),
  kind("NodeGroup", "deckhouse.io/v1", "nodegroups", ["ng"], false, true),
];

function kind(
  k: string,
  apiVersion: string,
  plural: string,
  shortNames: string[],
  namespaced: boolean,
  statusSubresource: boolean,
): KindInfo {
  return { kind: k, apiVersion, plural, shortNames, namespaced, statusSubresource };
}
function core(k: string, plural: string, short: string[], ns: boolean, status: boolean): KindInfo {
  return kind(k, "v1", plural, short, ns, status);
}
function apps(k: string, plural: string, short: string[]): KindInfo {
  return kind(k, "apps/v1", plural, short, true, true);
}
function rbac(k: string, plural: string, namespaced: boolean): KindInfo {
  return kind(k, "rbac.authorization.k8s.io/v1", plural, [], namespaced, false);
}

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
