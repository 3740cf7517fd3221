// Resident memory of the whole sandbox: this process and every process descending from it
// (containerd, nginx, distribution, the gateways, etcd, kube-apiserver, addon-operator, …),
// summed from /proc. Sampled while a scenario runs; the peak is one of the report's figures.
import { readdirSync, readFileSync } from "node:fs";

function statusOf(pid: number): { ppid: number; rssKb: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, "utf8");
    const ppid = Number(/^PPid:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(text)?.[1] ?? 0);
    return { ppid, rssKb };
  } catch {
    return undefined;
  }
}

/** Bytes resident in `root` and all its descendants now. */
export function treeRssBytes(root = process.pid): number {
  const procs = new Map<number, { ppid: number; rssKb: number }>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const s = statusOf(Number(e));
    if (s) procs.set(Number(e), s);
  }
  const children = new Map<number, number[]>();
  for (const [pid, { ppid }] of procs) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  let kb = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    kb += procs.get(pid)?.rssKb ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return kb * 1024;
}

/** Samples treeRssBytes every `intervalMs` until stop(); keeps the peak. */
export function rssSampler(intervalMs = 2_000): { peakBytes(): number; stop(): void } {
  let peak = treeRssBytes();
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssBytes());
  }, intervalMs);
  timer.unref();
  return { peakBytes: () => peak, stop: () => clearInterval(timer) };
}
