// defineHook: a hook is a static binding config plus a handler. The config is data (printed on
// `--config` / `hook config`); the handler reads narrowed snapshots and values and records
// outputs. Nothing runs at import time; `executeHook` is the one in-process entry point used by
// the process contract (./contract.ts) and by the harness.
import { KubernetesOperations, Metrics } from "./collectors";
import type { Logger, LogRecord } from "./logger";
import { createLogger } from "./logger";
import { redactText } from "./redact";
import type {
  BindingContext,
  KubernetesBindingConfig,
  KubernetesOperation,
  MetricOperation,
  ModuleHookConfig,
  ObjectAndFilterResult,
  ScheduleBindingConfig,
  ValuesPatchOperation,
} from "./types";
import { HookInputError, Values } from "./values";

/** A kubernetes binding with the narrowing of its snapshot items (not part of the wire config). */
export interface KubernetesBinding<R> extends Omit<KubernetesBindingConfig, "name"> {
  /** Turns one snapshot item into what the handler needs; throws on input it cannot trust. */
  narrow: (item: ObjectAndFilterResult) => R;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: any narrowing result
type AnyBinding = KubernetesBinding<any>;

export type NarrowedSnapshots<K extends Record<string, AnyBinding>> = {
  [P in keyof K]: K[P] extends KubernetesBinding<infer R> ? R[] : never;
};

export interface HookInput<K extends Record<string, AnyBinding>> {
  /** The raw binding contexts of this run (several when the operator combined tasks). */
  bindingContexts: BindingContext[];
  /** Snapshots narrowed per binding; `[]` when the run carries none for a binding. */
  snapshots: NarrowedSnapshots<K>;
  /** True when the run carried a snapshot (possibly empty) for that binding. */
  hasSnapshot(binding: keyof K & string): boolean;
  values: Values;
  configValues: Readonly<Record<string, unknown>>;
  kubernetes: KubernetesOperations;
  metrics: Metrics;
  log: Logger;
}

export interface HookSpec<K extends Record<string, AnyBinding>> {
  /** Hook name: also the path under hooks/ in logs, metrics group and per-hook launcher name. */
  name: string;
  /** Queue for every kubernetes and schedule binding of this hook. */
  queue?: string;
  /**
   * Group for every kubernetes and schedule binding: each run then carries the snapshots of all
   * bindings, as addon-operator gives batch hooks (group "main"). Hooks that recompute
   * everything from snapshots want this under the per-hook protocol too.
   */
  group?: string;
  onStartup?: number;
  beforeHelm?: number;
  afterHelm?: number;
  beforeDeleteHelm?: number;
  afterDeleteHelm?: number;
  kubernetes?: K;
  schedule?: ScheduleBindingConfig[];
  settings?: { executionMinInterval: string; executionBurst: number };
  handler: (input: HookInput<K>) => void | Promise<void>;
}

export interface HookDefinition<
  K extends Record<string, AnyBinding> = Record<string, AnyBinding>,
> extends HookSpec<K> {
  /** The `--config` document (configVersion v1). */
  config(): ModuleHookConfig;
}

/** Any hook, whatever its bindings (for lists of hooks: the contract, the harness). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- handlers are contravariant in K
export type AnyHook = HookDefinition<any>;

export function defineHook<K extends Record<string, AnyBinding>>(
  spec: HookSpec<K>,
): HookDefinition<K> {
  return { ...spec, config: () => hookConfig(spec) };
}

function hookConfig<K extends Record<string, AnyBinding>>(spec: HookSpec<K>): ModuleHookConfig {
  const config: ModuleHookConfig = { configVersion: "v1" };
  for (const key of [
    "onStartup",
    "beforeHelm",
    "afterHelm",
    "beforeDeleteHelm",
    "afterDeleteHelm",
  ] as const) {
    const order = spec[key];
    if (order !== undefined) config[key] = order;
  }
  const queue = {
    ...(spec.queue === undefined ? {} : { queue: spec.queue }),
    ...(spec.group === undefined ? {} : { group: spec.group }),
  };
  if (spec.kubernetes) {
    config.kubernetes = Object.entries(spec.kubernetes).map(([name, binding]) => {
      const { narrow: _narrow, ...wire } = binding;
      return { name, ...wire, ...queue };
    });
  }
  if (spec.schedule) config.schedule = spec.schedule.map(s => ({ ...s, ...queue }));
  if (spec.settings) config.settings = spec.settings;
  return config;
}

export interface HookRunInput {
  bindingContexts: BindingContext[];
  /** `{global, registry}` as in VALUES_PATH. */
  values: Record<string, unknown>;
  /** `{global, registry}` as in CONFIG_VALUES_PATH. */
  configValues: Record<string, unknown>;
  /** Receives every log record as it is emitted (already redacted). */
  log?: (record: LogRecord) => void;
}

