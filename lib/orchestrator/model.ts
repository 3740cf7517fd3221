// What the state machine reads (`reconcile`'s inputs), owned here as the contract between the
// domain core and its adapter. The hook's bindings (hooks/orchestrator/bindings.ts) project each
// watched Kubernetes object onto one of these shapes, field by field; nothing in this directory
// knows how the objects were watched or filtered.
import type { RegistryParams } from "../domain/settings";
import type { UserSecretName } from "../domain/users";
import type { CertKey } from "../domain/pki";
import type { RegistryUser } from "../domain/users";

/** Secret d8-system/deckhouse-registry: the registry deckhouse-controller pulls from now. */
export interface DeckhouseRegistrySnapshot {
  address?: string;
  path?: string;
  scheme?: string;
  ca?: string;
  dockerConfigJson?: string;
}

/** Secret d8-system/registry-pki: a pair counts only with both halves present. */
export interface PkiSnapshot {
  ca?: CertKey;
  token?: CertKey;
}

/** One `registry-user-<name>` secret. */
export interface UserSnapshot {
  secretName: UserSecretName;
  name: string;
  password: string;
  passwordHash: string;
}

/** The rollout numbers of a Deployment, as `kubectl rollout status` reads them. */
export interface DeploymentRollout {
  generation: number;
  observedGeneration: number;
  /** spec.replicas (default 1) */
  desired: number;
  /** status.replicas: all pods, old and new */
  replicas: number;
  updated: number;
  available: number;
  /** `registry.deckhouse.io/version` annotation */
  version: string | undefined;
}

/** The deckhouse leader pod, whose restart applies a new deckhouse-registry. */
export interface SwitcherPodSnapshot {
  ready: boolean;
  readyMessage: string;
  registryVersion: string | undefined;
}

/** Service d8-system/registry: which pods (`type` of its selector) the fixed address resolves to. */
export interface RegistryServiceSnapshot {
  selects: string | undefined;
}

/** A node as bashible's stages see it. */
export interface NodeSnapshot {
  name: string;
  isMaster: boolean;
  /** `registry.deckhouse.io/version` annotation, "unknown" when absent. */
  version: string;
  internalIP: string | undefined;
  containerdConfigMode: string | undefined;
}

/** A control-plane node, where node services run. */
export interface MasterNodeSnapshot {
  name: string;
  ip: string | undefined;
  ready: boolean;
}

/** The mirror pod of a node services static pod. */
export interface StaticPodSnapshot {
  name: string;
  node: string;
  ready: boolean;
  version: string | undefined;
}

/** What the checker hook reports in `registry.internal.checker.state`. */
export interface CheckerStatus {
  version?: string;
  ready?: boolean;
  message?: string;
}

export interface OrchestratorInputs {
  params: RegistryParams;
  currentRegistry: DeckhouseRegistrySnapshot;
  pkiSecret?: PkiSnapshot;
  userSecrets: readonly UserSnapshot[];
  inClusterProxy?: DeploymentRollout;
  /** Absent until Helm has rendered the Service. */
  registryService?: RegistryServiceSnapshot;
  switcherPod?: SwitcherPodSnapshot;
  nodes: readonly NodeSnapshot[];
  bashibleSecretExists: boolean;
  masters: readonly MasterNodeSnapshot[];
  staticPods: readonly StaticPodSnapshot[];
  /** Bootstrap seed of registry-init, present only while the init secret is not yet applied. */
  init?: { ca?: CertKey; users?: Partial<Record<"ro" | "rw", RegistryUser>> };
  checker: CheckerStatus;
  /**
   * CA of the client certificate ingress-nginx presents to the Local registries (Deckhouse's
   * kube-rbac-proxy CA, `global.internal.modules.kubeRBACProxyCA.cert`); absent outside Deckhouse.
   */
  ingressClientCa?: string;
}
