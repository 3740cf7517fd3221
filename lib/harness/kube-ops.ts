// KUBERNETES_PATCH_PATH: parsing (kube-ops-parse.ts) and applying to the fake cluster
// (kube-ops-apply.ts). This module is their common entry.
export { parseKubernetesOperations, type KubeOperationSpec } from "./kube-ops-parse";
export { applyKubernetesOperations, mergePatch, type OperationError } from "./kube-ops-apply";
