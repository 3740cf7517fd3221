/** Allows one event per key per period; remembers at most 1024 keys. */
export class RateLimit {
  readonly #last = new Map<string, number>();
  constructor(readonly periodMs: number) {}
  allow(key: string): boolean {
    const now = Date.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.periodMs) return false;
    this.#last.delete(key);
    this.#last.set(key, now);
    if (this.#last.size > 1024) {
      const oldest = this.#last.keys().next().value;
      if (oldest !== undefined) this.#last.delete(oldest);
    }
    return true;
  }
}
