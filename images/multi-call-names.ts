// The names the data-plane executable answers to (images/dataplane.ts), each with the program it
// runs. Apart from the executable so that tests and the image build read them without running it.
export const MULTI_CALL_NAMES = {
  gateway: "gateway",
  mirrorer: "mirrorer",
  "nodeservices-manager": "nodeservices-manager",
  // the DaemonSet's command (templates/node-services/registry-nodeservices-manager.yaml.hbs)
  manager: "nodeservices-manager",
} as const;
