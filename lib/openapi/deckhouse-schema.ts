// Deckhouse / addon-operator extensions of OpenAPI schemas, as plain functions over JSON data:
//   * `x-extend`               — values.yaml borrows the config-values.yaml schema (ExtendTransformer);
//   * additionalProperties     — defaults to false on every object schema (AdditionalPropertiesTransformer);
//   * `x-required-for-helm`    — extra `required` entries for the check before Helm (RequiredForHelmTransformer);
//   * structural defaulting    — addon-operator's `ApplyDefaults` (properties and array items only);
//   * Ajv error → ValidationIssue with the field named.
// No Ajv or CEL import here: the functions are cheap and usable anywhere.

import type { ErrorObject } from "ajv";
import type { ValidationIssue } from "./types";
import { isPlainObject } from "../validation/reader";

export type JsonSchema = Record<string, unknown>;

export const X_EXTEND = "x-extend";
export const X_REQUIRED_FOR_HELM = "x-required-for-helm";
export const X_DECKHOUSE_VALIDATIONS = "x-deckhouse-validations";
export const X_EXAMPLES = "x-examples";

function schemaMap(v: unknown): Record<string, unknown> {
  return isPlainObject(v) ? v : {};
}

function stringList(v: unknown): string[] {
  if (typeof v === "string") return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string");
  return [];
}

function union(first: string[], second: string[]): string[] {
  const out = [...first];
  for (const s of second) if (!out.includes(s)) out.push(s);
  return out;
}

/** The file named by `x-extend.schema`, or undefined when the schema extends nothing. */
export function extendTarget(schema: JsonSchema): string | undefined {
  const ext = schema[X_EXTEND];
  if (isPlainObject(ext) && typeof ext.schema === "string" && ext.schema !== "") return ext.schema;
  return undefined;
}

/**
 * Applies `x-extend` the way addon-operator's ExtendTransformer does: properties,
 * patternProperties and definitions of the parent are added where the schema has no key of the
 * same name (own keys win, no deep merge); `required` is the union (parent first); every `x-*`
 * key of the parent is added unless the schema has it; title and description are taken from the
 * parent only when the schema has none. Returns a new object; inputs are not modified.
 */
export function applyExtend(schema: JsonSchema, parent: JsonSchema): JsonSchema {
  const out: JsonSchema = { ...schema };
  for (const key of ["properties", "patternProperties", "definitions"] as const) {
    const merged = { ...schemaMap(parent[key]), ...schemaMap(schema[key]) };
    if (Object.keys(merged).length > 0) out[key] = merged;
  }
  const required = union(stringList(parent.required), stringList(schema.required));
  if (required.length > 0) out.required = required;
  for (const [key, value] of Object.entries(parent)) {
    if (key.startsWith("x-") && !Object.hasOwn(schema, key)) out[key] = value;
  }
  for (const key of ["title", "description"] as const) {
    if (typeof schema[key] !== "string" || schema[key] === "") {
      if (typeof parent[key] === "string" && parent[key] !== "") out[key] = parent[key];
    }
  }
  return out;
}

/** True when the schema decides on unknown keys itself. */
function setsAdditionalProperties(s: JsonSchema): boolean {
  return Object.hasOwn(s, "additionalProperties");
}

/**
 * addon-operator's AdditionalPropertiesTransformer, in place: a schema that does not set
 * `additionalProperties` gets `false`; the walk descends into `properties` and
 * `patternProperties` that do not set it themselves, and always into `items`. The API server's
 * `x-kubernetes-preserve-unknown-fields: true` does not open an object here: the real operator
 * (v1.23.0, docs/adr/0065) looks at `additionalProperties` alone, so a free-form object must say
 * `additionalProperties: true`.
 */
export function closeObjectsInPlace(schema: JsonSchema): JsonSchema {
  if (!setsAdditionalProperties(schema)) schema.additionalProperties = false;
  for (const key of ["properties", "patternProperties"] as const) {
    for (const prop of Object.values(schemaMap(schema[key]))) {
      if (isPlainObject(prop) && !setsAdditionalProperties(prop)) closeObjectsInPlace(prop);
    }
  }
  const items = schema.items;
  if (isPlainObject(items)) closeObjectsInPlace(items);
  else if (Array.isArray(items))
    for (const it of items) if (isPlainObject(it)) closeObjectsInPlace(it);
  return schema;
}

/**
 * RequiredForHelmTransformer, in place: `x-required-for-helm` (a string or a list of strings) is
 * added to `required` of the same schema, at any depth (properties, patternProperties, items and
 * map value schemas).
 */
export function addRequiredForHelmInPlace(schema: JsonSchema): JsonSchema {
  const extra = stringList(schema[X_REQUIRED_FOR_HELM]);
  if (extra.length > 0) schema.required = union(stringList(schema.required), extra);
  const children: unknown[] = [
    ...Object.values(schemaMap(schema.properties)),
    ...Object.values(schemaMap(schema.patternProperties)),
    ...(Array.isArray(schema.items) ? schema.items : [schema.items]),
    schema.additionalProperties,
  ];
  for (const child of children) if (isPlainObject(child)) addRequiredForHelmInPlace(child);
  return schema;
}

