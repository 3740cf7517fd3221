// In-cluster proxy (docs/architecture.md#in-cluster-proxy): the Direct mode's pull-through proxy
// for in-cluster clients, a Deployment on masters behind Service `registry`. Its config lives in
// the state; its readiness comes from the Deployment's rollout and version annotation.
import type { DeploymentRollout } from "./model";
import type { UpstreamRegistryParams, StageResult } from "./bashible";
import { IN_CLUSTER_PROXY_HOSTS, type CertKey } from "../domain/pki";
import type { OrchestratorDeps } from "./deps";
import { leavesOf, serverPkiConfig } from "./server-pki";
import type { ServerPkiConfig } from "./server-pki";
import type { RegistryUser } from "../domain/users";
import { computeHash } from "./hash";
import { splitImagesRepo } from "./registry-address";

export const INCLUSTER_PROXY_NAME = "registry-incluster-proxy";

export interface InClusterProxyConfig extends ServerPkiConfig {
  /** Who clients log in as when the upstream is anonymous (the module's `ro` user). */
  client_user?: RegistryUser;
  /**
   * Credentials clients hold during a switch that changes deckhouse-registry's, accepted beside
   * the client user until the switch is over (docs/adr/0122).
   */
  transition_clients?: RegistryUser[];
  upstream: {
    scheme: string;
    host: string;
    path: string;
    ca?: string;
    user: RegistryUser;
  };
}

export interface InClusterProxyState {
  version: string;
  config: InClusterProxyConfig;
}

export interface InClusterProxyInputs {
  upstream: UpstreamRegistryParams;
  /** Set when the upstream takes anonymous pulls: clients still authenticate, as this user. */
  clientUser?: RegistryUser;
  /** Accepted too while a switch is in progress (InClusterProxyConfig.transition_clients). */
  transitionClients?: readonly RegistryUser[];
  ca: CertKey;
  token: CertKey;
  httpSecret: string;
}

export async function inClusterProxyConfig(
  previous: InClusterProxyState | undefined,
  inputs: InClusterProxyInputs,
  deps: OrchestratorDeps,
): Promise<InClusterProxyState> {
  const prev = previous?.config;
  const leaves = await deps.ensureLeaves(leavesOf(prev), inputs.ca, IN_CLUSTER_PROXY_HOSTS);
  const { host, path } = splitImagesRepo(inputs.upstream.imagesRepo);
  const name = inputs.upstream.username ?? "";
  const password = inputs.upstream.password ?? "";
  // Both empty: anonymous upstream, nothing to hash. A hash without a password is stale.
  const passwordHash =
    password === ""
      ? ""
      : await deps.ensurePasswordHash(
          password,
          prev?.upstream.user.password_hash || undefined,
          prev?.upstream.user.password,
        );
  const config: InClusterProxyConfig = {
    ...serverPkiConfig({ ca: inputs.ca, token: inputs.token }, leaves, inputs.httpSecret),
    ...(inputs.clientUser ? { client_user: inputs.clientUser } : {}),
    ...(inputs.transitionClients?.length
      ? { transition_clients: [...inputs.transitionClients] }
      : {}),
    upstream: {
      scheme: inputs.upstream.scheme.toLowerCase(),
      host,
      path,
      ...(inputs.upstream.ca ? { ca: inputs.upstream.ca } : {}),
      user: { name, password, password_hash: passwordHash },
    },
  };
  return { version: computeHash(config), config };
}

/** Who the proxy lets pull: the client user (or the upstream's), then the transition clients. */
export function acceptedClients(config: InClusterProxyConfig): RegistryUser[] {
  return [config.client_user ?? config.upstream.user, ...(config.transition_clients ?? [])];
}

/** The same config accepting `user` too (a new version; itself when it accepts `user` already). */
export function acceptingAlso(proxy: InClusterProxyState, user: RegistryUser): InClusterProxyState {
  const accepted = acceptedClients(proxy.config);
  if (accepted.some(u => u.name === user.name && u.password === user.password)) return proxy;
  const config = {
    ...proxy.config,
    transition_clients: [...(proxy.config.transition_clients ?? []), user],
  };
  return { version: computeHash(config), config };
}

/** The rollout message of the original (kubectl's rollout status, in its words). */
export function rolloutProblem(d: DeploymentRollout): string | undefined {
  const name = INCLUSTER_PROXY_NAME;
  if (d.generation > d.observedGeneration) {
    return "Deployment update is not yet observed by the controller";
  }
  if (d.updated < d.desired) {
    return `Deployment "${name}": ${d.updated} of ${d.desired} Pods have been updated to the latest specification`;
  }
  if (d.replicas > d.updated) {
    return `Deployment "${name}": ${d.replicas - d.updated} outdated Pods are still running`;
  }
  if (d.available < d.updated) {
    return `Deployment "${name}": ${d.available} of ${d.updated} updated Pods are currently available`;
  }
  return undefined;
}

export function inClusterProxyReadiness(
  expectedVersion: string,
  deployment: DeploymentRollout | undefined,
): StageResult {
  if (!deployment) return { ready: false, message: "Deploying incluster-proxy..." };
  if (deployment.version !== expectedVersion) {
    return {
      ready: false,
      message: `Incluster-proxy deployment version mismatch: current ${deployment.version ?? ""}, expected ${expectedVersion}.`,
    };
  }
  const problem = rolloutProblem(deployment);
  if (problem)
    return { ready: false, message: `Incluster-proxy deploying in progress: ${problem}.` };
  return { ready: true, message: "Incluster-proxy deployed successfully." };
}

export function inClusterProxyCleanup(deployment: DeploymentRollout | undefined): StageResult {
  return deployment
    ? { ready: false, message: "Stopping incluster-proxy..." }
    : { ready: true, message: "Incluster-proxy stopped successfully." };
}
