// The mode state machine (docs/architecture.md#orchestrator, #state-machine): pure and re-entrant. Every run re-evaluates every step
// of the target's transition from the top; the first step that is not ready records its
// condition and Ready=False; only when all pass does `state.mode` become the target. A thrown
// error aborts the run (the hook fails and values stay as they were), which is what makes a crash
// at any step safe: the next run starts again from the same state.
import type { RegistryMode, UpstreamParams } from "../domain/settings";
import { pemCertificateProblem } from "../domain/settings";
import { USER_NAME_BY_VALUES_KEY, userSecretName } from "../domain/users";
import type { ModeParams, StageResult, UpstreamRegistryParams } from "./bashible";
import { finalConfig, nodesReadiness, preflight, sameParams, transitionConfig } from "./bashible";
import type { CheckerParams } from "./checker-gate";
import {
  checkerReadiness,
  emptyCheckerParams,
  localCheckerParams,
  upstreamCheckerParams,
} from "./checker-gate";
import type { Condition, ConditionType } from "./conditions";
import { setCondition, setReadyCondition } from "./conditions";
import type { OrchestratorDeps } from "./deps";
import type { Pki } from "../domain/pki";
import type { RegistryUser, UserValuesKey } from "../domain/users";
import {
  inClusterProxyCleanup,
  inClusterProxyConfig,
  inClusterProxyReadiness,
} from "./incluster-proxy";
import type { DeckhouseRegistrySnapshot, OrchestratorInputs } from "./model";
import type { NodeServicesMode } from "./node-services";
import { nodeServicesCleanup, nodeServicesNodes, nodeServicesReadiness } from "./node-services";
import type { State } from "./state";
import { fromActualParams, toActualParams } from "./state";
import type { RegistrySecretConfig, SwitchParams } from "./switcher";
import {
  desiredRegistrySecret,
  registrySecretPatch,
  sameRegistrySecret,
  switchReadiness,
} from "./switcher";

export type { OrchestratorInputs };

export interface ReconcileResult {
  state: State;
  ready: boolean;
  checkerParams: CheckerParams;
  /** Merge patch of Secret d8-system/deckhouse-registry, when it must change. */
  registrySecretPatch?: Record<string, unknown>;
  /** The init secret was consumed this run: annotate it applied. */
  initApplied: boolean;
}

export class TransitionNotSupported extends Error {
  constructor(
    readonly from: RegistryMode,
    readonly to: RegistryMode,
  ) {
    super(`mode transition from ${from} to ${to} not supported`);
    this.name = "TransitionNotSupported";
  }
}

/** One run: the working copy of the state plus what the steps decide besides it. */
class Run {
  readonly state: State;
  conditions: Condition[];
  checkerParams: CheckerParams | undefined;
  registrySecretPatch: Record<string, unknown> | undefined;
  readonly now: Date;

  constructor(
    previous: State,
    readonly inputs: OrchestratorInputs,
    readonly deps: OrchestratorDeps,
  ) {
    this.state = structuredClone(previous);
    this.conditions = this.state.conditions ?? [];
    this.now = deps.now();
  }

  get generation(): number {
    return this.inputs.params.generation;
  }

  /** Records a step's condition; true when the transition may go on. */
  step(type: ConditionType, result: StageResult, readyReason?: "Ready"): boolean {
    this.conditions = setCondition(
      this.conditions,
      result.ready
        ? {
            type,
            status: "True",
            ...(readyReason ? { reason: readyReason, message: result.message } : {}),
          }
        : { type, status: "False", reason: "Processing", message: result.message },
      this.generation,
      this.now,
    );
    return result.ready;
  }

  /** Records a step that cannot go on until its input changes (reason Error); false. */
  fail(type: ConditionType, message: string): false {
    this.conditions = setCondition(
      this.conditions,
      { type, status: "False", reason: "Error", message },
      this.generation,
      this.now,
    );
    return false;
  }

  /**
   * A step with nothing left to do this run keeps the condition it recorded (moved to the end like
   * any step's), so the list stays in execution order on the runs after it finished.
   */
  keep(type: ConditionType): void {
    const previous = this.conditions.find(c => c.type === type);
    if (previous) this.conditions = [...this.conditions.filter(c => c !== previous), previous];
  }

  /** Fault-injection point before each step (OrchestratorDeps.beforeStep; tests crash here). */
  beforeStep(name: string): void {
    this.deps.beforeStep?.(name);
  }
}

