// The steps the mode transitions of ./reconcile.ts are made of
// (docs/architecture.md#state-machine). Each step checks its fault-injection point first, records
// its condition on the run and says whether the transition may go on; a thrown error aborts the
// whole run.
import type { RegistryMode, UpstreamParams } from "../domain/settings";
import { pemCertificateProblem } from "../domain/settings";
import { USER_NAME_BY_VALUES_KEY, userSecretName } from "../domain/users";
import type { Pki } from "../domain/pki";
import type { RegistryUser, UserValuesKey } from "../domain/users";
import type { ModeParams, UpstreamRegistryParams } from "./bashible";
import { finalConfig, nodesReadiness, preflight, sameParams, transitionConfig } from "./bashible";
import type { CheckerParams } from "./checker-gate";
import { checkerReadiness } from "./checker-gate";
import { paramsFromRegistrySecret } from "./deckhouse-registry";
import {
  inClusterProxyCleanup,
  inClusterProxyConfig,
  inClusterProxyReadiness,
} from "./incluster-proxy";
import type { NodeServicesMode } from "./node-services";
import { nodeServicesCleanup, nodeServicesNodes, nodeServicesReadiness } from "./node-services";
import type { Run } from "./run";
import { fromActualParams, toActualParams } from "./state";
import type { RegistryService } from "./state";
import type { RegistrySecretConfig, SwitchParams } from "./switcher";
import {
  desiredRegistrySecret,
  registrySecretPatch,
  sameRegistrySecret,
  switchReadiness,
} from "./switcher";

/** The upstream as nodes and the in-cluster proxy are configured with it. */
export function upstreamRegistry(u: UpstreamParams): UpstreamRegistryParams {
  return {
    imagesRepo: u.imagesRepo,
    scheme: u.scheme,
    ...(u.ca ? { ca: u.ca } : {}),
    ...(u.username ? { username: u.username } : {}),
    ...(u.password ? { password: u.password } : {}),
  };
}

const BASHIBLE_FAILED = "Failed to process Bashible configuration.";
const INCLUSTER_PROXY_FAILED = "Configuration processing for incluster-proxy failed.";

