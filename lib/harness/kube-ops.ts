// KUBERNETES_PATCH_PATH: parsed as shell-operator's ParseOperations does (a JSON stream of
// operation objects, else a multi-document YAML stream; a top-level array is neither), validated
// per operation, and applied to the fake cluster with the semantics of hook-protocol.md §4.3.
import jsonPatch from "fast-json-patch";
import type { Operation } from "fast-json-patch";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import type { KubeObject } from "../runtime/types";
import type { ClusterState } from "./cluster";
import { describe } from "./cluster";
import type { JqEngine } from "./jq";
import { isRecord, jsonClone, jsonEqual, parseJsonStream } from "./json";

// fast-json-patch is CommonJS: Node's ESM loader sees only its default export.
const { applyPatch } = jsonPatch;

export type KubeOperationName =
  | "Create"
  | "CreateIfNotExists"
  | "CreateOrUpdate"
  | "Delete"
  | "DeleteInBackground"
  | "DeleteNonCascading"
  | "JQPatch"
  | "MergePatch"
  | "JSONPatch";

const OPERATIONS: readonly KubeOperationName[] = [
  "Create",
  "CreateIfNotExists",
  "CreateOrUpdate",
  "Delete",
  "DeleteInBackground",
  "DeleteNonCascading",
  "JQPatch",
  "MergePatch",
  "JSONPatch",
];

/** One operation after parsing: the exact field set of shell-operator's OperationSpec. */
export interface KubeOperationSpec {
  operation: KubeOperationName;
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  object?: Record<string, unknown>;
  jqFilter?: string;
  mergePatch?: Record<string, unknown>;
  jsonPatch?: Record<string, unknown>[];
  ignoreMissingObject?: boolean;
  ignoreHookError?: boolean;
}

const FIELDS = [
  "operation",
  "apiVersion",
  "kind",
  "namespace",
  "name",
  "subresource",
  "object",
  "jqFilter",
  "mergePatch",
  "jsonPatch",
  "ignoreMissingObject",
  "ignoreHookError",
] as const;

export class KubeOperationsError extends Error {
  override name = "KubeOperationsError";
}

export interface OperationError {
  index: number;
  operation: string;
  message: string;
}

/** Parses the file; throws KubeOperationsError naming the first bad operation. */
export function parseKubernetesOperations(text: string): KubeOperationSpec[] {
  if (text.trim() === "") return [];
  let docs: unknown[];
  let caseInsensitive = true; // Go's encoding/json matches field names case-insensitively
  try {
    docs = parseJsonStream(text);
    if (docs.some(d => !isRecord(d))) throw new Error("not an object stream");
  } catch {
    caseInsensitive = false; // gopkg.in/yaml.v3 does not
    docs = [];
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) {
        throw new KubeOperationsError(
          `neither a JSON nor a YAML stream: ${doc.errors[0]?.message}`,
        );
      }
      const value: unknown = doc.toJSON();
      if (value === null || value === undefined) continue;
      if (!isRecord(value)) {
        throw new KubeOperationsError(
          `operation #${docs.length} must be an object (a top-level array is not accepted): ${JSON.stringify(value).slice(0, 200)}`,
        );
      }
      docs.push(value);
    }
  }
  return docs.map((doc, i) => toSpec(doc as Record<string, unknown>, i, caseInsensitive));
}

