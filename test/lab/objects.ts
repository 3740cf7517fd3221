// Reading back what the lab API server stored, and comparing it with what was sent.
//
//   await storedObjects(cp, objects)   → Map key → the server's copy (absent ones missing)
//   objectKey(o)                       → "Kind group/namespace/name"
//   differences(sent, stored)          → paths where the server's copy lost or changed a field
import { stringify } from "yaml";
import type { ControlPlane } from "./control-plane";

export interface AnyObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/** Anything with an identity: what a render, a fixture or the server returns. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

export function objectKey(o: ObjectRef): string {
  const slash = o.apiVersion.indexOf("/");
  const group = slash < 0 ? "" : o.apiVersion.slice(0, slash);
  return `${o.kind} ${group}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/** The server's copies of `objects` (by kind, namespace and name), via `kubectl get -f -`. */
export async function storedObjects(
  cp: ControlPlane,
  objects: readonly ObjectRef[],
): Promise<Map<string, AnyObject>> {
  if (objects.length === 0) return new Map();
  const input = objects.map(o => `---\n${stringify(o)}`).join("");
  const { stdout } = await cp.kubectl(["get", "--ignore-not-found", "-o", "json", "-f", "-"], {
    input,
  });
  return objectsOf(stdout);
}

/** The objects of a `kubectl … -o json` answer (one object or a List), by key. */
export function objectsOf(stdout: string): Map<string, AnyObject> {
  const out = new Map<string, AnyObject>();
  if (!stdout.trim()) return out;
  const parsed = JSON.parse(stdout) as { kind: string; items?: AnyObject[] } & AnyObject;
  for (const o of parsed.kind === "List" ? (parsed.items ?? []) : [parsed])
    out.set(objectKey(o), o);
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Every path where `stored` does not hold what `sent` holds: a field pruned, a value changed.
 * Fields the server adds (defaults, metadata) are not differences.
 */
export function differences(sent: unknown, stored: unknown, path = ""): string[] {
  if (Array.isArray(sent)) {
    if (!Array.isArray(stored) || stored.length !== sent.length)
      return [`${path}: sent ${JSON.stringify(sent)}, stored ${JSON.stringify(stored)}`];
    return sent.flatMap((v, i) => differences(v, stored[i], `${path}[${i}]`));
  }
  if (isObject(sent)) {
    if (!isObject(stored)) return [`${path}: sent an object, stored ${JSON.stringify(stored)}`];
    return Object.entries(sent).flatMap(([k, v]) =>
      stored[k] === undefined && v !== undefined
        ? [`${path}.${k}: sent ${JSON.stringify(v)}, not stored`]
        : differences(v, stored[k], `${path}.${k}`),
    );
  }
  return sent === stored || sent === undefined
    ? []
    : [`${path}: sent ${JSON.stringify(sent)}, stored ${JSON.stringify(stored)}`];
}