/** Aborts the run with the original's message for this step first, then the cause. */
function failedWith(message: string, err: unknown): Error {
  return new Error(`${message} ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

function orFail<T>(message: string, work: () => T): T {
  try {
    return work();
  } catch (err) {
    throw failedWith(message, err);
  }
}

export async function applyInit(run: Run): Promise<boolean> {
  const init = run.inputs.init;
  if (!init) return false;
  if (init.ca) {
    run.state.pki = await run.deps.ensurePki({
      state: run.state.pki,
      secret: run.inputs.pkiSecret,
      initCa: init.ca,
    });
  }
  // The users nodes were bootstrapped with replace any in the state; their hash is checked
  // against the password here, since it does not come from this hook.
  const seeded: Partial<Record<UserValuesKey, RegistryUser>> = {};
  for (const [key, user] of Object.entries(init.users ?? {}) as [UserValuesKey, RegistryUser][]) {
    const hash = await run.deps.ensurePasswordHash(
      user.password,
      user.password_hash || undefined,
      undefined,
    );
    seeded[key] = { name: user.name, password: user.password, password_hash: hash };
  }
  if (Object.keys(seeded).length > 0) run.state.users = { ...run.state.users, ...seeded };
  // The cluster was bootstrapped straight into these params: nodes already run them, so no
  // transition stage is needed (docs/architecture.md#bootstrap).
  const { params } = run.inputs;
  if ((params.mode === "Direct" || params.mode === "Unmanaged") && params.upstream) {
    const upstream = upstreamRegistry(params.upstream);
    const mode: ModeParams =
      params.mode === "Direct"
        ? { mode: "Direct", direct: upstream }
        : { mode: "Unmanaged", unmanaged: upstream };
    run.state.bashible = {
      ...run.state.bashible,
      actual_params: toActualParams(mode),
      unmanaged_params: upstream,
    };
  }
  return true;
}

export function gateChecker(run: Run, params: CheckerParams): boolean {
  run.beforeStep("RegistryContainsRequiredImages");
  run.checkerParams = params;
  return run.step(
    "RegistryContainsRequiredImages",
    checkerReadiness(params, run.inputs.checker),
    "Ready",
  );
}

export function gatePreflight(run: Run): boolean {
  run.beforeStep("ContainerdConfigPreflightReady");
  return run.step(
    "ContainerdConfigPreflightReady",
    preflight(run.inputs.bashibleSecretExists, run.inputs.nodes),
  );
}

export async function ensurePki(run: Run): Promise<Pki> {
  run.beforeStep("pki");
  const pki = await run.deps.ensurePki({ state: run.state.pki, secret: run.inputs.pkiSecret });
  run.state.pki = pki;
  run.state.secrets = { http: run.deps.ensureHttpSecret(run.state.secrets?.http) };
  return pki;
}

export async function ensureUsers(
  run: Run,
  keys: readonly UserValuesKey[],
): Promise<Record<UserValuesKey, RegistryUser>> {
  run.beforeStep("users");
  const users: Partial<Record<UserValuesKey, RegistryUser>> = {};
  for (const key of keys) {
    const secretName = userSecretName(USER_NAME_BY_VALUES_KEY[key]);
    const secret = run.inputs.userSecrets.find(s => s.secretName === secretName);
    users[key] = await run.deps.ensureUser(key, run.state.users?.[key], secret);
  }
  run.state.users = { ...run.state.users, ...users };
  return users as Record<UserValuesKey, RegistryUser>;
}

/**
 * What nodes have now; on first use, what `deckhouse-registry` says
 * (docs/architecture.md#bashible-config).
 */
function actualParams(run: Run): ModeParams {
  const known = fromActualParams(run.state.bashible?.actual_params);
  if (known) return known;
  return { mode: "Unmanaged", unmanaged: paramsFromRegistrySecret(run.inputs.currentRegistry) };
}

function masterIPs(run: Run): string[] {
  return run.inputs.masters.flatMap(m => (m.ip ? [m.ip] : []));
}

export function bashibleTransition(run: Run, next: ModeParams): boolean {
  run.beforeStep("TransitionContainerdConfigReady");
  const actual = orFail(BASHIBLE_FAILED, () => actualParams(run));
  if (sameParams(actual, next)) {
    return run.step("TransitionContainerdConfigReady", {
      ready: true,
      message: "Bashible already processed.",
    });
  }
  const config = orFail(BASHIBLE_FAILED, () => transitionConfig(actual, next, masterIPs(run)));
  run.state.bashible = {
    ...run.state.bashible,
    actual_params: toActualParams(actual),
    config,
  };
  return run.step(
    "TransitionContainerdConfigReady",
    nodesReadiness(config, run.inputs.bashibleSecretExists, run.inputs.nodes),
  );
}

export function bashibleFinal(run: Run, next: ModeParams): boolean {
  run.beforeStep("FinalContainerdConfigReady");
  const config = orFail(BASHIBLE_FAILED, () => finalConfig(next, masterIPs(run)));
  run.state.bashible = { ...run.state.bashible, actual_params: toActualParams(next), config };
  return run.step(
    "FinalContainerdConfigReady",
    nodesReadiness(config, run.inputs.bashibleSecretExists, run.inputs.nodes),
  );
}

/**
 * deckhouse-registry to `params`. With `service`: only once Service `registry` selects those pods,
 * so the fixed address resolves to them before the Secret sends clients there (docs/adr/0122).
 */
export function registrySwitch(
  run: Run,
  params: SwitchParams,
  service?: Exclude<RegistryService, "">,
): boolean {
  run.beforeStep("DeckhouseRegistrySwitchReady");
  if (service && run.inputs.registryService?.selects !== service) {
    return run.step("DeckhouseRegistrySwitchReady", {
      ready: false,
      message: `Waiting for Service registry to select ${service}`,
    });
  }
  return switchDeckhouseRegistry(run, params);
}

/** The switcher proper (docs/architecture.md#registry-switcher): patch, then wait for deckhouse. */
export function switchDeckhouseRegistry(run: Run, params: SwitchParams): boolean {
  const desired: RegistrySecretConfig = desiredRegistrySecret(params);
  if (!sameRegistrySecret(desired, run.inputs.currentRegistry)) {
    run.registrySecretPatch = registrySecretPatch(desired);
  }
  return run.step(
    "DeckhouseRegistrySwitchReady",
    switchReadiness(desired, run.inputs.currentRegistry, run.inputs.switcherPod),
  );
}

export function stopInClusterProxy(run: Run): boolean {
  run.beforeStep("CleanupInClusterProxy");
  if (run.state.in_cluster_proxy) delete run.state.in_cluster_proxy;
  return run.step("CleanupInClusterProxy", inClusterProxyCleanup(run.inputs.inClusterProxy));
}

function nodeServicesExist(run: Run): boolean {
  const nodeServices = run.state.node_services;
  return (
    nodeServices?.run === true ||
    Object.keys(nodeServices?.nodes ?? {}).length > 0 ||
    run.inputs.staticPods.length > 0
  );
}

export function stopNodeServices(run: Run): boolean {
  if (!nodeServicesExist(run)) {
    run.keep("CleanupNodeServices");
    return true;
  }
  run.beforeStep("CleanupNodeServices");
  // Config secrets go first: the managers then remove their static pods; the DaemonSet stays
  // until no static pod remains.
  run.state.node_services = { ...run.state.node_services, nodes: {} };
  const result = nodeServicesCleanup(run.inputs.staticPods);
  if (result.ready) run.state.node_services = { run: false, nodes: {} };
  return run.step("CleanupNodeServices", result);
}

export async function startNodeServices(
  run: Run,
  pki: Pki,
  ro: RegistryUser,
  mode: NodeServicesMode,
): Promise<boolean> {
  run.beforeStep("NodeServicesReady");
  // The settings parser checks the CA too; this guards the state machine on its own
  // (docs/architecture.md#node-services).
  const upstreamCaProblem =
    mode.mode === "Proxy" && mode.upstream.ca ? pemCertificateProblem(mode.upstream.ca) : undefined;
  if (upstreamCaProblem) {
    return run.fail("NodeServicesReady", `Cannot decode upstream CA: ${upstreamCaProblem}`);
  }
  const nodes = await nodeServicesNodes(
    run.state.node_services,
    {
      masters: run.inputs.masters,
      ca: pki.ca,
      token: pki.token,
      httpSecret: run.state.secrets?.http ?? "",
      ro,
      mode,
    },
    run.deps,
  );
  run.state.node_services = { run: true, nodes };
  return run.step(
    "NodeServicesReady",
    nodeServicesReadiness(nodes, run.inputs.masters, run.inputs.staticPods),
  );
}

export function finish(run: Run, mode: RegistryMode): boolean {
  run.state.mode = mode;
  return true;
}

export const moduleRegistry = (pki: Pki, ro: RegistryUser) => ({
  ca: pki.ca.cert,
  username: ro.name,
  password: ro.password,
});

interface InClusterProxyClients {
  upstream: UpstreamRegistryParams;
  pki: Pki;
  /** Set when the upstream is anonymous: clients then log in as this module user. */
  clientUser: RegistryUser | undefined;
  /** Accepted too while a switch is in progress (docs/adr/0122). */
  transitionClients?: readonly RegistryUser[];
}

export async function startInClusterProxy(
  run: Run,
  { upstream, pki, clientUser, transitionClients }: InClusterProxyClients,
): Promise<boolean> {
  run.beforeStep("InClusterProxyReady");
  const proxy = await inClusterProxyConfig(
    run.state.in_cluster_proxy?.config,
    {
      upstream,
      ca: pki.ca,
      token: pki.token,
      httpSecret: run.state.secrets?.http ?? "",
      ...(clientUser ? { clientUser } : {}),
      ...(transitionClients ? { transitionClients } : {}),
    },
    run.deps,
  ).catch((err: unknown) => {
    throw failedWith(INCLUSTER_PROXY_FAILED, err);
  });
  run.state.in_cluster_proxy = { config: proxy };
  const proxyReady = inClusterProxyReadiness(proxy.version, run.inputs.inClusterProxy);
  return run.step("InClusterProxyReady", proxyReady);
}

/** The credentials clients of the in-cluster proxy use: the module user's, or the upstream's. */
export function inClusterProxyRegistry({ upstream, pki, clientUser }: InClusterProxyClients) {
  return clientUser
    ? moduleRegistry(pki, clientUser)
    : { ca: pki.ca.cert, username: upstream.username ?? "", password: upstream.password ?? "" };
}

export function clearManagedState(run: Run): void {
  run.state.registry_service = "";
  run.state.ingress_enabled = false;
  delete run.state.pki;
  delete run.state.secrets;
  delete run.state.users;
}

/**
 * Without the secret, nodes already use the legacy config from deckhouse-registry: forget the
 * bashible state so it is not rendered again. With it, keep the new format with what
 * deckhouse-registry says (containerd keeps the registry.d layout).
 */
export function finalizeUnmanagedBashible(run: Run): boolean {
  run.beforeStep("FinalContainerdConfigReady");
  if (!run.inputs.bashibleSecretExists) {
    delete run.state.bashible;
    return run.step("FinalContainerdConfigReady", {
      ready: true,
      message: `All ${run.inputs.nodes.length} node(s) use the Unmanaged config.`,
    });
  }
  const { next, config } = orFail(BASHIBLE_FAILED, () => {
    const next: ModeParams = {
      mode: "Unmanaged",
      unmanaged: paramsFromRegistrySecret(run.inputs.currentRegistry),
    };
    return { next, config: finalConfig(next, masterIPs(run)) };
  });
  run.state.bashible = { ...run.state.bashible, actual_params: toActualParams(next), config };
  return run.step(
    "FinalContainerdConfigReady",
    nodesReadiness(config, true, run.inputs.nodes, "unmanaged"),
  );
}
