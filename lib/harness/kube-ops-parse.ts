// KUBERNETES_PATCH_PATH, parsed as shell-operator's ParseOperations does: a JSON stream of
// operation objects, else a multi-document YAML stream (a top-level array is neither), each
// operation validated against its kind's required fields. Applying: kube-ops-apply.ts.
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { isRecord } from "../validation/reader";
import { parseJsonStream } from "./json";

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

const STRING_FIELDS = [
  "apiVersion",
  "kind",
  "namespace",
  "name",
  "subresource",
  "jqFilter",
] as const;

const BOOLEAN_FIELDS = ["ignoreMissingObject", "ignoreHookError"] as const;

export class KubeOperationsError extends Error {
  override name = "KubeOperationsError";
}

type Fail = (message: string) => never;

/** Parses the file; throws KubeOperationsError naming the first bad operation. */
export function parseKubernetesOperations(text: string): KubeOperationSpec[] {
  if (text.trim() === "") return [];
  // Go's encoding/json matches field names case-insensitively, gopkg.in/yaml.v3 does not
  const json = jsonOperations(text);
  if (json) return json.map((doc, i) => toSpec(doc, i, true));
  return yamlOperations(text).map((doc, i) => toSpec(doc, i, false));
}

/** The documents of a JSON stream of objects; undefined when the text is not one. */
function jsonOperations(text: string): Record<string, unknown>[] | undefined {
  try {
    const docs = parseJsonStream(text);
    return docs.every(isRecord) ? (docs as Record<string, unknown>[]) : undefined;
  } catch {
    return undefined;
  }
}

function yamlOperations(text: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      throw new KubeOperationsError(`neither a JSON nor a YAML stream: ${doc.errors[0]?.message}`);
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
  return docs;
}

function toSpec(
  doc: Record<string, unknown>,
  index: number,
  caseInsensitive: boolean,
): KubeOperationSpec {
  const raw = knownFields(doc, caseInsensitive);
  const fail: Fail = (msg: string): never => {
    throw new KubeOperationsError(`operation #${index} (${String(raw.operation)}): ${msg}`);
  };
  const op = raw.operation;
  if (typeof op !== "string" || !OPERATIONS.includes(op as KubeOperationName)) {
    fail(`unsupported operation, expected one of ${OPERATIONS.join(", ")}`);
  }
  const spec: KubeOperationSpec = { operation: op as KubeOperationName };
  for (const key of STRING_FIELDS) {
    const v = raw[key];
    if (v === undefined || v === null || v === "") continue;
    if (typeof v !== "string") fail(`'${key}' must be a string`);
    spec[key] = v as string;
  }
  for (const key of BOOLEAN_FIELDS) {
    const v = raw[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== "boolean") fail(`'${key}' must be a boolean`);
    spec[key] = v as boolean;
  }
  operationFields(spec, raw, fail);
  return spec;
}

/** The OperationSpec fields of a document; unknown fields are dropped. */
function knownFields(
  doc: Record<string, unknown>,
  caseInsensitive: boolean,
): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    const field = FIELDS.find(
      f => f === key || (caseInsensitive && f.toLowerCase() === key.toLowerCase()),
    );
    if (field && !(field in raw && field !== key)) raw[field] = value;
  }
  return raw;
}

/** The fields each operation requires, checked and set on `spec`. */
function operationFields(spec: KubeOperationSpec, raw: Record<string, unknown>, fail: Fail): void {
  switch (spec.operation) {
    case "Create":
    case "CreateIfNotExists":
    case "CreateOrUpdate":
      spec.object = nonEmptyObject(raw.object, "object", fail);
      return;
    case "Delete":
    case "DeleteInBackground":
    case "DeleteNonCascading":
      requireTarget(spec, fail);
      return;
    case "JQPatch":
      requireTarget(spec, fail);
      if (!spec.jqFilter) fail("'jqFilter' is required");
      return;
    case "MergePatch":
      requireTarget(spec, fail);
      spec.mergePatch = nonEmptyObject(raw.mergePatch, "mergePatch", fail);
      return;
    case "JSONPatch":
      requireTarget(spec, fail);
      spec.jsonPatch = jsonPatchOperations(raw.jsonPatch, fail);
      return;
  }
}

function nonEmptyObject(value: unknown, what: string, fail: Fail): Record<string, unknown> {
  const obj = fromStringOrValue(value, what, fail);
  if (!isRecord(obj) || Object.keys(obj).length === 0) {
    fail(`'${what}' is required (a non-empty object)`);
  }
  return obj as Record<string, unknown>;
}

function jsonPatchOperations(value: unknown, fail: Fail): Record<string, unknown>[] {
  const patch = fromStringOrValue(value, "jsonPatch", fail);
  if (!Array.isArray(patch) || patch.length === 0) {
    fail("'jsonPatch' is required (a non-empty array)");
  }
  for (const item of patch as unknown[]) {
    if (!isRecord(item) || typeof item.op !== "string" || typeof item.path !== "string") {
      fail("every jsonPatch operation needs 'op' and 'path'");
    }
  }
  return patch as Record<string, unknown>[];
}

function requireTarget(spec: KubeOperationSpec, fail: Fail): void {
  if (!spec.kind) fail("'kind' is required");
  if (!spec.name) fail("'name' is required");
}

/** `object`, `mergePatch` and `jsonPatch` may be given as YAML/JSON text. */
function fromStringOrValue(value: unknown, what: string, fail: Fail): unknown {
  if (typeof value !== "string") return value;
  try {
    return parseYaml(value) as unknown;
  } catch (err) {
    return fail(`'${what}' is a string but not YAML/JSON: ${(err as Error).message}`);
  }
}
