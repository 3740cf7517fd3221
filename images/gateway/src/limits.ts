// Per-client bounds on shared resources: one client address may hold at most `perKey` of them at
// a time; its further requests wait (first come, first served) for its own earlier ones, so a
// client that stalls its streams stalls only itself.

export class PerKeyLimiter {
  readonly #held = new Map<string, number>();
  readonly #waiting = new Map<string, (() => void)[]>();

  constructor(readonly perKey: number) {}

  /** Resolves with a release function, or undefined when `signal` aborts first. */
  async acquire(key: string, signal: AbortSignal): Promise<(() => void) | undefined> {
    const held = this.#held.get(key) ?? 0;
    if (held < this.perKey) {
      this.#held.set(key, held + 1);
      return this.#releaser(key);
    }
    if (signal.aborted) return undefined;
    const queue = this.#waiting.get(key) ?? [];
    this.#waiting.set(key, queue);
    const granted = await new Promise<boolean>(resolve => {
      const grant = (): void => {
        signal.removeEventListener("abort", onAbort);
        resolve(true);
      };
      const onAbort = (): void => {
        const i = queue.indexOf(grant);
        if (i >= 0) queue.splice(i, 1);
        if (queue.length === 0 && this.#waiting.get(key) === queue) this.#waiting.delete(key);
        resolve(false);
      };
      queue.push(grant);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    // a grant hands over the releasing request's slot: the count is unchanged
    return granted ? this.#releaser(key) : undefined;
  }

  /** Slots held now, over every key (metrics, tests). */
  get held(): number {
    let n = 0;
    for (const v of this.#held.values()) n += v;
    return n;
  }

  #releaser(key: string): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const queue = this.#waiting.get(key);
      const next = queue?.shift();
      if (queue && queue.length === 0) this.#waiting.delete(key);
      if (next) return next();
      const held = (this.#held.get(key) ?? 1) - 1;
      if (held <= 0) this.#held.delete(key);
      else this.#held.set(key, held);
    };
  }
}
