// Orchestrator hook: the mode state machine (docs/architecture.md#orchestrator). Bound on
// beforeHelm and on every watched object, in its own queue, with all bindings in one group: each
// run recomputes from snapshots, because events may be combined or skipped and values patches are
// lost on operator restart.
import { MODULE_NAMESPACE } from "../lib/domain/names";
import { parseRegistrySettings } from "../lib/domain/settings";
import { createDefaultDeps } from "../lib/orchestrator/default-deps";
import { computeHash } from "../lib/orchestrator/hash";
import type { OrchestratorDeps } from "../lib/orchestrator/deps";
import type { OrchestratorInputs } from "../lib/orchestrator/model";
import { reconcile, type ReconcileResult } from "../lib/orchestrator/reconcile";
import type { State } from "../lib/orchestrator/state";
import { recordOrchestratorMetrics } from "../lib/domain/registry-metrics";
import type { BashibleConfig } from "../lib/orchestrator/bashible";
import type { InClusterProxyState } from "../lib/orchestrator/incluster-proxy";
import type { NodeServicesNode } from "../lib/orchestrator/node-services";
import { restoreSecretParts, verifyRestored } from "../lib/orchestrator/restore";
import type { AnyHook, HookInput } from "../lib/runtime/define-hook";
import { defineHook } from "../lib/runtime/define-hook";
import { isRecord } from "../lib/validation/reader";
import { optionalBoolean, optionalString } from "../lib/runtime/narrow";
import { CHECKER_PARAMS_PATH, CHECKER_STATE_PATH } from "./checker/values";
import * as b from "./orchestrator/bindings";
import {
  narrowOrchestratorValues,
  ORCHESTRATOR_PATH,
  parseStateDocument,
} from "./orchestrator/state";

/** The CA ingress-nginx's client certificates are signed by (Local push ingress, ADR 0083). */
const INGRESS_CLIENT_CA_PATH = "global.internal.modules.kubeRBACProxyCA.cert";

const bindings = {
  config: b.moduleConfig,
  state: b.stateSecret,
  "registry-secret": b.deckhouseRegistrySecret,
  pki: b.pkiSecret,
  users: b.userSecrets,
  "registry-service": b.registryService,
  "incluster-proxy": b.inClusterProxy,
  "registry-switcher": b.registrySwitcher,
  "bashible-->nodes": b.bashibleNodes,
  "bashible-->secret": b.bashibleSecret,
  "node-services-->master-nodes": b.masterNodes,
  "node-services-->static-pods": b.staticPods,
  "node-services-->configs": b.nodeConfigSecrets,
  "init-secret": b.initSecret,
  "incluster-proxy-config": b.inClusterProxyConfig,
};

type Input = HookInput<typeof bindings>;

/** The orchestrator with its dependencies given (tests inject a clock and count key generation). */
export function createOrchestratorHook(makeDeps: () => OrchestratorDeps = createDefaultDeps) {
  return defineHook({
    name: "orchestrator",
    queue: "/modules/registry/orchestrator",
    group: "main",
    beforeHelm: 10,
    kubernetes: bindings,
    handler: input => handle(input, makeDeps),
  });
}

async function handle(input: Input, makeDeps: () => OrchestratorDeps): Promise<void> {
  const { snapshots, hasSnapshot, values, metrics } = input;
  // Fail closed: a run without the settings snapshot cannot tell "absent" from "not delivered".
  if (!hasSnapshot("config")) throw new Error("the run carries no snapshot of binding config");

  const current = narrowOrchestratorValues(values.get(ORCHESTRATOR_PATH));
  const params = readParams(input);
  const inputs = await assembleInputs(input, params);
  const deps = makeDeps();
  let state: State = current.state ?? {};
  if (!state.mode) {
    state = await restoreState(input, inputs, state, deps);
    state.mode ??= "Unmanaged";
  }

  // every input, as the original's helpers.ComputeHash: any change re-renders the objects
  const hash = computeHash(
    params,
    withoutOwnGeneration(snapshots),
    inputs.checker,
    ...(inputs.ingressClientCa ? [inputs.ingressClientCa] : []),
  );
  const result = await reconcile(state, inputs, deps);

  values.set(ORCHESTRATOR_PATH, { hash, ready: result.ready, state: result.state });
  recordOrchestratorMetrics(metrics, { ...result.state, ready: result.ready });
  values.set(CHECKER_PARAMS_PATH, result.checkerParams);
  patchSecrets(input, result);
  logProgress(input, result);
}

