// Operations parsed from KUBERNETES_PATCH_PATH (kube-ops-parse.ts) applied to the fake cluster
// with the semantics of docs/hook-protocol.md#values-patches.
import jsonPatch from "fast-json-patch";
import type { Operation } from "fast-json-patch";
import type { KubeObject } from "../runtime/types";
import type { ClusterState } from "./cluster";
import { describe } from "./cluster";
import type { JqEngine } from "./jq";
import { isRecord } from "../validation/reader";
import { jsonClone, jsonEqual } from "./json";
import type { KubeOperationSpec } from "./kube-ops-parse";

// fast-json-patch is CommonJS: Node's ESM loader sees only its default export.
const { applyPatch } = jsonPatch;

export interface OperationError {
  index: number;
  operation: string;
  message: string;
}

/**
 * Applies operations in order; every failing one is recorded with its index and the rest still
 * run. JQPatch needs `jq`.
 */
export function applyKubernetesOperations(
  cluster: ClusterState,
  ops: readonly KubeOperationSpec[],
  jq: JqEngine | undefined,
): OperationError[] {
  const errors: OperationError[] = [];
  ops.forEach((op, index) => {
    try {
      applyOne(cluster, op, jq);
    } catch (err) {
      errors.push({ index, operation: op.operation, message: (err as Error).message });
    }
  });
  return errors;
}

function applyOne(cluster: ClusterState, op: KubeOperationSpec, jq: JqEngine | undefined): void {
  switch (op.operation) {
    case "Create":
    case "CreateIfNotExists":
    case "CreateOrUpdate":
      return applyCreate(cluster, op);
    case "Delete":
    case "DeleteInBackground":
    case "DeleteNonCascading":
      cluster.delete(targetOf(op)); // NotFound is ignored
      return;
    case "MergePatch":
    case "JSONPatch":
    case "JQPatch":
      return applyPatchOperation(cluster, op, jq);
  }
}

function applyCreate(cluster: ClusterState, op: KubeOperationSpec): void {
  const obj = checkObject(op.object);
  const status = cluster.hasStatusSubresource(obj.kind, obj.apiVersion);
  const existing = cluster.find(refOf(obj));
  if (existing) {
    if (op.operation === "Create") throw new Error(`${describe(obj)} already exists`);
    if (op.operation === "CreateIfNotExists") return;
    // Update (PUT): the status subresource cannot be changed this way.
    cluster.upsert(status ? withStatus(obj, existing.status) : obj);
    return;
  }
  requireNamespace(cluster, obj);
  cluster.create(status ? withStatus(obj, undefined) : obj);
}

function applyPatchOperation(
  cluster: ClusterState,
  op: KubeOperationSpec,
  jq: JqEngine | undefined,
): void {
  const existing = cluster.find(targetOf(op));
  if (!existing) {
    if (op.ignoreMissingObject) return;
    throw new Error(`${op.kind} ${op.namespace ? op.namespace + "/" : ""}${op.name} not found`);
  }
  const next = patchedObject(existing, op, jq);
  let result: KubeObject;
  if (op.subresource === "status") {
    result = withStatus(existing, next.status);
  } else if (op.subresource) {
    throw new Error(`subresource '${op.subresource}' is not supported by the harness`);
  } else {
    const hasStatus = cluster.hasStatusSubresource(existing.kind, existing.apiVersion);
    result = hasStatus ? withStatus(next, existing.status) : next;
  }
  if (!jsonEqual(result, existing)) cluster.upsert(result);
}

/** The patch's result, checked to be the same object (kind, namespace, name). */
function patchedObject(
  existing: KubeObject,
  op: KubeOperationSpec,
  jq: JqEngine | undefined,
): KubeObject {
  const patched = patchObject(existing, op, jq);
  if (!isRecord(patched) || !isRecord(patched.metadata)) {
    throw new Error(`${op.operation} result is not a Kubernetes object`);
  }
  const next = patched as KubeObject;
  if (
    next.metadata.name !== existing.metadata.name ||
    (next.metadata.namespace ?? "") !== (existing.metadata.namespace ?? "") ||
    next.kind !== existing.kind
  ) {
    throw new Error(`${op.operation} must not change kind, namespace or name`);
  }
  return next;
}

function patchObject(
  existing: KubeObject,
  op: KubeOperationSpec,
  jq: JqEngine | undefined,
): unknown {
  if (op.operation === "MergePatch") return mergePatch(existing, op.mergePatch);
  if (op.operation === "JSONPatch") {
    try {
      return applyPatch(
        jsonClone(existing),
        jsonClone(op.jsonPatch) as unknown as Operation[],
        true,
      ).newDocument;
    } catch (err) {
      throw new Error(`JSONPatch: ${(err as Error).message.split("\n")[0]}`);
    }
  }
  if (!jq) throw new Error("JQPatch needs jq");
  const out = jq.apply(op.jqFilter as string, existing);
  if (!out.ok) throw new Error(`JQPatch: ${out.error}`);
  return out.value;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return jsonClone(patch);
  const out: Record<string, unknown> = isRecord(target) ? jsonClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function withStatus(obj: KubeObject, status: unknown): KubeObject {
  const out = jsonClone(obj);
  if (status === undefined) delete out.status;
  else out.status = jsonClone(status);
  return out;
}

function checkObject(raw: Record<string, unknown> | undefined): KubeObject {
  const obj = raw ?? {};
  const meta = obj.metadata;
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
    throw new Error("object needs apiVersion and kind");
  }
  if (!isRecord(meta) || typeof meta.name !== "string" || meta.name === "") {
    throw new Error(`${obj.kind}: metadata.name is required`);
  }
  return jsonClone(obj) as KubeObject;
}

function requireNamespace(cluster: ClusterState, obj: KubeObject): void {
  if (cluster.isNamespaced(obj.kind, obj.apiVersion) && !obj.metadata.namespace) {
    throw new Error(`${describe(obj)}: metadata.namespace is required for a namespaced kind`);
  }
}

function refOf(obj: KubeObject) {
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    namespace: obj.metadata.namespace,
    name: obj.metadata.name,
  };
}

function targetOf(op: KubeOperationSpec) {
  return {
    ...(op.apiVersion !== undefined && { apiVersion: op.apiVersion }),
    kind: op.kind as string,
    ...(op.namespace !== undefined && { namespace: op.namespace }),
    name: op.name as string,
  };
}
