// The checker's queue logic (docs/architecture.md#checker steps 1–3, 5, 6), pure: state in, state
// out, clock given.
//
//   const { state, isNewConfig } = prepareQueues(prev, params, requiredImages, now);
//   const due = takeDueQueues(state, now, retryDelayMs);   // names to check this tick
//   state.message = buildMessage(state, params.checkMode);
import { createHash } from "node:crypto";
import type { CheckMode } from "../domain/settings";
import type { CheckerParams, RegistryParams } from "./params";
import { registryRepository } from "./params";
import { buildQueueItems, RequiredImagesError, type RequiredImages } from "./required-images";
import { hasPending, queueTotal, type CheckerState, type Queue, type QueueItem } from "./state";

export const MAX_ERROR_BLOCKS = 5;

export interface QueueEvent {
  event: "initializing" | "queue-added" | "queue-deleted" | "retry-moved";
  queue?: string;
  items?: number;
}

/** Stable hash of one registry's params: a change rebuilds that registry's queue. */
export function paramsHash(params: RegistryParams): string {
  const ordered = {
    address: params.address,
    scheme: params.scheme,
    ca: params.ca ?? "",
    username: params.username ?? "",
    password: params.password ?? "",
  };
  return createHash("sha256").update(JSON.stringify(ordered)).digest("hex");
}

function cloneState(state: CheckerState): CheckerState {
  return structuredClone(state);
}

/**
 * Steps 1–2: a new params version resets everything to `Initializing`; then queues follow the
 * params (removed registries dropped, new or changed ones rebuilt from the required images,
 * unchanged ones with only retry items get them back with `last_attempt = now`).
 * `requiredImages` is called only when a queue has to be built.
 */
export function prepareQueues(
  prev: CheckerState,
  params: CheckerParams,
  requiredImages: () => RequiredImages,
  now: Date,
): { state: CheckerState; isNewConfig: boolean; events: QueueEvent[] } {
  const state = cloneState(prev);
  const events: QueueEvent[] = [];
  let isNewConfig = false;
  if (state.version !== params.version) {
    state.queues = {};
    state.version = params.version;
    state.ready = false;
    state.message = "Initializing";
    isNewConfig = true;
    events.push({ event: "initializing" });
  }
  const names = Object.keys(params.registries);
  for (const name of Object.keys(state.queues)) {
    if (!names.includes(name)) {
      delete state.queues[name];
      events.push({ event: "queue-deleted", queue: name });
    }
  }
  let images: RequiredImages | undefined;
  for (const name of names.sort()) {
    const registry = params.registries[name] as RegistryParams;
    const hash = paramsHash(registry);
    const existing = state.queues[name];
    if (existing && existing.params_hash === hash) {
      if (existing.items.length === 0 && existing.retry.length > 0) {
        existing.items = existing.retry;
        existing.retry = [];
        existing.last_attempt = now.toISOString();
        events.push({ event: "retry-moved", queue: name, items: existing.items.length });
      }
      continue;
    }
    images ??= requiredImages();
    let items: QueueItem[];
    try {
      items = buildQueueItems(images, registryRepository(registry), params.checkMode);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new RequiredImagesError(`cannot build registry "${name}" queue: ${why}`);
    }
    const queue: Queue = { processed: 0, items, retry: [], params_hash: hash };
    state.queues[name] = queue;
    events.push({ event: "queue-added", queue: name, items: queue.items.length });
  }
  return { state, isNewConfig, events };
}

/**
 * Names of the queues to check now: pending items and no retry delay running. Clears
 * `last_attempt` on the queues whose delay is over (they are being retried now).
 */
export function takeDueQueues(state: CheckerState, now: Date, retryDelayMs: number): string[] {
  const due: string[] = [];
  for (const name of Object.keys(state.queues).sort()) {
    const q = state.queues[name] as Queue;
    if (!hasPending(q)) continue;
    if (q.last_attempt !== undefined) {
      if (now.getTime() < Date.parse(q.last_attempt) + retryDelayMs) continue;
      delete q.last_attempt;
    }
    if (q.items.length > 0) due.push(name);
  }
  return due;
}

export function anyPending(state: CheckerState): boolean {
  return Object.values(state.queues).some(hasPending);
}

/** Step 5: the message the orchestrator puts into `RegistryContainsRequiredImages`. */
export function buildMessage(state: CheckerState, mode: CheckMode): string {
  let msg = `Mode: ${mode}\n`;
  for (const name of Object.keys(state.queues).sort()) {
    const q = state.queues[name] as Queue;
    if (!hasPending(q)) {
      msg += `${name}: all ${q.processed} items are checked\n`;
      continue;
    }
    const failed: QueueItem[] = [...q.retry, ...q.items.filter(i => i.error)];
    if (failed.length > 0) {
      msg += `${name}: ${q.processed} of ${queueTotal(q)} items processed, ${failed.length} items with errors:\n`;
      for (const [i, item] of failed.entries()) {
        if (i >= MAX_ERROR_BLOCKS) {
          msg += "\n  ...and more\n";
          break;
        }
        msg += `- source: ${item.info}\n  image: ${item.image}\n  error: ${item.error ?? ""}\n`;
      }
      msg += "\n";
      continue;
    }
    msg += `${name}: ${q.processed} of ${queueTotal(q)} items processed\n`;
  }
  return msg.trim();
}
