import type { KubernetesObject, V1ObjectMeta } from "@kubernetes/client-node";

// Types of the shell-operator / addon-operator hook contract (configVersion v1), shared by the
// hook runtime (what a hook prints and reads) and the harness (what plays the operator).
// Field names are the wire names of the protocol (docs/hook-protocol.md#hook-config, #run-files).

export type WatchEvent = "Added" | "Modified" | "Deleted";

export interface LabelSelectorRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface FieldSelectorRequirement {
  field: string;
  operator: "=" | "==" | "Equals" | "!=" | "NotEquals";
  value: string;
}

export interface NameSelector {
  matchNames: string[];
}

/** Which objects a kubernetes binding watches. */
export interface ObjectSelector {
  apiVersion?: string;
  kind: string;
  nameSelector?: NameSelector;
  labelSelector?: LabelSelector;
  fieldSelector?: { matchExpressions: FieldSelectorRequirement[] };
  namespace?: { nameSelector?: NameSelector; labelSelector?: LabelSelector };
}

/** One `kubernetes` binding exactly as it is printed on `--config`. */
export interface KubernetesBindingConfig extends ObjectSelector {
  name: string;
  jqFilter?: string;
  executeHookOnEvent?: WatchEvent[];
  executeHookOnSynchronization?: boolean;
  waitForSynchronization?: boolean;
  keepFullObjectsInMemory?: boolean;
  allowFailure?: boolean;
  queue?: string;
  group?: string;
  includeSnapshotsFrom?: string[];
}

export interface ScheduleBindingConfig {
  name?: string;
  crontab: string;
  allowFailure?: boolean;
  queue?: string;
  group?: string;
  includeSnapshotsFrom?: string[];
}

/** The `--config` document of an addon-operator module hook (configVersion v1). */
export interface ModuleHookConfig {
  configVersion: "v1";
  onStartup?: number;
  beforeHelm?: number;
  afterHelm?: number;
  beforeDeleteHelm?: number;
  afterDeleteHelm?: number;
  schedule?: ScheduleBindingConfig[];
  kubernetes?: KubernetesBindingConfig[];
  settings?: { executionMinInterval: string; executionBurst: number };
}

/** Item of `objects` and of snapshot arrays (`ObjectAndFilterResult`). */
export interface ObjectAndFilterResult {
  object?: KubeObject | null;
  filterResult?: unknown;
}

export type Snapshots = Record<string, ObjectAndFilterResult[]>;

/** One element of the BINDING_CONTEXT_PATH array, as serialised by `BindingContext.MapV1`. */
export interface BindingContext {
  binding: string;
  type?: "Synchronization" | "Event" | "Schedule" | "Group";
  watchEvent?: WatchEvent;
  object?: KubeObject | null;
  filterResult?: unknown;
  objects?: ObjectAndFilterResult[];
  snapshots?: Snapshots;
  groupName?: string;
}

/**
 * A Kubernetes object as hooks receive and produce it: @kubernetes/client-node's own types
 * (type-only: nothing of the client library runs in the hooks), with what every object has made
 * required, and room for the kind's own fields.
 */
export type KubeObject = KubernetesObject & {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta & { name: string };
  [key: string]: unknown;
};

/** JSON Patch operations addon-operator accepts in VALUES_JSON_PATCH_PATH. */
export type ValuesPatchOperation =
  { op: "add"; path: string; value: unknown } | { op: "remove"; path: string };

/** One line of KUBERNETES_PATCH_PATH (shell-operator object_patch operation spec). */
export type KubernetesOperation =
  | { operation: "Create" | "CreateIfNotExists" | "CreateOrUpdate"; object: KubeObject }
  | {
      operation: "Delete" | "DeleteInBackground" | "DeleteNonCascading";
      apiVersion?: string;
      kind: string;
      namespace?: string;
      name: string;
    }
  | (PatchTarget & { operation: "MergePatch"; mergePatch: Record<string, unknown> })
  | (PatchTarget & { operation: "JSONPatch"; jsonPatch: JsonPatchOperation[] })
  | (PatchTarget & { operation: "JQPatch"; jqFilter: string });

export interface PatchTarget {
  apiVersion?: string;
  kind: string;
  namespace?: string;
  name: string;
  subresource?: string;
  ignoreMissingObject?: boolean;
}

export interface JsonPatchOperation {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  value?: unknown;
  from?: string;
}

/** One line of METRICS_PATH. */
export interface MetricOperation {
  name?: string;
  group: string;
  action: "set" | "add" | "expire";
  value?: number;
  labels?: Record<string, string>;
}

/** The module's values key (`registry` is already camel case). */
export const MODULE_VALUES_KEY = "registry";
export const MODULE_NAME = "registry";
