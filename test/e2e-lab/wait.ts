// Waiting on an event a real program causes, by polling it (never a fixed sleep):
//
//   await until("manifest written", () => pathExists(manifest));
//   const status = await until("healthz", probeHealth, { timeoutMs: 60_000, retryErrors: true });
//   await until("manifest removed", () => pathGone(manifest));
//   await until("decision stop", () => status() === "stop", { context: () => logTail() });
import { stat } from "node:fs/promises";

export interface UntilOptions {
  /** give up after this long (default 30 s; generous, the machine is shared) */
  timeoutMs?: number;
  /** between probes (default 50 ms) */
  intervalMs?: number;
  /** a probe that throws means "not yet"; the last error is in the timeout message */
  retryErrors?: boolean;
  /** appended to the timeout message, e.g. the last lines a process logged */
  context?: () => string;
}

/** Polls `probe` until it gives something other than undefined or false, and returns that. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: UntilOptions = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 50, retryErrors = false, context } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      if (!retryErrors) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      throw new Error(`timeout waiting for ${what}${cause}${context ? `\n${context()}` : ""}`);
    }
    await new Promise(resolve => setTimeout(resolve, intervalMs));
  }
}

/** Probes for `until`: the path exists / no longer exists. */
export const pathExists = (path: string): Promise<true | undefined> =>
  stat(path).then(
    () => true as const,
    () => undefined,
  );
export const pathGone = (path: string): Promise<true | undefined> =>
  stat(path).then(
    () => undefined,
    () => true as const,
  );
