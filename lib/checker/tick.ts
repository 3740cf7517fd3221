// One checker tick (docs/architecture.md#checker `Process`): prepare the queues, then check the due
// ones, every registry at once, each with a bounded number of workers, all within one budget. The
// registry I/O and the clock are injected (`CheckerDeps`), so this runs against fakes in unit tests
// and against lib/oci in the hook (./oci-session.ts).
//
//   const { state, checked } = await runTick(prev, params, () => required, { ...deps, budgetMs });
import type { CheckerParams, RegistryParams } from "./params";
import { anyPending, buildMessage, prepareQueues, takeDueQueues, type QueueEvent } from "./queues";
import type { RequiredImages } from "./required-images";
import type { CheckerState, Queue, QueueItem } from "./state";

/** Checks one image in one registry; throws CheckFailure (or anything) when it is not there. */
export interface RegistrySession {
  check(image: string, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export class CheckFailure extends Error {
  override name = "CheckFailure";
}

export interface CheckerDeps {
  now(): Date;
  /** A session for one registry, opened once per tick for the registries that have work. */
  openRegistry(name: string, params: RegistryParams): RegistrySession;
}

export interface CheckerOptions {
  /** The whole tick's budget for checks; default 30 s. */
  budgetMs?: number;
  /** Wait before failed items are retried; default 10 s. */
  retryDelayMs?: number;
  /** Concurrent checks per registry; default 3. */
  workersPerRegistry?: number;
}

export const DEFAULT_OPTIONS: Required<CheckerOptions> = {
  budgetMs: 30_000,
  retryDelayMs: 10_000,
  workersPerRegistry: 3,
};

/** What a tick runs with besides its input: the I/O and clock, and the limits (defaults above). */
export type TickEnv = CheckerDeps & CheckerOptions;

export const REQUEST_TIMEOUT = "Request timeout";

export interface TickResult {
  state: CheckerState;
  /** Items checked this tick (present or not). */
  checked: number;
  /** Items found present this tick. */
  found: number;
  events: QueueEvent[];
}

export async function runTick(
  prev: CheckerState,
  params: CheckerParams,
  requiredImages: () => RequiredImages,
  env: TickEnv,
): Promise<TickResult> {
  const opts = { ...DEFAULT_OPTIONS, ...env };
  if (!Number.isSafeInteger(opts.workersPerRegistry) || opts.workersPerRegistry < 1) {
    throw new Error(`workersPerRegistry: must be an integer ≥ 1 (got ${opts.workersPerRegistry})`);
  }
  const now = env.now();
  const { state, isNewConfig, events } = prepareQueues(prev, params, requiredImages, now);
  const result = { state, checked: 0, found: 0, events };
  if (Object.keys(state.queues).length === 0) {
    state.message = "Stopped";
    state.ready = true;
    return result;
  }
  if (isNewConfig) {
    // the first tick of a version only builds queues and says `Initializing`
    // (docs/architecture.md#checker, ADR 0011); the Go code replaced it by the queue summary, the
    // original's docs keep the word
    return result;
  }
  state.ready = false;
  const due = takeDueQueues(state, now, opts.retryDelayMs);
  if (due.length > 0) {
    const counts = await checkDueQueues(state, due, params, opts);
    result.checked = counts.checked;
    result.found = counts.found;
  }
  state.message = buildMessage(state, params.checkMode);
  state.ready = !anyPending(state);
  return result;
}

/** Every due registry at once, each in its own session, all within one budget. */
async function checkDueQueues(
  state: CheckerState,
  due: string[],
  params: CheckerParams,
  env: Required<TickEnv>,
): Promise<{ checked: number; found: number }> {
  const budget = new AbortController();
  const timer = setTimeout(() => budget.abort(), env.budgetMs);
  try {
    const counts = await Promise.all(
      due.map(async name => {
        const session = env.openRegistry(name, params.registries[name] as RegistryParams);
        try {
          return await checkQueue(
            state.queues[name] as Queue,
            session,
            env.workersPerRegistry,
            budget.signal,
          );
        } finally {
          await session.close().catch(() => undefined);
        }
      }),
    );
    const total = { checked: 0, found: 0 };
    for (const c of counts) {
      total.checked += c.checked;
      total.found += c.found;
    }
    return total;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Workers take items from the head of the queue until it is empty or the budget is spent.
 * Present → `processed++`; missing or failing → appended to `retry` with the error. Items not
 * started when the budget ends stay in `items`; items in flight then fail with `Request timeout`.
 */
export async function checkQueue(
  queue: Queue,
  session: RegistrySession,
  workers: number,
  signal: AbortSignal,
): Promise<{ checked: number; found: number }> {
  const pending = queue.items;
  queue.items = [];
  let next = 0;
  let checked = 0;
  let found = 0;
  const worker = async (): Promise<void> => {
    while (next < pending.length && !signal.aborted) {
      const item = pending[next++] as QueueItem;
      const error = await checkItem(session, item.image, signal);
      checked++;
      if (error === undefined) found++;
      // an item that failed before and is present now leaves no trace
      if (error === undefined) queue.processed++;
      else queue.retry.push({ image: item.image, info: item.info, error });
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, pending.length) }, worker));
  queue.items = pending.slice(next);
  return { checked, found };
}

async function checkItem(
  session: RegistrySession,
  image: string,
  signal: AbortSignal,
): Promise<string | undefined> {
  try {
    await session.check(image, signal);
    return undefined;
  } catch (err) {
    if (signal.aborted) return REQUEST_TIMEOUT;
    return err instanceof Error ? err.message : String(err);
  }
}
