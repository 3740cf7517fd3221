// Recorders for the two other outputs of a hook run: Kubernetes operations (KUBERNETES_PATCH_PATH)
// and metrics (METRICS_PATH). They only record; the runtime writes them after a successful run.
import type {
  JsonPatchOperation,
  KubeObject,
  KubernetesOperation,
  MetricOperation,
  PatchTarget,
} from "./types";

export interface ObjectRef {
  apiVersion?: string;
  kind: string;
  namespace?: string;
  name: string;
}

export class KubernetesOperations {
  readonly operations: KubernetesOperation[] = [];

  create(object: KubeObject): void {
    this.operations.push({ operation: "Create", object: structuredClone(object) });
  }

  createIfNotExists(object: KubeObject): void {
    this.operations.push({ operation: "CreateIfNotExists", object: structuredClone(object) });
  }

  createOrUpdate(object: KubeObject): void {
    this.operations.push({ operation: "CreateOrUpdate", object: structuredClone(object) });
  }

  delete(ref: ObjectRef, mode: "Foreground" | "Background" | "Orphan" = "Foreground"): void {
    const operation = {
      Foreground: "Delete",
      Background: "DeleteInBackground",
      Orphan: "DeleteNonCascading",
    } as const;
    this.operations.push({ operation: operation[mode], ...ref });
  }

  mergePatch(target: PatchTarget, mergePatch: Record<string, unknown>): void {
    this.operations.push({ operation: "MergePatch", ...target, mergePatch });
  }

  jsonPatch(target: PatchTarget, jsonPatch: JsonPatchOperation[]): void {
    this.operations.push({ operation: "JSONPatch", ...target, jsonPatch });
  }

  jqPatch(target: PatchTarget, jqFilter: string): void {
    this.operations.push({ operation: "JQPatch", ...target, jqFilter });
  }
}

export class Metrics {
  readonly operations: MetricOperation[] = [];

  constructor(private readonly defaultGroup: string) {}

  set(name: string, value: number, labels: Record<string, string> = {}, group?: string): void {
    this.operations.push({ name, group: group ?? this.defaultGroup, action: "set", value, labels });
  }

  add(name: string, value: number, labels: Record<string, string> = {}, group?: string): void {
    this.operations.push({ name, group: group ?? this.defaultGroup, action: "add", value, labels });
  }

  expire(group?: string): void {
    this.operations.push({ group: group ?? this.defaultGroup, action: "expire" });
  }
}
