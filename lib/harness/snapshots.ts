// Per-binding snapshot caches fed from the fake cluster, with shell-operator's change detection:
// Added/Modified only when the checksum (jq output text, or the whole object without jqFilter)
// changed — the cache is updated either way — Deleted always; a jq error drops the object's
// event and leaves the cache as it was (logged, as the operator does).
import type { KubeObject } from "../runtime/types";
import type { ClusterState } from "./cluster";
import type { PendingContext, SnapshotItem, SnapshotSource } from "./contexts";
import type { KubernetesBinding } from "./hook-config";
import type { JqEngine } from "./jq";
import { canonicalJson, jsonClone } from "./json";
import { selects } from "./selectors";

export type HarnessLog = (
  level: "debug" | "info" | "warn" | "error",
  msg: string,
  fields?: object,
) => void;

interface Entry {
  item: SnapshotItem;
  checksum: string;
}

export class SnapshotStore implements SnapshotSource {
  private readonly caches = new Map<string, Map<string, Entry>>();

  constructor(
    readonly bindings: readonly KubernetesBinding[],
    private readonly jq: JqEngine | undefined,
    private readonly log: HarnessLog = () => undefined,
  ) {
    for (const b of bindings) this.caches.set(b.name, new Map());
  }

  items(binding: string): SnapshotItem[] {
    return [...(this.caches.get(binding)?.values() ?? [])].map(e => e.item);
  }

  /** Initial list of every binding: fills the caches; Synchronization per binding that runs on it. */
  synchronize(cluster: ClusterState): PendingContext[] {
    for (const binding of this.bindings) {
      const cache = new Map<string, Entry>();
      for (const obj of cluster.all()) {
        if (!selects(binding, obj, cluster)) continue;
        const entry = this.evaluate(binding, obj);
        if (entry) cache.set(cluster.keyOf(obj), entry);
      }
      this.caches.set(binding.name, cache);
    }
    return this.bindings
      .filter(b => b.executeHookOnSynchronization)
      .map(binding => ({ source: "kubernetes", binding, type: "Synchronization" }));
  }

  /**
   * Watch events between the cached state and `cluster`: objects in cluster order (added or
   * changed), then deleted ones; for each object, bindings in config order.
   */
  observe(cluster: ClusterState): PendingContext[] {
    const current = new Map(cluster.all().map(obj => [cluster.keyOf(obj), obj]));
    const keys = [...current.keys()];
    for (const cache of this.caches.values()) {
      for (const key of cache.keys()) if (!current.has(key) && !keys.includes(key)) keys.push(key);
    }
    const out: PendingContext[] = [];
    for (const key of keys) {
      const obj = current.get(key);
      for (const binding of this.bindings) {
        const event = this.update(binding, key, obj, cluster);
        if (event && binding.executeHookOnEvent.includes(event.watchEvent)) out.push(event);
      }
    }
    return out;
  }

  private update(
    binding: KubernetesBinding,
    key: string,
    obj: KubeObject | undefined,
    cluster: ClusterState,
  ): Extract<PendingContext, { type: "Event" }> | undefined {
    const cache = this.caches.get(binding.name) as Map<string, Entry>;
    const old = cache.get(key);
    const selected = obj !== undefined && selects(binding, obj, cluster);
    if (!selected) {
      if (!old) return undefined;
      cache.delete(key);
      return {
        source: "kubernetes",
        binding,
        type: "Event",
        watchEvent: "Deleted",
        item: old.item,
      };
    }
    const entry = this.evaluate(binding, obj);
    if (!entry) return undefined;
    cache.set(key, entry);
    if (old && old.checksum === entry.checksum) return undefined;
    const watchEvent = old ? "Modified" : "Added";
    return { source: "kubernetes", binding, type: "Event", watchEvent, item: entry.item };
  }

  private evaluate(binding: KubernetesBinding, obj: KubeObject): Entry | undefined {
    const object = jsonClone(obj);
    const id = `${obj.metadata.namespace ?? ""}/${obj.kind}/${obj.metadata.name}`;
    if (binding.jqFilter === undefined) {
      return { item: { object, id }, checksum: canonicalJson(object) };
    }
    if (!this.jq) throw new Error("jq is not loaded");
    const result = this.jq.apply(binding.jqFilter, object);
    if (!result.ok) {
      this.log("error", "jqFilter failed, event dropped", {
        binding: binding.name,
        object: id,
        error: result.error,
      });
      return undefined;
    }
    return { item: { object, filterResult: result.value, id }, checksum: result.text };
  }
}