export async function reconcile(
  previous: State,
  inputs: OrchestratorInputs,
  deps: OrchestratorDeps,
): Promise<ReconcileResult> {
  const run = new Run(previous, inputs, deps);
  const target = inputs.params.mode;
  if (run.state.target_mode !== target) {
    // A new target invalidates every step recorded for the old one.
    run.state.target_mode = target;
    run.conditions = [];
  }
  run.state.mode ??= "Unmanaged";
  const initApplied = await applyInit(run);

  let done: boolean;
  try {
    done = await transition(run);
  } catch (err) {
    if (!(err instanceof TransitionNotSupported)) throw err;
    run.conditions = setCondition(
      run.conditions,
      { type: "ErrTransitionNotSupported", status: "True", reason: "Error", message: err.message },
      run.generation,
      run.now,
    );
    done = false;
  }
  run.conditions = setReadyCondition(run.conditions, done, target, run.generation, run.now);
  run.state.conditions = run.conditions;
  return {
    state: run.state,
    ready: done,
    checkerParams: run.checkerParams ?? emptyCheckerParams(),
    ...(run.registrySecretPatch ? { registrySecretPatch: run.registrySecretPatch } : {}),
    initApplied,
  };
}

async function transition(run: Run): Promise<boolean> {
  const { params } = run.inputs;
  const from = run.state.mode ?? "Unmanaged";
  switch (params.mode) {
    case "Direct":
      return toDirect(run, params.upstream);
    case "Proxy":
      if (from === "Local") throw new TransitionNotSupported(from, "Proxy");
      return toProxy(run, params.upstream);
    case "Local":
      if (from === "Proxy") throw new TransitionNotSupported(from, "Local");
      return toLocal(run);
    case "Unmanaged":
      if (params.upstream) return toConfigurableUnmanaged(run, params.upstream);
      if (from !== "Unmanaged" && from !== "Proxy" && from !== "Direct") {
        throw new TransitionNotSupported(from, "Unmanaged");
      }
      return toUnmanaged(run);
  }
}

/** The upstream as nodes and the in-cluster proxy are configured with it. */
function upstreamRegistry(u: UpstreamParams): UpstreamRegistryParams {
  return {
    imagesRepo: u.imagesRepo,
    scheme: u.scheme,
    ...(u.ca ? { ca: u.ca } : {}),
    ...(u.username ? { username: u.username } : {}),
    ...(u.password ? { password: u.password } : {}),
  };
}

// ---- shared steps ---------------------------------------------------------------------------

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

