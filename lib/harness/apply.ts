// The operator's side after a run (docs/hook-protocol.md#values-patches, #order-of-application): a
// failed run applies nothing; otherwise every output file is parsed first (a malformed file fails
// the run with nothing applied), then metrics are stored, kubernetes operations executed (errors
// collected by index; any error fails the run and the values patch is then not applied), config
// values patch, values patch.
import type { BindingContext, ValuesPatchOperation } from "../runtime/types";
import type { ClusterState } from "./cluster";
import type { JqEngine } from "./jq";
import type { KubeOperationSpec } from "./kube-ops";
import { applyKubernetesOperations, parseKubernetesOperations } from "./kube-ops";
import type { MetricOperation, MetricsStore } from "./metrics";
import { parseMetrics } from "./metrics";
import type { HookRunResult, RawHookRun } from "./run-types";
import type { ValuesStore } from "./values";
import { parseValuesPatch } from "./values-patch";

export interface OperatorState {
  values: ValuesStore;
  cluster: ClusterState;
  metrics: MetricsStore;
  jq: JqEngine | undefined;
  /** Default metrics group: the hook name. */
  hookName: string;
  /**
   * Deckhouse refuses config values patches ("saving patch values in ModuleConfig is
   * forbidden"); "apply" writes them into the user config instead.
   */
  configValuesPatches?: "refuse" | "apply";
}

export function applyHookRun(
  state: OperatorState,
  raw: RawHookRun,
  bindingContexts: BindingContext[],
): HookRunResult {
  const result: HookRunResult = {
    ok: false,
    stderr: raw.stderr,
    logs: raw.logs,
    bindingContexts,
    valuesPatch: [],
    configValuesPatch: [],
    kubernetesOperations: [],
    metrics: [],
    operationErrors: [],
    valuesChanged: false,
  };
  const fail = (error: string): HookRunResult => ({ ...result, ok: false, error });
  if (!raw.ok) return fail(raw.error ?? "hook failed");

  let valuesPatch: Record<string, unknown>[];
  let configPatch: Record<string, unknown>[];
  let kubeOps: KubeOperationSpec[];
  let metrics: MetricOperation[];
  try {
    valuesPatch = parseValuesPatch(raw.files.valuesJsonPatch);
  } catch (err) {
    return fail(`got bad json patch for values: ${(err as Error).message}`);
  }
  try {
    configPatch = parseValuesPatch(raw.files.configValuesJsonPatch);
  } catch (err) {
    return fail(`got bad json patch for config values: ${(err as Error).message}`);
  }
  try {
    metrics = parseMetrics(raw.files.metrics, state.hookName);
  } catch (err) {
    return fail(`got bad metrics: ${(err as Error).message}`);
  }
  try {
    kubeOps = parseKubernetesOperations(raw.files.kubernetesPatch);
  } catch (err) {
    return fail(`got bad kubernetes operations: ${(err as Error).message}`);
  }
  result.valuesPatch = valuesPatch as unknown as ValuesPatchOperation[];
  result.configValuesPatch = configPatch as unknown as ValuesPatchOperation[];
  result.kubernetesOperations = kubeOps;
  result.metrics = metrics;

  state.metrics.apply(metrics);

  result.operationErrors = applyKubernetesOperations(state.cluster, kubeOps, state.jq);
  if (result.operationErrors.length > 0) {
    const text = result.operationErrors
      .map(e => `#${e.index} ${e.operation}: ${e.message}`)
      .join("; ");
    return fail(`kubernetes operations failed: ${text}`);
  }

  if (configPatch.length > 0) {
    if ((state.configValuesPatches ?? "refuse") === "refuse") {
      return fail("saving patch values in ModuleConfig is forbidden");
    }
    const applied = state.values.applyConfigPatch(configPatch);
    if (!applied.ok) return fail(`config values patch: ${applied.error}`);
  }

  const outcome = state.values.applyHookPatch(valuesPatch);
  if (!outcome.ok) return fail(outcome.error);
  return { ...result, ok: true, valuesChanged: outcome.changed };
}
