// Node steps benchmark (issue 5).
//
// 1. Rendering: every step for each node of a 5000-node cluster, one output per node (node name
//    and IP baked in), in the transition stage of a switch to Proxy (three masters, two mirrors
//    with CAs and credentials: the largest config there is). Baseline in the same run, same
//    rounds interleaved: YAML-dumping the same config once per node (what the Secret's own
//    rendering costs). Figures: first node (cold: template compilation, config validation),
//    then per-node median over the rounds, total, ratio to baseline.
// 2. The step on a node: all steps run by bash in a sandbox root, first on an empty node, then
//    again with nothing changed. Baseline: starting `bash -c :` once per step. The second run must
//    rewrite nothing (inode, mtime and ctime of every file unchanged), or the benchmark fails.
//
//   node --import tsx bench/node.ts          (BENCH_NODES=5000 BENCH_ROUNDS=5)
import { spawnSync } from "node:child_process";
import { stat, writeFile } from "node:fs/promises";
import YAML from "yaml";
import type { BashibleConfig } from "../lib/domain/bashible-config";
import { renderNodeSteps } from "../test/node/steps/steps";
import { createLab } from "../test/e2e-lab";
import { proxyTransition } from "../test/node/fixtures";
import { createSandbox, readTree, type Sandbox } from "../test/node/sandbox";

const NODES = Number(process.env.BENCH_NODES ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Rendering a node's steps may cost at most this many YAML dumps of its config. */
const TARGET_RATIO = 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (ns: bigint) => Number(ns) / 1e6;
const ipOf = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

function renderAll(config: BashibleConfig): number {
  let bytes = 0;
  for (let i = 0; i < NODES; i++) {
    const steps = renderNodeSteps(config, {
      containerd: "platform",
      node: { name: `node-${i}`, ip: ipOf(i + 1) },
    });
    for (const s of steps) bytes += s.content.length;
  }
  return bytes;
}

function dumpAll(config: BashibleConfig): number {
  let bytes = 0;
  for (let i = 0; i < NODES; i++) bytes += YAML.stringify(config).length;
  return bytes;
}

function time<T>(fn: () => T): { ms: number; result: T } {
  const start = process.hrtime.bigint();
  const result = fn();
  return { ms: ms(process.hrtime.bigint() - start), result };
}

function renderingBenchmark(): void {
  const cold = time(() =>
    renderNodeSteps(proxyTransition, {
      containerd: "platform",
      node: { name: "n", ip: "10.0.0.9" },
    }),
  );
  const render: number[] = [];
  const dump: number[] = [];
  let bytes = 0;
  for (let r = 0; r < ROUNDS; r++) {
    dump.push(time(() => dumpAll(proxyTransition)).ms);
    const t = time(() => renderAll(proxyTransition));
    render.push(t.ms);
    bytes = t.result;
  }
  const perNode = median(render) / NODES;
  const basePerNode = median(dump) / NODES;
  const ratio = perNode / basePerNode;
  console.log(`rendering all steps, ${NODES} nodes, ${ROUNDS} rounds (proxy transition config)`);
  console.log(`  first node (cold)            ${cold.ms.toFixed(1)} ms`);
  console.log(
    `  per node (median of rounds)  ${(perNode * 1000).toFixed(1)} µs` +
      `   total ${median(render).toFixed(0)} ms, ${(bytes / NODES / 1024).toFixed(1)} KiB of bash per node`,
  );
  console.log(`  baseline: YAML dump per node ${(basePerNode * 1000).toFixed(1)} µs`);
  console.log(
    `  ratio ${ratio.toFixed(1)} (target ≤ ${TARGET_RATIO})  ${ratio <= TARGET_RATIO ? "OK" : "OVER"}`,
  );
  if (ratio > TARGET_RATIO) process.exitCode = 1;
}

async function snapshot(sandbox: Sandbox): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const dir of ["/etc/containerd", "/etc/kubernetes", "/var/lib/node_labels"]) {
    for (const [file, st] of Object.entries(await readTree(sandbox.path(dir)))) {
      const ctime = (await stat(sandbox.path(`${dir}/${file}`))).ctimeMs;
      out.set(`${dir}/${file}`, `${st.ino}/${st.mtimeMs}/${ctime}`);
    }
  }
  return out;
}

async function stepBenchmark(): Promise<void> {
  const lab = await createLab("bench-node");
  try {
    const sandbox = await createSandbox(lab.path("node"));
    await writeFile(sandbox.path("/etc/containerd/config.toml"), "version = 2\n");
    await writeFile(sandbox.path("/var/lib/bashible/discovered-node-ip"), "10.0.0.9\n");
    const steps = renderNodeSteps(proxyTransition, {
      containerd: "platform",
      sandbox: { root: sandbox.root },
    });
    const env = { D8_NODE_HOSTNAME: "bench-node" };
    const runAll = async () => {
      const start = process.hrtime.bigint();
      const runs = await sandbox.run(steps, env);
      const failed = runs.find(r => r.code !== 0);
      if (failed) throw new Error(`${failed.name} failed: ${failed.stderr}`);
      return { ms: ms(process.hrtime.bigint() - start), out: runs.map(r => r.stdout).join("") };
    };
    const baseline: number[] = [];
    const noop: number[] = [];
    const first = await runAll();
    const written = (first.out.match(/registry: (updated|created)/g) ?? []).length;
    const before = await snapshot(sandbox);
    let rewritten: string[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const b = process.hrtime.bigint();
      for (let i = 0; i < steps.length; i++) spawnSync("bash", ["-c", ":"]);
      baseline.push(ms(process.hrtime.bigint() - b));
      const again = await runAll();
      noop.push(again.ms);
      const after = await snapshot(sandbox);
      rewritten = [...after].filter(([f, v]) => before.get(f) !== v).map(([f]) => f);
      if (rewritten.length || /updated|created|removed/.test(again.out)) break;
    }
    console.log(`\nthe steps on a node (bash in a sandbox root, ${steps.length} steps)`);
    console.log(`  first run   ${first.ms.toFixed(0)} ms, ${written} files written`);
    console.log(
      `  re-run      ${median(noop).toFixed(0)} ms (median of ${noop.length}), ` +
        `files rewritten: ${rewritten.length}${rewritten.length ? ` ${rewritten.join(", ")}` : ""}`,
    );
    console.log(`  baseline: bash start-up × ${steps.length}  ${median(baseline).toFixed(0)} ms`);
    console.log(`  ratio ${(median(noop) / median(baseline)).toFixed(1)}`);
    if (rewritten.length) {
      console.log("  FAIL: a run with nothing changed rewrote files");
      process.exitCode = 1;
    }
  } finally {
    await lab.close();
  }
}

renderingBenchmark();
await stepBenchmark();