async function applyInit(run: Run): Promise<boolean> {
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

function gateChecker(run: Run, params: CheckerParams): boolean {
  run.beforeStep("RegistryContainsRequiredImages");
  run.checkerParams = params;
  return run.step(
    "RegistryContainsRequiredImages",
    checkerReadiness(params, run.inputs.checker),
    "Ready",
  );
}

function gatePreflight(run: Run): boolean {
  run.beforeStep("ContainerdConfigPreflightReady");
  return run.step(
    "ContainerdConfigPreflightReady",
    preflight(run.inputs.bashibleSecretExists, run.inputs.nodes),
  );
}

async function ensurePki(run: Run): Promise<Pki> {
  run.beforeStep("pki");
  const pki = await run.deps.ensurePki({ state: run.state.pki, secret: run.inputs.pkiSecret });
  run.state.pki = pki;
  run.state.secrets = { http: run.deps.ensureHttpSecret(run.state.secrets?.http) };
  return pki;
}

async function ensureUsers(
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

/** What nodes have now; on first use, what `deckhouse-registry` says (docs/architecture.md#bashible-config). */
function actualParams(run: Run): ModeParams {
  const known = fromActualParams(run.state.bashible?.actual_params);
  if (known) return known;
  return { mode: "Unmanaged", unmanaged: paramsFromRegistrySecret(run.inputs.currentRegistry) };
}

export function paramsFromRegistrySecret(
  secret: DeckhouseRegistrySnapshot,
): UpstreamRegistryParams {
  const address = secret.address ?? "";
  if (!address) throw new Error("Secret d8-system/deckhouse-registry has no address");
  const out: UpstreamRegistryParams = {
    imagesRepo: `${address}${secret.path ?? ""}`.replace(/\/+$/, ""),
    scheme: (secret.scheme ?? "https").toUpperCase(),
  };
  if (secret.ca) out.ca = secret.ca;
  const creds = credentialsFor(secret.dockerConfigJson, address);
  if (creds) Object.assign(out, creds);
  return out;
}

function credentialsFor(
  dockerConfigJson: string | undefined,
  address: string,
): { username: string; password: string } | undefined {
  if (!dockerConfigJson) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(dockerConfigJson);
  } catch {
    throw new Error("Secret d8-system/deckhouse-registry: .dockerconfigjson is not JSON");
  }
  const auths = (parsed as { auths?: Record<string, Record<string, string>> }).auths ?? {};
  const entry = auths[address];
  if (!entry) return undefined;
  if (entry.username || entry.password) {
    return { username: entry.username ?? "", password: entry.password ?? "" };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

function masterIPs(run: Run): string[] {
  return run.inputs.masters.flatMap(m => (m.ip ? [m.ip] : []));
}

function bashibleTransition(run: Run, next: ModeParams): boolean {
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

function bashibleFinal(run: Run, next: ModeParams): boolean {
  run.beforeStep("FinalContainerdConfigReady");
  const config = orFail(BASHIBLE_FAILED, () => finalConfig(next, masterIPs(run)));
  run.state.bashible = { ...run.state.bashible, actual_params: toActualParams(next), config };
  return run.step(
    "FinalContainerdConfigReady",
    nodesReadiness(config, run.inputs.bashibleSecretExists, run.inputs.nodes),
  );
}

function registrySwitch(run: Run, params: SwitchParams): boolean {
  run.beforeStep("DeckhouseRegistrySwitchReady");
  const desired: RegistrySecretConfig = desiredRegistrySecret(params);
  if (!sameRegistrySecret(desired, run.inputs.currentRegistry)) {
    run.registrySecretPatch = registrySecretPatch(desired);
  }
  return run.step(
    "DeckhouseRegistrySwitchReady",
    switchReadiness(desired, run.inputs.currentRegistry, run.inputs.switcherPod),
  );
}

function stopInClusterProxy(run: Run): boolean {
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

function stopNodeServices(run: Run): boolean {
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

async function startNodeServices(
  run: Run,
  pki: Pki,
  ro: RegistryUser,
  mode: NodeServicesMode,
): Promise<boolean> {
  run.beforeStep("NodeServicesReady");
  // The settings parser checks the CA too; this guards the state machine on its own (docs/architecture.md#node-services).
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

function finish(run: Run, mode: RegistryMode): boolean {
  run.state.mode = mode;
  return true;
}

const moduleRegistry = (pki: Pki, ro: RegistryUser) => ({
  ca: pki.ca.cert,
  username: ro.name,
  password: ro.password,
});

// ---- transitions (docs/architecture.md#state-machine) --------------------------------------------------------------

async function toDirect(run: Run, settings: UpstreamParams): Promise<boolean> {
  const upstream = upstreamRegistry(settings);
  if (!gateChecker(run, upstreamCheckerParams(upstream, "Direct", settings.checkMode))) {
    return false;
  }
  if (!gatePreflight(run)) return false;
  const pki = await ensurePki(run);
  // The in-cluster proxy never serves anonymous clients: with an anonymous upstream (e.g. CE),
  // clients log in as the module's ro user instead of with the upstream's credentials.
  const clientUser = upstream.username ? undefined : (await ensureUsers(run, ["ro"])).ro;
  const next: ModeParams = { mode: "Direct", direct: upstream };
  if (!bashibleTransition(run, next)) return false;

  // Configured only now: during Direct→Direct the nodes' transition config still relies on the
  // old proxy until every node has the new mirrors.
  run.beforeStep("InClusterProxyReady");
  const proxy = await inClusterProxyConfig(
    run.state.in_cluster_proxy?.config,
    {
      upstream,
      ca: pki.ca,
      token: pki.token,
      httpSecret: run.state.secrets?.http ?? "",
      ...(clientUser ? { clientUser } : {}),
    },
    run.deps,
  ).catch((err: unknown) => {
    throw failedWith(INCLUSTER_PROXY_FAILED, err);
  });
  run.state.in_cluster_proxy = { config: proxy };
  const proxyReady = inClusterProxyReadiness(proxy.version, run.inputs.inClusterProxy);
  if (!run.step("InClusterProxyReady", proxyReady)) return false;
  run.state.registry_service = "incluster-proxy";

  const managed = clientUser
    ? moduleRegistry(pki, clientUser)
    : { ca: pki.ca.cert, username: upstream.username ?? "", password: upstream.password ?? "" };
  if (!registrySwitch(run, { managed })) return false;
  if (!bashibleFinal(run, next)) return false;

  run.state.ingress_enabled = false;
  if (!stopNodeServices(run)) return false;
  if (clientUser) run.state.users = { ro: clientUser };
  else delete run.state.users;
  run.state.bashible = { ...run.state.bashible, unmanaged_params: upstream };
  return finish(run, "Direct");
}

async function toProxy(run: Run, settings: UpstreamParams): Promise<boolean> {
  const upstream = upstreamRegistry(settings);
  if (!gateChecker(run, upstreamCheckerParams(upstream, "Proxy", settings.checkMode))) return false;
  if (!gatePreflight(run)) return false;
  const pki = await ensurePki(run);
  const { ro } = await ensureUsers(run, ["ro"]);
  const next: ModeParams = { mode: "Proxy", proxy: moduleRegistry(pki, ro) };
  if (!bashibleTransition(run, next)) return false;

  const proxyMode: NodeServicesMode = {
    mode: "Proxy",
    upstream: { ...upstream, ...(settings.ttl ? { ttl: settings.ttl } : {}) },
  };
  if (!(await startNodeServices(run, pki, ro, proxyMode))) return false;
  run.state.registry_service = "node-services";
  if (!registrySwitch(run, { managed: moduleRegistry(pki, ro) })) return false;
  if (!bashibleFinal(run, next)) return false;
  if (!stopInClusterProxy(run)) return false;

  run.state.ingress_enabled = false;
  run.state.users = { ro };
  run.state.bashible = { ...run.state.bashible, unmanaged_params: upstream };
  return finish(run, "Proxy");
}

async function toLocal(run: Run): Promise<boolean> {
  // The push endpoint must exist before images can be pushed, i.e. before anything can pass.
  run.state.ingress_enabled = true;
  const pki = await ensurePki(run);
  const users = await ensureUsers(run, ["ro", "rw", "mirror_puller", "mirror_pusher"]);
  const localMode: NodeServicesMode = {
    mode: "Local",
    rw: users.rw,
    puller: users.mirror_puller,
    pusher: users.mirror_pusher,
    ...(run.inputs.ingressClientCa ? { ingressClientCa: run.inputs.ingressClientCa } : {}),
  };
  if (!(await startNodeServices(run, pki, users.ro, localMode))) return false;
  const checker = localCheckerParams(run.inputs.masters, pki.ca.cert, users.ro, "Default");
  if (!gateChecker(run, checker)) return false;
  if (!gatePreflight(run)) return false;
  const next: ModeParams = { mode: "Local", local: moduleRegistry(pki, users.ro) };
  if (!bashibleTransition(run, next)) return false;
  run.state.registry_service = "node-services";
  if (!registrySwitch(run, { managed: moduleRegistry(pki, users.ro) })) return false;
  if (!bashibleFinal(run, next)) return false;
  if (!stopInClusterProxy(run)) return false;
  // Local has no upstream to return to: legacy Unmanaged is unreachable from here.
  if (run.state.bashible) delete run.state.bashible.unmanaged_params;
  return finish(run, "Local");
}

function clearManagedState(run: Run): void {
  run.state.registry_service = "";
  run.state.ingress_enabled = false;
  delete run.state.pki;
  delete run.state.secrets;
  delete run.state.users;
}

async function toConfigurableUnmanaged(run: Run, settings: UpstreamParams): Promise<boolean> {
  const upstream = upstreamRegistry(settings);
  if (!gateChecker(run, upstreamCheckerParams(upstream, "Unmanaged", settings.checkMode))) {
    return false;
  }
  if (!gatePreflight(run)) return false;
  const next: ModeParams = { mode: "Unmanaged", unmanaged: upstream };
  if (!bashibleTransition(run, next)) return false;
  if (!registrySwitch(run, { unmanaged: upstream })) return false;
  if (!bashibleFinal(run, next)) return false;
  run.state.registry_service = "";
  run.state.ingress_enabled = false;
  if (!stopInClusterProxy(run)) return false;
  if (!stopNodeServices(run)) return false;
  clearManagedState(run);
  run.state.bashible = { ...run.state.bashible, unmanaged_params: upstream };
  return finish(run, "Unmanaged");
}

async function toUnmanaged(run: Run): Promise<boolean> {
  run.checkerParams = emptyCheckerParams();
  const remembered = run.state.bashible?.unmanaged_params;
  if (remembered && run.state.mode !== "Unmanaged") {
    // Back to the upstream the cluster used before the module managed it.
    const checker = upstreamCheckerParams(remembered, "Unmanaged", "Default");
    if (!gateChecker(run, checker)) return false;
    const next: ModeParams = { mode: "Unmanaged", unmanaged: remembered };
    if (!bashibleTransition(run, next)) return false;
    if (!registrySwitch(run, { unmanaged: remembered })) return false;
    if (run.state.bashible) delete run.state.bashible.unmanaged_params;
  }
  if (!finalizeUnmanagedBashible(run)) return false;
  run.state.registry_service = "";
  run.state.ingress_enabled = false;
  if (!stopInClusterProxy(run)) return false;
  if (!stopNodeServices(run)) return false;
  clearManagedState(run);
  if (run.state.bashible) delete run.state.bashible.unmanaged_params;
  return finish(run, "Unmanaged");
}

/**
 * Without the secret, nodes already use the legacy config from deckhouse-registry: forget the
 * bashible state so it is not rendered again. With it, keep the new format with what
 * deckhouse-registry says (containerd keeps the registry.d layout).
 */
function finalizeUnmanagedBashible(run: Run): boolean {
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
