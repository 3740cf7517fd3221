// The mode state machine (docs/architecture.md#orchestrator, #state-machine): pure and re-entrant.
// Every run re-evaluates every step of the target's transition from the top; the first step that is
// not ready records its condition and Ready=False; only when all pass does `state.mode` become the
// target. A thrown error aborts the run (the hook fails and values stay as they were), which is
// what makes a crash at any step safe: the next run starts again from the same state.
import type { RegistryMode, UpstreamParams } from "../domain/settings";
import type { ModeParams } from "./bashible";
import { emptyCheckerParams, localCheckerParams, upstreamCheckerParams } from "./checker-gate";
import type { CheckerParams } from "./checker-gate";
import { setCondition, setReadyCondition } from "./conditions";
import type { OrchestratorDeps } from "./deps";
import type { OrchestratorInputs } from "./model";
import type { NodeServicesMode } from "./node-services";
import { directTransitionClients, switchToNodeServices } from "./client-switch";
import { Run } from "./run";
import type { State } from "./state";
import {
  applyInit,
  bashibleFinal,
  bashibleTransition,
  clearManagedState,
  ensurePki,
  ensureUsers,
  finalizeUnmanagedBashible,
  finish,
  gateChecker,
  gatePreflight,
  inClusterProxyRegistry,
  moduleRegistry,
  registrySwitch,
  startInClusterProxy,
  startNodeServices,
  stopInClusterProxy,
  stopNodeServices,
  upstreamRegistry,
} from "./steps";

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
  run.conditions = setReadyCondition(run.conditions, {
    ready: done,
    targetMode: target,
    generation: run.generation,
    now: run.now,
  });
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
  const managed = inClusterProxyRegistry({ upstream, pki, clientUser });
  // Accepting what clients hold until the switch settles, the proxy is selected before
  // deckhouse-registry sends clients to it (docs/adr/0122).
  const transitionClients = await directTransitionClients(run, managed, next);
  const proxyClients = { upstream, pki, clientUser, transitionClients };
  if (!(await startInClusterProxy(run, proxyClients))) return false;
  run.state.registry_service = "incluster-proxy";
  if (!registrySwitch(run, { managed }, "incluster-proxy")) return false;
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
  if (!(await switchToNodeServices(run, moduleRegistry(pki, ro), ro))) return false;
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
  if (!(await switchToNodeServices(run, moduleRegistry(pki, users.ro), users.ro))) return false;
  if (!bashibleFinal(run, next)) return false;
  if (!stopInClusterProxy(run)) return false;
  // Local has no upstream to return to: legacy Unmanaged is unreachable from here.
  if (run.state.bashible) delete run.state.bashible.unmanaged_params;
  return finish(run, "Local");
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
