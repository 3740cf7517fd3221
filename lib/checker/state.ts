// Checker state (`registry.internal.checker.state`, persisted in Secret
// `d8-system/registry-checker-state`): one queue per registry name, plus the params version the
// queues were built for, `ready` and the human message the orchestrator shows
// (docs/architecture.md#values, #checker).
import { Problems, type Section } from "../validation/reader";

export interface QueueItem {
  /** Full image reference checked: `host/path@sha256:…` or `host/path:tag`. */
  image: string;
  /** Where the cluster needs it: `module/<module>/<image>`, `deckhouse/containers/<name>`. */
  info: string;
  /** Why the last check failed (only on items that failed before). */
  error?: string;
}

export interface Queue {
  /** Items found present. */
  processed: number;
  /** Items to check. */
  items: QueueItem[];
  /** Items that failed, waiting for their retry. */
  retry: QueueItem[];
  /** When retry items were moved back to `items` (RFC 3339): they wait out the retry delay. */
  last_attempt?: string;
  /** Hash of the registry params the items were built for. */
  params_hash: string;
}

export interface CheckerState {
  queues: Record<string, Queue>;
  /** The params version the queues belong to ("" before the first params). */
  version: string;
  ready: boolean;
  message: string;
}

export const EMPTY_STATE: CheckerState = { queues: {}, version: "", ready: false, message: "" };

export class CheckerStateError extends Error {
  override name = "CheckerStateError";
}

/** Reads fail fast: the first problem is the error, `<field>: <rule>`. */
function problems(): Problems {
  return new Problems("checker state", {
    failFast: ({ field, rule }) => new CheckerStateError(`${field}: ${rule}`),
  });
}

function items(s: Section, key: string): QueueItem[] {
  return (s.sections(key) ?? []).map(item => {
    const image = item.string("image");
    if (!image) item.reject("image", "required");
    const error = item.string("error");
    return { image: image as string, info: item.string("info") ?? "", ...(error ? { error } : {}) };
  });
}

function lastAttempt(q: Section): string | undefined {
  // a YAML timestamp of the secret's document arrives as a Date
  const raw = q.get("last_attempt");
  const text = raw instanceof Date ? raw.toISOString() : q.string("last_attempt");
  if (text !== undefined && Number.isNaN(Date.parse(text)))
    q.reject("last_attempt", "must be an RFC 3339 date-time");
  return text;
}

/** Reads a state from values or from the secret's YAML document; errors name the field. */
export function parseCheckerState(value: unknown, at = "state"): CheckerState {
  if (value === undefined || value === null) return { ...EMPTY_STATE, queues: {} };
  const root = problems().root(value, at);
  const rawQueues = root.section("queues");
  const queues: Record<string, Queue> = {};
  for (const name of rawQueues?.keys() ?? []) {
    queues[name] = queue(rawQueues?.section(name, { required: true }) as Section);
  }
  const ready = root.boolean("ready") ?? false;
  return {
    queues,
    version: root.string("version") ?? "",
    ready,
    message: root.string("message") ?? "",
  };
}

function queue(q: Section): Queue {
  const processed = q.get("processed") ?? 0;
  if (typeof processed !== "number" || !Number.isSafeInteger(processed) || processed < 0)
    q.reject("processed", "must be a non-negative integer");
  const attempt = lastAttempt(q);
  return {
    processed: processed as number,
    items: items(q, "items"),
    retry: items(q, "retry"),
    ...(attempt ? { last_attempt: attempt } : {}),
    params_hash: q.string("params_hash") ?? "",
  };
}

/** Values form: the schema's layout, empty parts left out (as the Go model's omitempty). */
export function stateToValues(state: CheckerState): Record<string, unknown> {
  const queues: Record<string, unknown> = {};
  for (const name of Object.keys(state.queues).sort()) {
    const q = state.queues[name] as Queue;
    queues[name] = {
      processed: q.processed,
      ...(q.items.length ? { items: q.items } : {}),
      ...(q.retry.length ? { retry: q.retry } : {}),
      ...(q.last_attempt ? { last_attempt: q.last_attempt } : {}),
      params_hash: q.params_hash,
    };
  }
  return {
    ...(Object.keys(queues).length ? { queues } : {}),
    ...(state.version ? { version: state.version } : {}),
    ready: state.ready,
    ...(state.message ? { message: state.message } : {}),
  };
}

export function hasPending(queue: Queue): boolean {
  return queue.items.length > 0 || queue.retry.length > 0;
}

export function queueTotal(queue: Queue): number {
  return queue.processed + queue.items.length + queue.retry.length;
}
