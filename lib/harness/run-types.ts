// What both runners (in-process and executable) produce, and the result of a run after the
// operator-side application of its outputs.
import type { BindingContext, ValuesPatchOperation } from "../runtime/types";
import type { KubeOperationSpec, OperationError } from "./kube-ops";
import type { MetricOperation } from "./metrics";

export interface HookLogRecord {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface HookRunInputs {
  bindingContexts: BindingContext[];
  /** VALUES_PATH content. */
  values: Record<string, unknown>;
  /** CONFIG_VALUES_PATH content. */
  configValues: Record<string, unknown>;
}

/** The hook's side of a run: exit status, logs and the text of the four output files. */
export interface RawHookRun {
  ok: boolean;
  /** Failure message as the operator reports it (stderr text, or "cmd run: exit status N"). */
  error?: string;
  stderr: string;
  logs: HookLogRecord[];
  files: {
    valuesJsonPatch: string;
    configValuesJsonPatch: string;
    kubernetesPatch: string;
    metrics: string;
  };
}

export interface HookRunner {
  /** Hook name: default metrics group and log field. */
  readonly name: string;
  run(inputs: HookRunInputs): Promise<RawHookRun>;
}

export interface HookRunResult {
  ok: boolean;
  error?: string;
  stderr: string;
  logs: HookLogRecord[];
  bindingContexts: BindingContext[];
  /** Operations as the hook emitted them (`op`, `path`, `value` kept), [] when unparsable. */
  valuesPatch: ValuesPatchOperation[];
  configValuesPatch: ValuesPatchOperation[];
  kubernetesOperations: KubeOperationSpec[];
  metrics: MetricOperation[];
  /** Failed kubernetes operations, by index in the file. */
  operationErrors: OperationError[];
  /** Whether module values changed (the operator would queue a ModuleRun after Event/Schedule). */
  valuesChanged: boolean;
}
