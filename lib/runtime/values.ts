// Module values as a real document plus a recorder of the JSON Patch operations addon-operator
// accepts: `add` (creating missing parents, because the operator applies patches strictly) and
// `remove` (only of paths that exist, for the same reason). Nothing outside the module key.
import type { ValuesPatchOperation } from "./types";
import { MODULE_VALUES_KEY } from "./types";
import { isRecord } from "../validation/reader";

export type ValuesPath = string | readonly string[];

export class HookInputError extends Error {
  override name = "HookInputError";
}

/** `registry.internal.x` or `["registry", "internal", "x.y"]` → segments. */
export function pathSegments(path: ValuesPath): string[] {
  const segments = typeof path === "string" ? path.split(".") : [...path];
  if (segments.length === 0 || segments.some(s => s === "")) {
    throw new HookInputError(`values path "${String(path)}" has an empty segment`);
  }
  return segments;
}

export function toJsonPointer(segments: readonly string[]): string {
  return "/" + segments.map(s => s.replace(/~/g, "~0").replace(/\//g, "~1")).join("/");
}

export function getAt(doc: unknown, segments: readonly string[]): unknown {
  let cur: unknown = doc;
  for (const s of segments) {
    if (Array.isArray(cur)) cur = cur[Number(s)];
    else if (isRecord(cur)) cur = cur[s];
    else return undefined;
  }
  return cur;
}

export class Values {
  readonly #doc: Record<string, unknown>;
  readonly #ops: ValuesPatchOperation[] = [];

  constructor(doc: Record<string, unknown>) {
    this.#doc = structuredClone(doc);
  }

  /** Current value at a path (reflecting this run's own changes), or undefined. */
  get<T = unknown>(path: ValuesPath): T | undefined {
    return getAt(this.#doc, pathSegments(path)) as T | undefined;
  }

  has(path: ValuesPath): boolean {
    return this.get(path) !== undefined;
  }

  set(path: ValuesPath, value: unknown): void {
    const segments = this.#ownPath(path);
    if (value === undefined) throw new HookInputError(`values ${segments.join(".")}: undefined`);
    let parent: Record<string, unknown> = this.#doc;
    for (let i = 0; i < segments.length - 1; i++) {
      const key = segments[i] as string;
      const next = parent[key];
      if (!isRecord(next)) {
        parent[key] = {};
        this.#ops.push({ op: "add", path: toJsonPointer(segments.slice(0, i + 1)), value: {} });
      }
      parent = parent[key] as Record<string, unknown>;
    }
    const copy = structuredClone(value);
    parent[segments[segments.length - 1] as string] = copy;
    this.#ops.push({ op: "add", path: toJsonPointer(segments), value: structuredClone(copy) });
  }

  remove(path: ValuesPath): void {
    const segments = this.#ownPath(path);
    const parent = getAt(this.#doc, segments.slice(0, -1));
    const last = segments[segments.length - 1] as string;
    if (!isRecord(parent) || !(last in parent)) return;
    delete parent[last];
    this.#ops.push({ op: "remove", path: toJsonPointer(segments) });
  }

  /** The operations recorded so far, in order. */
  patch(): ValuesPatchOperation[] {
    return structuredClone(this.#ops);
  }

  #ownPath(path: ValuesPath): string[] {
    const segments = pathSegments(path);
    if (segments[0] !== MODULE_VALUES_KEY || segments.length < 2) {
      throw new HookInputError(
        `values path "${segments.join(".")}" is outside the module's own key "${MODULE_VALUES_KEY}"`,
      );
    }
    return segments;
  }
}
