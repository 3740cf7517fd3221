// The node side of the registry module (spec §8.2): bash steps rendered from the
// registry-bashible-config (lib/domain/bashible-config.ts) and the objects that deliver them.
//
//   renderNodeSteps(config, { containerd, node?, credentials?, sandbox? })  → NodeStep[]
//   renderNodeDeliveryObjects(config, { delivery, containerd })             → objects to apply
//   renderRegistryProxyConfig(proxyEndpoints)                               → nginx config
//   renderHostsToml(key, host, containerd)                                  → one hosts.toml
//
// Decisions: docs/adr/0020-0023.
export {
  CONTAINERD_FLAVORS,
  type ContainerdFlavor,
  type CredentialsSource,
  NodeRenderError,
  renderHostsToml,
} from "./hosts-toml";
export {
  NODE_GROUP_CONFIGURATION_SCHEMA,
  NODE_STEPS_DELIVERIES,
  NodeDeliveryError,
  type NodeDeliveryOptions,
  type NodeGroupConfiguration,
  type NodeStepsDelivery,
  renderNodeDeliveryObjects,
} from "./node-group-configuration";
export { NODE_PATHS, REGISTRY_PROXY_LISTEN } from "./paths";
export {
  expectedRegistryDFiles,
  type NodeFacts,
  NODE_STEPS,
  type NodeStep,
  type NodeStepName,
  type NodeStepOptions,
  renderNodeSteps,
  renderRegistryProxyConfig,
} from "./steps";