function readParams({ snapshots, log }: Input): OrchestratorInputs["params"] {
  // No ModuleConfig/deckhouse means its default settings: legacy Unmanaged, reached by a proper
  // switch that keeps the state and the PKI until nodes no longer need them (docs/adr/0082).
  const config = snapshots.config[0];
  if (!config) log.info("ModuleConfig deckhouse is absent: its default settings apply");
  // Invalid settings fail the run: the operator retries, and values stay as they were.
  const params = parseRegistrySettings(config?.registry ?? {}, config?.generation ?? 0);
  log.addSecret(params.upstream?.password);
  for (const ignored of params.ignoredSections ?? []) {
    log.warn("registry settings without mode: section ignored, legacy Unmanaged applies", {
      section: `registry.${ignored}`,
    });
  }
  return params;
}

function patchSecrets({ kubernetes }: Input, result: ReconcileResult): void {
  if (result.registrySecretPatch) {
    kubernetes.mergePatch(
      { apiVersion: "v1", kind: "Secret", namespace: MODULE_NAMESPACE, name: "deckhouse-registry" },
      result.registrySecretPatch,
    );
  }
  if (result.initApplied) {
    kubernetes.mergePatch(
      { apiVersion: "v1", kind: "Secret", namespace: MODULE_NAMESPACE, name: "registry-init" },
      { metadata: { annotations: { "registry.deckhouse.io/is-applied": "" } } },
    );
  }
}

function logProgress({ log }: Input, result: ReconcileResult): void {
  if (result.state.target_mode === result.state.mode && result.ready) return;
  const pending = result.state.conditions?.find(c => c.status === "False" && c.type !== "Ready");
  log.info("registry mode transition in progress", {
    mode: result.state.mode,
    target_mode: result.state.target_mode,
    waiting_for: pending?.type,
  });
}

/**
 * The snapshots as the inputs hash sees them: without the in-cluster proxy Deployment's
 * generation and observedGeneration. Kubernetes bumps a Deployment's generation when its
 * annotations change, and the Deployment carries this hash: hashing the generation would make
 * every run re-annotate it, bump it and run again, for as long as it exists.
 */
function withoutOwnGeneration(snapshots: Input["snapshots"]): unknown {
  return {
    ...snapshots,
    "incluster-proxy": snapshots["incluster-proxy"].map(d => {
      if (!d) return d;
      const { generation: _generation, observedGeneration: _observed, ...rest } = d;
      return rest;
    }),
  };
}

async function assembleInputs(
  { snapshots, values }: Input,
  params: OrchestratorInputs["params"],
): Promise<OrchestratorInputs> {
  const currentRegistry = snapshots["registry-secret"][0];
  if (!currentRegistry) throw new Error("Secret d8-system/deckhouse-registry is missing");
  const masters = snapshots["node-services-->master-nodes"];
  const staticPods = snapshots["node-services-->static-pods"].flatMap(p => (p ? [p] : []));
  for (const pod of staticPods) {
    if (!masters.some(m => m.name === pod.node)) {
      throw new Error(`cannot find Node "${pod.node}" for Pod "${pod.name}"`);
    }
  }
  const pkiSecret = snapshots.pki[0];
  const inClusterProxy = snapshots["incluster-proxy"][0];
  const registryService = snapshots["registry-service"][0];
  const switcherPod = snapshots["registry-switcher"][0];
  const init = await initSeed(snapshots["init-secret"][0]);
  const ingressClientCa = optionalString(
    values.get(INGRESS_CLIENT_CA_PATH),
    INGRESS_CLIENT_CA_PATH,
  );
  return {
    params,
    currentRegistry,
    ...(pkiSecret ? { pkiSecret } : {}),
    userSecrets: snapshots.users,
    ...(inClusterProxy ? { inClusterProxy } : {}),
    ...(registryService ? { registryService } : {}),
    ...(switcherPod ? { switcherPod } : {}),
    nodes: snapshots["bashible-->nodes"],
    bashibleSecretExists: snapshots["bashible-->secret"].length > 0,
    masters,
    staticPods,
    ...(init ? { init } : {}),
    checker: checkerStatus(values.get(CHECKER_STATE_PATH)),
    ...(ingressClientCa ? { ingressClientCa } : {}),
  };
}

