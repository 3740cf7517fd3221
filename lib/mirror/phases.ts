// Where a pull or push spends its time, phase by phase: how many operations, the bytes they
// moved, their summed duration (busy: concurrent operations add up), the wall span from the first
// start to the last end, and the most operations in flight at once. busy ÷ span is the
// concurrency actually achieved. The CLI prints the figures when REGISTRY_MODULE_MIRROR_PHASES=1
// (bench/mirror.ts reads them); nothing else depends on them.
//
//   const phases = new Phases();
//   const bytes = await phases.time("blob download", () => download(blob), n => n);
//   phases.figures()  → [{ phase: "blob download", count, bytes, busyMs, spanMs, maxInFlight }]

export interface PhaseFigure {
  phase: string;
  count: number;
  bytes: number;
  busyMs: number;
  spanMs: number;
  maxInFlight: number;
}

interface Tally {
  count: number;
  bytes: number;
  busyMs: number;
  first: number;
  last: number;
  inFlight: number;
  maxInFlight: number;
}

export class Phases {
  readonly #tallies = new Map<string, Tally>();

  /** Runs `work` as one operation of `phase`; `bytes` tells what it moved (default 0). */
  async time<T>(phase: string, work: () => Promise<T>, bytes?: (result: T) => number): Promise<T> {
    let t = this.#tallies.get(phase);
    if (t === undefined) {
      t = { count: 0, bytes: 0, busyMs: 0, first: Infinity, last: 0, inFlight: 0, maxInFlight: 0 };
      this.#tallies.set(phase, t);
    }
    const start = performance.now();
    t.first = Math.min(t.first, start);
    t.inFlight++;
    t.maxInFlight = Math.max(t.maxInFlight, t.inFlight);
    try {
      const result = await work();
      t.bytes += bytes?.(result) ?? 0;
      return result;
    } finally {
      const end = performance.now();
      t.inFlight--;
      t.count++;
      t.busyMs += end - start;
      t.last = Math.max(t.last, end);
    }
  }

  figures(): PhaseFigure[] {
    return [...this.#tallies].map(([phase, t]) => ({
      phase,
      count: t.count,
      bytes: t.bytes,
      busyMs: Math.round(t.busyMs),
      spanMs: Math.round(t.last - t.first),
      maxInFlight: t.maxInFlight,
    }));
  }
}
