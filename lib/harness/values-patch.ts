// Values JSON patches as addon-operator treats a module hook's VALUES_JSON_PATCH_PATH: only
// `add`/`remove`, only under the module's own key, applied strictly (add needs the parent, remove
// needs the path) — and, for stored patches, leniently with compaction
// (docs/hook-protocol.md#values-patches).
import type { ValuesPatchOperation } from "../runtime/types";
import { isRecord } from "../validation/reader";
import { jsonClone, parseJsonStream } from "./json";

export class ValuesPatchError extends Error {
  override name = "ValuesPatchError";
}

/** A values patch file: a JSON stream of operation objects and/or arrays of them. */
export function parseValuesPatch(text: string): Record<string, unknown>[] {
  const ops: Record<string, unknown>[] = [];
  for (const value of parseJsonStream(text)) {
    for (const op of Array.isArray(value) ? value : [value]) {
      if (!isRecord(op))
        throw new ValuesPatchError(`patch operation is not an object: ${JSON.stringify(op)}`);
      // addon-operator keeps only op, path and value.
      const kept: Record<string, unknown> = { op: op.op, path: op.path };
      if ("value" in op) kept.value = op.value;
      ops.push(kept);
    }
  }
  return ops;
}

/** The hook-output check: add/remove only, first path segment must be `moduleKey`. */
export function checkHookValuesPatch(
  ops: readonly Record<string, unknown>[],
  moduleKey: string,
): ValuesPatchOperation[] {
  return ops.map(op => {
    if (op.op !== "add" && op.op !== "remove") {
      throw new ValuesPatchError(
        `unsupported patch operation '${String(op.op)}': '${JSON.stringify(op)}'`,
      );
    }
    if (typeof op.path !== "string") {
      throw new ValuesPatchError(`patch operation without a string path: '${JSON.stringify(op)}'`);
    }
    const root = op.path.split("/")[1];
    if (!op.path.startsWith("/") || root !== moduleKey) {
      throw new ValuesPatchError(
        `unacceptable patch operation for path '${root ?? op.path}' (only '${moduleKey}' accepted): '${JSON.stringify(op)}'`,
      );
    }
    if (op.op === "add" && !("value" in op)) {
      throw new ValuesPatchError(`add operation without a value: '${JSON.stringify(op)}'`);
    }
    return op.op === "add"
      ? { op: "add", path: op.path, value: op.value }
      : { op: "remove", path: op.path };
  });
}

export function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new ValuesPatchError(`invalid JSON pointer '${pointer}'`);
  return pointer
    .slice(1)
    .split("/")
    .map(s => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function toPointer(segments: readonly string[]): string {
  return segments.map(s => "/" + s.replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

/**
 * Applies operations to a copy of `doc`. Strict: `add` needs an existing parent container,
 * `remove` an existing path. Lenient: a `remove` of a missing path is skipped.
 */
export function applyValuesPatch(
  doc: unknown,
  ops: readonly ValuesPatchOperation[],
  mode: "strict" | "lenient",
): unknown {
  let out = jsonClone(doc);
  for (const op of ops) {
    const segments = parsePointer(op.path);
    if (segments.length === 0) {
      if (op.op === "add") out = jsonClone(op.value);
      else throw new ValuesPatchError("remove of the whole document");
      continue;
    }
    const last = segments[segments.length - 1] as string;
    const parent = resolve(out, segments.slice(0, -1));
    if (op.op === "add") {
      if (Array.isArray(parent)) {
        const index = last === "-" ? parent.length : arrayIndex(last, parent.length + 1);
        if (index === undefined) throw new ValuesPatchError(`add: bad array index in ${op.path}`);
        parent.splice(index, 0, jsonClone(op.value));
      } else if (isRecord(parent)) {
        parent[last] = jsonClone(op.value);
      } else {
        throw new ValuesPatchError(`add operation does not apply: doc is missing path: ${op.path}`);
      }
      continue;
    }
    const exists = Array.isArray(parent)
      ? arrayIndex(last, parent.length) !== undefined
      : isRecord(parent) && Object.prototype.hasOwnProperty.call(parent, last);
    if (!exists) {
      if (mode === "lenient") continue;
      throw new ValuesPatchError(
        `remove operation does not apply: doc is missing path: ${op.path}`,
      );
    }
    if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length) as number, 1);
    else delete (parent as Record<string, unknown>)[last];
  }
  return out;
}

function arrayIndex(segment: string, length: number): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(segment)) return undefined;
  const n = Number(segment);
  return n < length ? n : undefined;
}

function resolve(doc: unknown, segments: readonly string[]): unknown {
  let cur = doc;
  for (const s of segments) {
    if (Array.isArray(cur)) {
      const i = arrayIndex(s, cur.length);
      cur = i === undefined ? undefined : cur[i];
    } else if (isRecord(cur)) {
      cur = Object.prototype.hasOwnProperty.call(cur, s) ? cur[s] : undefined;
    } else {
      return undefined;
    }
  }
  return cur;
}

/**
 * addon-operator's CompactPatches: one operation per path (the last); a new add/remove on a path
 * discards stored operations on its sub-paths; the result is sorted by path.
 */
export function compactPatches(
  stored: readonly ValuesPatchOperation[],
  added: readonly ValuesPatchOperation[],
): ValuesPatchOperation[] {
  const tree = new Map<string, ValuesPatchOperation>();
  for (const op of stored) tree.set(op.path, op);
  for (const op of added) {
    for (const path of [...tree.keys()]) {
      if (path.length > op.path.length && path.startsWith(op.path + "/")) tree.delete(path);
    }
    tree.set(op.path, op);
  }
  return [...tree.keys()].sort().map(path => tree.get(path) as ValuesPatchOperation);
}