export interface HookRunOutput {
  valuesPatch: ValuesPatchOperation[];
  kubernetesOperations: KubernetesOperation[];
  metrics: MetricOperation[];
}

/** A failed run: its message is safe to print (redacted) and fits on one line. */
export class HookRunError extends Error {
  override name = "HookRunError";
}

export async function executeHook<K extends Record<string, AnyBinding>>(
  hook: HookDefinition<K>,
  run: HookRunInput,
): Promise<HookRunOutput> {
  if (!Array.isArray(run.bindingContexts)) {
    throw new HookRunError("binding context must be a JSON array");
  }
  const log = createLogger(run.log ?? (() => undefined), hook.name);
  const values = new Values(run.values);
  const kubernetes = new KubernetesOperations();
  const metrics = new Metrics(hook.name);
  try {
    const raw = latestSnapshots(run.bindingContexts, Object.keys(hook.kubernetes ?? {}));
    const snapshots = narrowSnapshots(hook.kubernetes ?? ({} as K), raw);
    await hook.handler({
      bindingContexts: run.bindingContexts,
      snapshots,
      hasSnapshot: binding => raw.has(binding),
      values,
      configValues: run.configValues,
      kubernetes,
      metrics,
      log,
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new HookRunError(redactText(message.replace(/\s*\n\s*/g, "; "), log.secrets));
  }
  return {
    valuesPatch: values.patch(),
    kubernetesOperations: kubernetes.operations,
    metrics: metrics.operations,
  };
}

/**
 * All elements of one run carry the same snapshot set (the operator reads it once per run), so
 * the last element that has a binding's snapshot wins; a Synchronization element of the binding
 * itself is the fallback for bindings that include no snapshots.
 */
function latestSnapshots(
  contexts: BindingContext[],
  bindings: string[],
): Map<string, ObjectAndFilterResult[]> {
  const found = new Map<string, ObjectAndFilterResult[]>();
  for (const ctx of contexts) {
    if (ctx === null || typeof ctx !== "object") {
      throw new HookRunError("binding context element is not an object");
    }
    for (const name of bindings) {
      const items = ctx.snapshots?.[name];
      if (Array.isArray(items)) found.set(name, items);
      else if (ctx.binding === name && ctx.type === "Synchronization" && Array.isArray(ctx.objects))
        found.set(name, ctx.objects);
    }
  }
  return found;
}

function narrowSnapshots<K extends Record<string, AnyBinding>>(
  bindings: K,
  raw: Map<string, ObjectAndFilterResult[]>,
): NarrowedSnapshots<K> {
  const out: Record<string, unknown[]> = {};
  for (const [name, binding] of Object.entries(bindings)) {
    out[name] = (raw.get(name) ?? []).map((item, i) => {
      try {
        return binding.narrow(item);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new HookInputError(`snapshot "${name}"[${i}]: ${why}`);
      }
    });
  }
  return out as NarrowedSnapshots<K>;
}
