// The fake cluster: a set of objects keyed by API group, kind, namespace and name (one object per
// resource whatever version it was written in), loaded from multi-document YAML, `kind: List`
// documents or plain objects. Order of insertion is kept: it is the order events are generated in.
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../runtime/types";
import { isRecord } from "../validation/reader";
import { jsonClone } from "./json";
import { apiGroup, KindRegistry } from "./kinds";

export class ClusterError extends Error {
  override name = "ClusterError";
}

export type ClusterInput = string | readonly unknown[];

export interface ObjectRef {
  apiVersion?: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** Parses objects from YAML/JSON text (multi-document, `kind: List` flattened) or an array. */
export function parseObjects(input: ClusterInput): KubeObject[] {
  const docs: unknown[] = [];
  if (typeof input === "string") {
    for (const doc of parseAllDocuments(input)) {
      if (doc.errors.length > 0) throw new ClusterError(`YAML: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJSON();
      if (value !== null && value !== undefined) docs.push(value);
    }
  } else {
    docs.push(...input);
  }
  const out: KubeObject[] = [];
  for (const doc of docs) flatten(doc, out);
  return out;
}

function flatten(doc: unknown, out: KubeObject[]): void {
  if (!isRecord(doc)) throw new ClusterError(`not an object: ${JSON.stringify(doc)}`);
  if (typeof doc.kind === "string" && doc.kind.endsWith("List") && Array.isArray(doc.items)) {
    for (const item of doc.items) flatten(item, out);
    return;
  }
  const meta = doc.metadata;
  if (typeof doc.apiVersion !== "string" || doc.apiVersion === "") {
    throw new ClusterError(`object without apiVersion: ${JSON.stringify(doc)}`);
  }
  if (typeof doc.kind !== "string" || doc.kind === "") {
    throw new ClusterError(`object without kind: ${JSON.stringify(doc)}`);
  }
  if (!isRecord(meta) || typeof meta.name !== "string" || meta.name === "") {
    throw new ClusterError(`${doc.kind} without metadata.name`);
  }
  if (meta.namespace !== undefined && typeof meta.namespace !== "string") {
    throw new ClusterError(`${doc.kind}/${meta.name}: metadata.namespace must be a string`);
  }
  out.push(jsonClone(doc) as KubeObject);
}

export class ClusterState {
  private objects = new Map<string, KubeObject>();

  constructor(readonly kinds: KindRegistry = new KindRegistry()) {}

  /** Replaces the whole state. */
  set(input: ClusterInput): void {
    const next = new Map<string, KubeObject>();
    for (const obj of parseObjects(input)) {
      const normal = this.normalize(obj);
      next.set(this.keyOf(normal), normal);
    }
    this.objects = next;
  }

  /** Adds or replaces objects, keeping the others. */
  put(input: ClusterInput): void {
    for (const obj of parseObjects(input)) this.upsert(obj);
  }

  keyOf(obj: KubeObject): string {
    return this.key({
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
    });
  }

  key(ref: ObjectRef): string {
    const info = this.kinds.resolve(ref.kind, ref.apiVersion);
    const group = apiGroup(ref.apiVersion) ?? (info ? apiGroup(info.apiVersion) : "") ?? "";
    const kind = info?.kind ?? this.kinds.canonicalKind(ref.kind);
    const ns = info && !info.namespaced ? "" : (ref.namespace ?? "");
    return `${group}|${kind}|${ns}|${ref.name}`;
  }

  /** Whether objects of this kind live in namespaces (unknown kinds: decided by the object). */
  isNamespaced(kind: string, apiVersion?: string): boolean | undefined {
    return this.kinds.resolve(kind, apiVersion)?.namespaced;
  }

  hasStatusSubresource(kind: string, apiVersion?: string): boolean {
    return this.kinds.resolve(kind, apiVersion)?.statusSubresource ?? false;
  }

  /** A copy of the object, or undefined. `kind` may be a plural or short name. */
  get(kind: string, namespace: string | undefined, name: string, apiVersion?: string) {
    const found = this.find({ kind, namespace, name, apiVersion });
    return found === undefined ? undefined : jsonClone(found);
  }

  /** The stored object itself (no copy): for the harness's own read-only use. */
  find(ref: ObjectRef): KubeObject | undefined {
    if (ref.apiVersion !== undefined) return this.objects.get(this.key(ref));
    // Without apiVersion the kind decides the group; unknown kinds match any group.
    const direct = this.objects.get(this.key(ref));
    if (direct || this.kinds.resolve(ref.kind)) return direct;
    const suffix = this.key(ref).replace(/^[^|]*\|/, "|");
    for (const [key, obj] of this.objects) if (key.endsWith(suffix)) return obj;
    return undefined;
  }

  /** Copies of all objects (optionally of one kind and/or namespace), in insertion order. */
  list(filter: { kind?: string; apiVersion?: string; namespace?: string } = {}): KubeObject[] {
    return this.all()
      .filter(
        obj => filter.kind === undefined || this.sameKind(obj, filter.kind, filter.apiVersion),
      )
      .filter(obj => filter.namespace === undefined || obj.metadata.namespace === filter.namespace)
      .map(obj => jsonClone(obj));
  }

  /** The stored objects themselves, in insertion order. */
  all(): KubeObject[] {
    return [...this.objects.values()];
  }

  sameKind(obj: KubeObject, kind: string, apiVersion?: string): boolean {
    const want = this.kinds.resolve(kind, apiVersion);
    const have = this.kinds.resolve(obj.kind, obj.apiVersion);
    const wantKind = want?.kind ?? kind;
    const haveKind = have?.kind ?? obj.kind;
    if (wantKind.toLowerCase() !== haveKind.toLowerCase()) return false;
    const group = apiGroup(apiVersion);
    return group === undefined || group === apiGroup(obj.apiVersion);
  }

  /** Create: fails when the object exists. */
  create(obj: KubeObject): void {
    const normal = this.normalize(obj);
    const key = this.keyOf(normal);
    if (this.objects.has(key)) {
      throw new ClusterError(`${describe(normal)} already exists`);
    }
    this.objects.set(key, normal);
  }

  /** Create or replace. */
  upsert(obj: KubeObject): void {
    const normal = this.normalize(obj);
    this.objects.set(this.keyOf(normal), normal);
  }

  /** Deletes the object (and, for a Namespace, everything in it); returns what was deleted. */
  delete(ref: ObjectRef): KubeObject | undefined {
    const found = this.find(ref);
    if (!found) return undefined;
    this.objects.delete(this.keyOf(found));
    if (found.kind === "Namespace") {
      for (const [key, obj] of this.objects) {
        if (obj.metadata.namespace === found.metadata.name) this.objects.delete(key);
      }
    }
    return found;
  }

  private normalize(obj: KubeObject): KubeObject {
    const copy = jsonClone(obj);
    if (this.isNamespaced(copy.kind, copy.apiVersion) === false) delete copy.metadata.namespace;
    return copy;
  }
}

export function describe(obj: { kind: string; metadata: { namespace?: string; name: string } }) {
  const ns = obj.metadata.namespace ? `${obj.metadata.namespace}/` : "";
  return `${obj.kind} ${ns}${obj.metadata.name}`;
}
