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
  const { action, value } = actionAndValue(raw, index);
  const op: MetricOperation = { action: action as MetricOperation["action"] };
  const name = stringField(raw, "name", index);
  if (name) op.name = name;
  const group = stringField(raw, "group", index) || defaultGroup;
  if (group) op.group = group;
  if (value !== undefined) op.value = value;
  const labels = labelsField(raw, index);
  if (labels) op.labels = labels;
  const buckets = bucketsField(raw, index);
  if (buckets) op.buckets = buckets;
  return op;
}

/** `set: N` and `add: N` are shortcuts for an action with its value, and exclude each other. */
function actionAndValue(
  raw: Record<string, unknown>,
  index: number,
): { action: string; value: number | undefined } {
  const set = numberField(raw, "set", index);
  const add = numberField(raw, "add", index);
  const action = stringField(raw, "action", index);
  const value = numberField(raw, "value", index);
  if (set !== undefined && add !== undefined) {
    throw new MetricsError(`metric #${index}: 'set' and 'add' are mutual exclusive`);
  }
  if (set !== undefined) return { action: "set", value: set };
  if (add !== undefined) return { action: "add", value: add };
  return { action, value };
}

function numberField(raw: Record<string, unknown>, key: string, index: number): number | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number") throw new MetricsError(`metric #${index}: '${key}' must be a number`);
  return v;
}

function stringField(raw: Record<string, unknown>, key: string, index: number): string {
  const v = raw[key];
  if (v === undefined || v === null) return "";
  if (typeof v !== "string") throw new MetricsError(`metric #${index}: '${key}' must be a string`);
  return v;
}

function labelsField(
  raw: Record<string, unknown>,
  index: number,
): Record<string, string> | undefined {
  const labels = raw.labels;
  if (labels === undefined || labels === null) return undefined;
  if (!isRecord(labels) || Object.values(labels).some(v => typeof v !== "string")) {
    throw new MetricsError(`metric #${index}: 'labels' must map strings to strings`);
  }
  return labels as Record<string, string>;
}

function bucketsField(raw: Record<string, unknown>, index: number): number[] | undefined {
  const buckets = raw.buckets;
  if (buckets === undefined || buckets === null) return undefined;
  if (!Array.isArray(buckets) || buckets.some(b => typeof b !== "number")) {
    throw new MetricsError(`metric #${index}: 'buckets' must be an array of numbers`);
  }
  return buckets as number[];
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
      const id = { group, name: op.name, labels };
      this.metrics.set(key, updated(id, op, this.metrics.get(key)));
    }
  }

  list(): StoredMetric[] {
    return [...this.metrics.values()].map(m => structuredClone(m));
  }
}

type MetricId = Pick<StoredMetric, "group" | "name" | "labels">;

/** What `op` leaves stored under `id`: a gauge is replaced, a counter adds, a histogram counts. */
function updated(id: MetricId, op: MetricOperation, old: StoredMetric | undefined): StoredMetric {
  const value = op.value ?? 0;
  if (op.action === "set") return { ...id, type: "gauge", value };
  if (op.action === "add") {
    const base = old?.type === "counter" ? old.value : 0;
    return { ...id, type: "counter", value: base + value };
  }
  return observed(id, op, old);
}

function observed(id: MetricId, op: MetricOperation, old: StoredMetric | undefined): StoredMetric {
  const value = op.value ?? 0;
  const bounds = op.buckets ?? [];
  const buckets = old?.buckets ?? Object.fromEntries(bounds.map(b => [String(b), 0]));
  for (const bound of bounds) {
    if (value <= bound) buckets[String(bound)] = (buckets[String(bound)] ?? 0) + 1;
  }
  return {
    ...id,
    type: "histogram",
    value: (old?.value ?? 0) + 1,
    buckets,
    sum: (old?.sum ?? 0) + value,
  };
}
