// Validation of rendered objects against the Kubernetes schemas (kubernetes-models and the
// model packages of the CRDs we render). A kind without a model here is a failure, not a pass:
// add its model when the module starts rendering it.
import { Certificate } from "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { ValidatingAdmissionPolicy } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";
import { ValidatingAdmissionPolicyBinding } from "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { Ingress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { KubeObject } from "../../lib/runtime/types";

type Model = new (data: never) => { validate(): void };

const MODELS: Record<string, Model> = {
  "v1/Secret": Secret as unknown as Model,
  "v1/Service": Service as unknown as Model,
  "v1/ServiceAccount": ServiceAccount as unknown as Model,
  "apps/v1/Deployment": Deployment as unknown as Model,
  "apps/v1/DaemonSet": DaemonSet as unknown as Model,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget as unknown as Model,
  "networking.k8s.io/v1/Ingress": Ingress as unknown as Model,
  "rbac.authorization.k8s.io/v1/Role": Role as unknown as Model,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding as unknown as Model,
  "rbac.authorization.k8s.io/v1/ClusterRole": ClusterRole as unknown as Model,
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": ClusterRoleBinding as unknown as Model,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy":
    ValidatingAdmissionPolicy as unknown as Model,
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding":
    ValidatingAdmissionPolicyBinding as unknown as Model,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule as unknown as Model,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor as unknown as Model,
  "cert-manager.io/v1/Certificate": Certificate as unknown as Model,
};

/** Throws naming the object and the schema violation. */
export function validateKubernetesObject(o: KubeObject): void {
  const id = `${o.apiVersion}/${o.kind}`;
  const Model = MODELS[id];
  if (!Model) throw new Error(`${id} ${o.metadata?.name}: no schema model known to the tests`);
  try {
    new Model(o as never).validate();
  } catch (err) {
    throw new Error(
      `${id} ${o.metadata.namespace ?? ""}/${o.metadata.name}: ${(err as Error).message}`,
    );
  }
}
