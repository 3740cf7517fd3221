// METRICS_PATH: a JSON stream of metric operations, parsed as shell-operator does (shortcuts
// `set: N` / `add: N`, group defaulted to the hook name, then validated — which is why an
// `observe` without an explicit group is refused), and a store with the grouped semantics:
// a batch that mentions group G replaces everything stored under G; `expire` just deletes.
import { isRecord } from "../validation/reader";
import { parseJsonStream } from "./json";

export interface MetricOperation {
  name?: string;
  group?: string;
  action: "set" | "add" | "observe" | "expire";
  value?: number;
  labels?: Record<string, string>;
  buckets?: number[];
}

export class MetricsError extends Error {
  override name = "MetricsError";
}

/** Parses and validates; `defaultGroup` is what the operator assigns to ops without `group`. */
export function parseMetrics(text: string, defaultGroup: string): MetricOperation[] {
  const ops = parseJsonStream(text).map((raw, i) => normalize(raw, i, defaultGroup));
  const problems = ops.flatMap((op, i) => validateMetric(op).map(p => `metric #${i}: ${p}`));
  if (problems.length > 0) throw new MetricsError(problems.join("; "));
  return ops;
}

function normalize(raw: unknown, index: number, defaultGroup: string): MetricOperation {
  if (!isRecord(raw)) throw new MetricsError(`metric #${index}: not a JSON object`);
  const num = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number")
      throw new MetricsError(`metric #${index}: '${key}' must be a number`);
    return v;
  };
  const str = (key: string): string => {
    const v = raw[key];
    if (v === undefined || v === null) return "";
    if (typeof v !== "string")
      throw new MetricsError(`metric #${index}: '${key}' must be a string`);
    return v;
  };
  const set = num("set");
  const add = num("add");
  let action = str("action");
  let value = num("value");
  if (set !== undefined && add === undefined) [action, value] = ["set", set];
  if (add !== undefined && set === undefined) [action, value] = ["add", add];
  if (set !== undefined && add !== undefined) {
    throw new MetricsError(`metric #${index}: 'set' and 'add' are mutual exclusive`);
  }
  const op: MetricOperation = { action: action as MetricOperation["action"] };
  const name = str("name");
  if (name) op.name = name;
  const group = str("group") || defaultGroup;
  if (group) op.group = group;
  if (value !== undefined) op.value = value;
  if (raw.labels !== undefined && raw.labels !== null) {
    if (!isRecord(raw.labels) || Object.values(raw.labels).some(v => typeof v !== "string")) {
      throw new MetricsError(`metric #${index}: 'labels' must map strings to strings`);
    }
    op.labels = raw.labels as Record<string, string>;
  }
  if (raw.buckets !== undefined && raw.buckets !== null) {
    if (!Array.isArray(raw.buckets) || raw.buckets.some(b => typeof b !== "number")) {
      throw new MetricsError(`metric #${index}: 'buckets' must be an array of numbers`);
    }
    op.buckets = raw.buckets as number[];
  }
  return op;
}

/** shell-operator's ValidateMetricOperation. */
export function validateMetric(op: MetricOperation): string[] {
  const p: string[] = [];
  const action = op.action as string;
  if (!action) p.push("one of: 'action', 'set' or 'add' is required");
  else if (!op.group && !["set", "add", "observe"].includes(action)) {
    p.push(`unsupported action '${action}'`);
  } else if (op.group && !["expire", "set", "add"].includes(action)) {
    p.push(`unsupported action '${action}' for grouped metric (group '${op.group}')`);
  }
  if (!op.name && !op.group) p.push("'name' is required");
  if (!op.name && op.group && action !== "expire")
    p.push("'name' is required when action is not 'expire'");
  if (["set", "add", "observe"].includes(action) && op.value === undefined) {
    p.push(`'value' is required for action '${action}'`);
  }
  if (action === "observe" && op.buckets === undefined)
    p.push("'buckets' is required for action 'observe'");
  return p;
}

export interface StoredMetric {
  group: string;
  name: string;
  labels: Record<string, string>;
  type: "gauge" | "counter" | "histogram";
  value: number;
  /** Histogram only: cumulative counts per upper bound, and the sum. */
  buckets?: Record<string, number>;
  sum?: number;
}

export class MetricsStore {
  private readonly metrics = new Map<string, StoredMetric>();

  /** Applies one run's operations. */
  apply(ops: readonly MetricOperation[]): void {
    const groups = new Set(ops.map(op => op.group).filter((g): g is string => !!g));
    for (const [key, m] of this.metrics)
      if (m.group && groups.has(m.group)) this.metrics.delete(key);
    for (const op of ops) {
      if (op.action === "expire" || !op.name) continue;
      const labels = op.labels ?? {};
      const group = op.group ?? "";
      const key = JSON.stringify([group, op.name, Object.entries(labels).sort()]);
      const old = this.metrics.get(key);
      const value = op.value ?? 0;
      if (op.action === "set") {
        this.metrics.set(key, { group, name: op.name, labels, type: "gauge", value });
      } else if (op.action === "add") {
        const base = old?.type === "counter" ? old.value : 0;
        this.metrics.set(key, {
          group,
          name: op.name,
          labels,
          type: "counter",
          value: base + value,
        });
      } else {
        const buckets =
          old?.buckets ?? Object.fromEntries((op.buckets ?? []).map(b => [String(b), 0]));
        for (const bound of op.buckets ?? []) {
          if (value <= bound) buckets[String(bound)] = (buckets[String(bound)] ?? 0) + 1;
        }
        this.metrics.set(key, {
          group,
          name: op.name,
          labels,
          type: "histogram",
          value: (old?.value ?? 0) + 1,
          buckets,
          sum: (old?.sum ?? 0) + value,
        });
      }
    }
  }

  list(): StoredMetric[] {
    return [...this.metrics.values()].map(m => structuredClone(m));
  }
}
