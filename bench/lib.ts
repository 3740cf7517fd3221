// Shared measuring for the benchmarks: cold whole-process runs timed against a baseline in the
// same run, interleaved so machine load affects both alike; medians, p90 and peak RSS.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface Subject {
  name: string;
  argv: string[];
  env: Record<string, string>;
  /** Called before every run (e.g. to empty output files). */
  before?: () => void;
}

export function requireTools(): void {
  if (!existsSync("/usr/bin/time")) throw new Error("GNU time is missing: apt-get install -y time");
}

export function timeOnce(s: Subject): number {
  s.before?.();
  const start = process.hrtime.bigint();
  const r = spawnSync(s.argv[0] as string, s.argv.slice(1), {
    env: { PATH: "/nonexistent", ...s.env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${s.name} failed (${r.status}): ${r.stderr.toString()}`);
  return ms;
}

export function peakRssKiB(s: Subject): number {
  let peak = 0;
  for (let i = 0; i < 3; i++) {
    s.before?.();
    const r = spawnSync("/usr/bin/time", ["-f", "%M", ...s.argv], {
      env: { PATH: "/nonexistent", ...s.env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    if (r.status !== 0)
      throw new Error(`${s.name} under /usr/bin/time failed: ${r.stderr.toString()}`);
    peak = Math.max(peak, Number(r.stderr.toString().trim().split("\n").at(-1)));
  }
  return peak;
}

export function quantile(xs: readonly number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export interface Row {
  subject: string;
  medianMs: number;
  p90Ms: number;
  peakRssMiB: number;
}

/** Interleaved rounds over all subjects (one warm-up each, not counted). */
export function measure(subjects: readonly Subject[], rounds: number): Row[] {
  for (const s of subjects) timeOnce(s);
  const samples = subjects.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) subjects.forEach((s, i) => samples[i]?.push(timeOnce(s)));
  return subjects.map((s, i) => ({
    subject: s.name,
    medianMs: quantile(samples[i] as number[], 0.5),
    p90Ms: quantile(samples[i] as number[], 0.9),
    peakRssMiB: peakRssKiB(s) / 1024,
  }));
}

export function printRows(rows: readonly Row[], baseline: Row): void {
  console.table(
    rows.map(r => ({
      subject: r.subject,
      "median ms": r.medianMs.toFixed(1),
      "p90 ms": r.p90Ms.toFixed(1),
      [`× ${baseline.subject}`]: (r.medianMs / baseline.medianMs).toFixed(2),
      "peak RSS MiB": r.peakRssMiB.toFixed(1),
    })),
  );
}