/** The bootstrap seed of an init secret not applied yet (docs/architecture.md#bootstrap). */
async function initSeed(
  secret: b.InitSecretSnapshot | undefined,
): Promise<OrchestratorInputs["init"] | undefined> {
  if (!secret || secret.applied) return undefined;
  if (!secret.config) return {};
  const { parseInitConfigYaml } = await import("../lib/domain/registry-init");
  const config = await parseInitConfigYaml(secret.config);
  const users = {
    ...(config.ro_user ? { ro: config.ro_user } : {}),
    ...(config.rw_user ? { rw: config.rw_user } : {}),
  };
  return {
    ...(config.ca ? { ca: config.ca } : {}),
    ...(Object.keys(users).length > 0 ? { users } : {}),
  };
}

function checkerStatus(value: unknown): OrchestratorInputs["checker"] {
  if (!isRecord(value)) return {};
  const field = CHECKER_STATE_PATH;
  const version = optionalString(value.version, `${field}.version`);
  const ready = optionalBoolean(value.ready, `${field}.ready`);
  const message = optionalString(value.message, `${field}.message`);
  return {
    ...(version !== undefined ? { version } : {}),
    ...(ready !== undefined ? { ready } : {}),
    ...(message !== undefined ? { message } : {}),
  };
}

/**
 * The state after values were lost: registry-state's document, plus the secret parts it does
 * not carry taken back from their own secrets (lib/orchestrator/restore.ts).
 */
async function restoreState(
  { snapshots, log }: Input,
  inputs: OrchestratorInputs,
  fallback: State,
  deps: OrchestratorDeps,
): Promise<State> {
  const warn = (msg: string, fields?: Record<string, unknown>) => log.warn(msg, fields);
  const document = snapshots.state[0]?.state;
  if (document === undefined) return fallback;
  let restored: State;
  try {
    restored = { ...fallback, ...(await parseStateDocument(document)) };
  } catch (err) {
    // A damaged state secret must not block the module: start over from Unmanaged, loudly.
    warn("cannot restore state from Secret registry-state", { error: (err as Error).message });
    return fallback;
  }
  const { parse } = await import("yaml");
  const read = <T>(yaml: string | undefined, what: string): T | undefined => {
    if (yaml === undefined) return undefined;
    try {
      return parse(yaml) as T;
    } catch (err) {
      warn(`cannot read ${what} to restore the state`, { error: (err as Error).message });
      return undefined;
    }
  };
  const proxySecret = snapshots["incluster-proxy-config"][0];
  const proxyConfig = read<InClusterProxyState["config"]>(
    proxySecret?.config,
    "Secret registry-incluster-proxy-config",
  );
  const nodes: Record<string, NodeServicesNode> = {};
  for (const secret of snapshots["node-services-->configs"]) {
    if (!secret) continue;
    const config = read<NodeServicesNode["config"]>(
      secret.config,
      `Secret registry-node-config-${secret.node}`,
    );
    if (config && secret.version) nodes[secret.node] = { config, version: secret.version };
  }
  const state = restoreSecretParts(restored, {
    params: inputs.params,
    currentRegistry: inputs.currentRegistry,
    pki: inputs.pkiSecret,
    users: inputs.userSecrets,
    inClusterProxy:
      proxyConfig && proxySecret?.version
        ? { config: proxyConfig, version: proxySecret.version }
        : undefined,
    nodes,
    bashibleConfig: read<BashibleConfig>(
      snapshots["bashible-->secret"][0]?.config,
      "Secret registry-bashible-config",
    ),
  });
  return verifyRestored(state, deps);
}

const orchestrator: AnyHook = createOrchestratorHook();
export default orchestrator;
