// Checker state (`registry.internal.checker.state`, persisted in Secret
// `d8-system/registry-checker-state`): one queue per registry name, plus the params version the
// queues were built for, `ready` and the human message the orchestrator shows (spec §3.3, §10.2).
import { isRecord } from "../runtime/narrow";

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

function str(v: unknown, at: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new CheckerStateError(`${at}: must be a string`);
  return v;
}

function items(v: unknown, at: string): QueueItem[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new CheckerStateError(`${at}: must be an array`);
  return v.map((item, i) => {
    if (!isRecord(item)) throw new CheckerStateError(`${at}[${i}]: must be an object`);
    const image = str(item.image, `${at}[${i}].image`);
    if (!image) throw new CheckerStateError(`${at}[${i}].image: required`);
    const error = str(item.error, `${at}[${i}].error`);
    return { image, info: str(item.info, `${at}[${i}].info`) ?? "", ...(error ? { error } : {}) };
  });
}

/** Reads a state from values or from the secret's YAML document; errors name the field. */
export function parseCheckerState(value: unknown, at = "state"): CheckerState {
  if (value === undefined || value === null) return { ...EMPTY_STATE, queues: {} };
  if (!isRecord(value)) throw new CheckerStateError(`${at}: must be an object`);
  const rawQueues = value.queues ?? {};
  if (!isRecord(rawQueues)) throw new CheckerStateError(`${at}.queues: must be an object`);
  const queues: Record<string, Queue> = {};
  for (const [name, q] of Object.entries(rawQueues)) {
    const qa = `${at}.queues.${name}`;
    if (!isRecord(q)) throw new CheckerStateError(`${qa}: must be an object`);
    const processed = q.processed ?? 0;
    if (typeof processed !== "number" || !Number.isSafeInteger(processed) || processed < 0) {
      throw new CheckerStateError(`${qa}.processed: must be a non-negative integer`);
    }
    const lastAttempt =
      q.last_attempt instanceof Date
        ? q.last_attempt.toISOString()
        : str(q.last_attempt, `${qa}.last_attempt`);
    if (lastAttempt !== undefined && Number.isNaN(Date.parse(lastAttempt))) {
      throw new CheckerStateError(`${qa}.last_attempt: must be an RFC 3339 date-time`);
    }
    queues[name] = {
      processed,
      items: items(q.items, `${qa}.items`),
      retry: items(q.retry, `${qa}.retry`),
      ...(lastAttempt ? { last_attempt: lastAttempt } : {}),
      params_hash: str(q.params_hash, `${qa}.params_hash`) ?? "",
    };
  }
  const ready = value.ready ?? false;
  if (typeof ready !== "boolean") throw new CheckerStateError(`${at}.ready: must be a boolean`);
  return {
    queues,
    version: str(value.version, `${at}.version`) ?? "",
    ready,
    message: str(value.message, `${at}.message`) ?? "",
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