/**
 * addon-operator's structural defaulting (`ApplyDefaults`), in place on `value`: for an object, every
 * property of the schema that is missing and has a (non-null) `default` gets a deep copy of it;
 * then the walk continues into every property present in both the object and the schema
 * (including the ones just defaulted). For an array, into every element with `items`. Map values
 * (`additionalProperties` schemas) are not defaulted, as in addon-operator.
 */
export function applyDefaultsInPlace(schema: unknown, value: unknown): void {
  if (!isPlainObject(schema)) return;
  if (isPlainObject(value)) {
    const props = schemaMap(schema.properties);
    for (const [key, prop] of Object.entries(props)) {
      if (!isPlainObject(prop) || prop.default === undefined || prop.default === null) continue;
      if (!Object.hasOwn(value, key)) value[key] = structuredClone(prop.default);
    }
    for (const [key, child] of Object.entries(value)) {
      if (Object.hasOwn(props, key)) applyDefaultsInPlace(props[key], child);
    }
  } else if (Array.isArray(value)) {
    const items = schema.items;
    if (isPlainObject(items)) for (const el of value) applyDefaultsInPlace(items, el);
  }
}

/** Returns a defaulted deep copy; `undefined`/`null` input is treated as `{}`. */
export function withDefaults(schema: JsonSchema, value: unknown): unknown {
  const copy: unknown = value === undefined || value === null ? {} : structuredClone(value);
  applyDefaultsInPlace(schema, copy);
  return copy;
}

export interface SchemaExample {
  /** JSON pointer of the sub-schema inside the whole schema, e.g. `/properties/https`. */
  schemaPointer: string;
  schema: JsonSchema;
  example: unknown;
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** Every `x-examples` entry of the schema tree, with the sub-schema it belongs to. */
export function collectExamples(schema: JsonSchema, pointer = ""): SchemaExample[] {
  const out: SchemaExample[] = [];
  const examples = schema[X_EXAMPLES];
  if (Array.isArray(examples)) {
    for (const example of examples) out.push({ schemaPointer: pointer, schema, example });
  }
  for (const key of ["properties", "patternProperties", "definitions"] as const) {
    for (const [name, child] of Object.entries(schemaMap(schema[key]))) {
      if (isPlainObject(child)) {
        out.push(...collectExamples(child, `${pointer}/${key}/${escapePointer(name)}`));
      }
    }
  }
  if (isPlainObject(schema.items)) out.push(...collectExamples(schema.items, `${pointer}/items`));
  if (isPlainObject(schema.additionalProperties)) {
    out.push(...collectExamples(schema.additionalProperties, `${pointer}/additionalProperties`));
  }
  return out;
}

function decodePointer(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .split("/")
    .slice(1)
    .map(s => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** `registry.internal.customCertificateData["tls.crt"]` style name of a value path. */
export function fieldName(segments: readonly string[]): string {
  let out = "";
  for (const seg of segments) {
    if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === "" ? "(root)" : out;
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * Converts one Ajv error into a ValidationIssue whose path is the JSON pointer of the offending
 * value (below `rootSegments`, e.g. `["registry"]`) and whose message names the field and the
 * failed rule, e.g. `registry.https.mode: must be one of "Disabled", "CertManager" (enum), got "X"`.
 */
export function issueFromAjvError(
  err: ErrorObject,
  rootSegments: readonly string[],
): ValidationIssue {
  const segments = [...rootSegments, ...decodePointer(err.instancePath)];
  const params = err.params as Record<string, unknown>;
  let text: string;
  switch (err.keyword) {
    case "required":
      segments.push(String(params.missingProperty));
      text = "is required (required)";
      break;
    case "additionalProperties":
      segments.push(String(params.additionalProperty));
      text =
        "is not a known field; the schema forbids additional properties (additionalProperties)";
      break;
    case "enum": {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues : [];
      text = `must be one of ${allowed.map(v => JSON.stringify(v)).join(", ")} (enum), got ${short(err.data)}`;
      break;
    }
    default:
      text = `${err.message ?? "is invalid"} (${err.keyword})`;
  }
  return {
    path: segments.length === 0 ? "" : `/${segments.map(escapePointer).join("/")}`,
    message: `${fieldName(segments)}: ${text}`,
  };
}

/** Ajv errors → issues, without duplicates (the same message at the same path). */
export function issuesFromAjvErrors(
  errors: readonly ErrorObject[] | null | undefined,
  rootSegments: readonly string[],
): ValidationIssue[] {
  const seen = new Set<string>();
  const out: ValidationIssue[] = [];
  for (const err of errors ?? []) {
    const issue = issueFromAjvError(err, rootSegments);
    const key = `${issue.path}\u0000${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(issue);
    }
  }
  return out;
}
