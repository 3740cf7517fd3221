// Binding contexts exactly as shell-operator's BindingContext.MapV1 serialises them
// (docs/hook-protocol.md#binding-context), plus the combine/compaction rule of the task queue
// (docs/hook-protocol.md#combining-and-compaction). Pure: a pending context says what happened;
// rendering reads snapshots at "execution time".
import type {
  BindingContext,
  KubeObject,
  ObjectAndFilterResult,
  Snapshots,
} from "../runtime/types";
import type { KubernetesBinding, ModuleLifecycle, ScheduleBinding } from "./hook-config";
import { jsonClone } from "./json";

/** One cached object of a binding: the object and its jq output at the time it was cached. */
export interface SnapshotItem {
  object: KubeObject;
  /** Parsed jq output (null when jq printed nothing); undefined when the binding has no jqFilter. */
  filterResult?: unknown;
  /** `namespace/Kind/name`: the sort key when full objects are not kept. */
  id: string;
}

export type PendingContext =
  | { source: "onStartup" }
  | { source: "lifecycle"; binding: ModuleLifecycle }
  | { source: "schedule"; binding: ScheduleBinding }
  | { source: "kubernetes"; binding: KubernetesBinding; type: "Synchronization" }
  | {
      source: "kubernetes";
      binding: KubernetesBinding;
      type: "Event";
      watchEvent: "Added" | "Modified" | "Deleted";
      /** State of the object when the event happened. */
      item: SnapshotItem;
    };

export interface SnapshotSource {
  /** All kubernetes bindings of the hook, in config order. */
  bindings: readonly KubernetesBinding[];
  /** Current cached items of a binding, unsorted. */
  items(binding: string): readonly SnapshotItem[];
}

function groupOf(ctx: PendingContext): string | undefined {
  return ctx.source === "schedule" || ctx.source === "kubernetes" ? ctx.binding.group : undefined;
}

/** Drops an element when the next one has the same non-empty group (the last one survives). */
export function compact(contexts: readonly PendingContext[]): PendingContext[] {
  return contexts.filter((ctx, i) => {
    const group = groupOf(ctx);
    const next = contexts[i + 1];
    return !(group && next && groupOf(next) === group);
  });
}

/** `ObjectAndFilterResult.Map()`: `object` unless full objects are dropped, `filterResult` iff jqFilter. */
export function renderItem(binding: KubernetesBinding, item: SnapshotItem): ObjectAndFilterResult {
  const out: ObjectAndFilterResult = {};
  if (binding.keepFullObjectsInMemory) out.object = jsonClone(item.object);
  if (binding.jqFilter !== undefined) out.filterResult = jsonClone(item.filterResult ?? null);
  return out;
}

/** Snapshot order: namespace then name; by `namespace/Kind/name` when objects are not kept. */
export function sortItems(binding: KubernetesBinding, items: readonly SnapshotItem[]) {
  const key = (i: SnapshotItem) =>
    binding.keepFullObjectsInMemory
      ? [i.object.metadata.namespace ?? "", i.object.metadata.name]
      : [i.id, ""];
  return [...items].sort((a, b) => {
    const [an, am] = key(a);
    const [bn, bm] = key(b);
    return an !== bn ? cmp(an as string, bn as string) : cmp(am as string, bm as string);
  });
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function renderSnapshot(source: SnapshotSource, name: string): ObjectAndFilterResult[] {
  const binding = source.bindings.find(b => b.name === name);
  if (!binding) return [];
  return sortItems(binding, source.items(name)).map(item => renderItem(binding, item));
}

function renderSnapshots(source: SnapshotSource, names: readonly string[]): Snapshots {
  const out: Snapshots = {};
  // Go marshals maps with sorted keys.
  for (const name of [...new Set(names)].sort()) out[name] = renderSnapshot(source, name);
  return out;
}

/** MapV1 of one context. */
export function renderContext(ctx: PendingContext, source: SnapshotSource): BindingContext {
  if (ctx.source === "onStartup") return { binding: "onStartup" };
  if (ctx.source === "lifecycle") {
    return {
      binding: ctx.binding,
      snapshots: renderSnapshots(
        source,
        source.bindings.map(b => b.name),
      ),
    };
  }
  const out: BindingContext = { binding: ctx.binding.name };
  const includes = ctx.binding.includeSnapshotsFrom;
  const snapshots = includes.length > 0 ? renderSnapshots(source, includes) : undefined;
  const group = ctx.binding.group;
  if (group) {
    out.type = "Group";
    out.groupName = group;
  } else if (ctx.source === "schedule") {
    out.type = "Schedule";
  } else {
    out.type = ctx.type;
    if (ctx.type === "Event") {
      out.watchEvent = ctx.watchEvent;
      Object.assign(out, renderItem(ctx.binding, ctx.item));
    } else {
      out.objects = renderSnapshot(source, ctx.binding.name);
    }
  }
  if (snapshots) out.snapshots = snapshots;
  return out;
}

/** Combines pending contexts into what one run receives: compaction, then MapV1 each. */
export function renderRun(contexts: readonly PendingContext[], source: SnapshotSource) {
  return compact(contexts).map(ctx => renderContext(ctx, source));
}