function toSpec(
  doc: Record<string, unknown>,
  index: number,
  caseInsensitive: boolean,
): KubeOperationSpec {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    const field = FIELDS.find(
      f => f === key || (caseInsensitive && f.toLowerCase() === key.toLowerCase()),
    );
    if (field && !(field in raw && field !== key)) raw[field] = value; // unknown fields are dropped
  }
  const fail = (msg: string): never => {
    throw new KubeOperationsError(`operation #${index} (${String(raw.operation)}): ${msg}`);
  };
  const op = raw.operation;
  if (typeof op !== "string" || !OPERATIONS.includes(op as KubeOperationName)) {
    fail(`unsupported operation, expected one of ${OPERATIONS.join(", ")}`);
  }
  const spec: KubeOperationSpec = { operation: op as KubeOperationName };
  for (const key of [
    "apiVersion",
    "kind",
    "namespace",
    "name",
    "subresource",
    "jqFilter",
  ] as const) {
    const v = raw[key];
    if (v === undefined || v === null || v === "") continue;
    if (typeof v !== "string") fail(`'${key}' must be a string`);
    spec[key] = v as string;
  }
  for (const key of ["ignoreMissingObject", "ignoreHookError"] as const) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "boolean") fail(`'${key}' must be a boolean`);
    spec[key] = v as boolean;
  }
  switch (spec.operation) {
    case "Create":
    case "CreateIfNotExists":
    case "CreateOrUpdate": {
      const obj = fromStringOrValue(raw.object, "object", fail);
      if (!isRecord(obj) || Object.keys(obj).length === 0)
        fail("'object' is required (a non-empty object)");
      spec.object = obj as Record<string, unknown>;
      break;
    }
    case "Delete":
    case "DeleteInBackground":
    case "DeleteNonCascading":
      requireTarget(spec, fail);
      break;
    case "JQPatch":
      requireTarget(spec, fail);
      if (!spec.jqFilter) fail("'jqFilter' is required");
      break;
    case "MergePatch": {
      requireTarget(spec, fail);
      const patch = fromStringOrValue(raw.mergePatch, "mergePatch", fail);
      if (!isRecord(patch) || Object.keys(patch).length === 0)
        fail("'mergePatch' is required (a non-empty object)");
      spec.mergePatch = patch as Record<string, unknown>;
      break;
    }
    case "JSONPatch": {
      requireTarget(spec, fail);
      const patch = fromStringOrValue(raw.jsonPatch, "jsonPatch", fail);
      if (!Array.isArray(patch) || patch.length === 0)
        fail("'jsonPatch' is required (a non-empty array)");
      for (const item of patch as unknown[]) {
        if (!isRecord(item) || typeof item.op !== "string" || typeof item.path !== "string") {
          fail("every jsonPatch operation needs 'op' and 'path'");
        }
      }
      spec.jsonPatch = patch as Record<string, unknown>[];
      break;
    }
  }
  return spec;
}

function requireTarget(spec: KubeOperationSpec, fail: (m: string) => never): void {
  if (!spec.kind) fail("'kind' is required");
  if (!spec.name) fail("'name' is required");
}

/** `object`, `mergePatch` and `jsonPatch` may be given as YAML/JSON text. */
function fromStringOrValue(value: unknown, what: string, fail: (m: string) => never): unknown {
  if (typeof value !== "string") return value;
  try {
    return parseYaml(value) as unknown;
  } catch (err) {
    return fail(`'${what}' is a string but not YAML/JSON: ${(err as Error).message}`);
  }
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
    case "CreateOrUpdate": {
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
      return;
    }
    case "Delete":
    case "DeleteInBackground":
    case "DeleteNonCascading":
      cluster.delete(targetOf(op)); // NotFound is ignored
      return;
    case "MergePatch":
    case "JSONPatch":
    case "JQPatch": {
      const target = targetOf(op);
      const existing = cluster.find(target);
      if (!existing) {
        if (op.ignoreMissingObject) return;
        throw new Error(`${op.kind} ${op.namespace ? op.namespace + "/" : ""}${op.name} not found`);
      }
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
      const hasStatus = cluster.hasStatusSubresource(existing.kind, existing.apiVersion);
      let result: KubeObject;
      if (op.subresource === "status") {
        result = withStatus(existing, next.status);
      } else if (op.subresource) {
        throw new Error(`subresource '${op.subresource}' is not supported by the harness`);
      } else {
        result = hasStatus ? withStatus(next, existing.status) : next;
      }
      if (!jsonEqual(result, existing)) cluster.upsert(result);
      return;
    }
  }
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
