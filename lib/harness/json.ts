// Small JSON helpers shared by the harness: type guards, cloning, canonical text (sorted keys, the
// shape gojq and Go's encoding/json produce for maps), deep merge and JSON-stream parsing.

import { isRecord } from "../validation/reader";

export type JsonObject = Record<string, unknown>;

/** Deep copy through JSON, which is what crossing a file boundary does to a value. */
export function jsonClone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

/** JSON text with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isRecord(value)) return value;
  const out: JsonObject = {};
  for (const key of Object.keys(value).sort()) {
    if (value[key] !== undefined) out[key] = sortKeys(value[key]);
  }
  return out;
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/** addon-operator's merge: maps merge recursively, arrays and scalars are replaced. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isRecord(base) || !isRecord(over)) return jsonClone(over);
  const out: JsonObject = jsonClone(base);
  for (const [key, value] of Object.entries(over)) {
    out[key] = key in out ? deepMerge(out[key], value) : jsonClone(value);
  }
  return out;
}

export class JsonStreamError extends Error {
  override name = "JsonStreamError";
}

/**
 * Parses a stream of concatenated JSON values (whitespace or nothing between them), like Go's
 * json.Decoder loop. Empty or whitespace-only input is an empty stream.
 */
export function parseJsonStream(text: string): unknown[] {
  const values: unknown[] = [];
  let pos = skipWs(text, 0);
  while (pos < text.length) {
    const end = valueEnd(text, pos);
    const chunk = text.slice(pos, end);
    try {
      values.push(JSON.parse(chunk));
    } catch (err) {
      throw new JsonStreamError(`value #${values.length}: ${(err as Error).message}`);
    }
    pos = skipWs(text, end);
  }
  return values;
}

function skipWs(text: string, pos: number): number {
  while (pos < text.length && /\s/.test(text[pos] as string)) pos++;
  return pos;
}

/** End offset of the JSON value starting at `pos` (structure only; JSON.parse validates). */
function valueEnd(text: string, pos: number): number {
  const first = text[pos];
  if (first === "{" || first === "[") return containerEnd(text, pos);
  if (first === '"') return stringEnd(text, pos);
  return scalarEnd(text, pos);
}

/** An object or array ends where its opening bracket's depth closes; strings may hold brackets. */
function containerEnd(text: string, pos: number): number {
  let depth = 0;
  let inString = false;
  for (let i = pos; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  throw new JsonStreamError(`value #? at offset ${pos}: unexpected end of input`);
}

function stringEnd(text: string, pos: number): number {
  for (let i = pos + 1; i < text.length; i++) {
    if (text[i] === "\\") i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new JsonStreamError(`string at offset ${pos}: unexpected end of input`);
}

/** A number, `true`, `false` or `null` runs to the next space, bracket or quote. */
function scalarEnd(text: string, pos: number): number {
  let i = pos;
  while (i < text.length && !/[\s{}[\]"]/.test(text[i] as string)) i++;
  if (i === pos)
    throw new JsonStreamError(`unexpected character ${JSON.stringify(text[pos])} at ${pos}`);
  return i;
}
