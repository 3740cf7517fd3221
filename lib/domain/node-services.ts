// Labels of the node services' static pods (docs/architecture.md#orchestrator, #node-services):
// nodeservices-manager writes them on the pod it creates, and the orchestrator selects the pods by
// them; one definition for both.
export const NODE_SERVICES_POD_SELECTOR = {
  "app.kubernetes.io/managed-by": "registry-nodeservices",
  heritage: "deckhouse",
  app: "registry",
  module: "registry",
  component: "registry-service",
  type: "node-services",
} as const;
