// Hook start-up benchmark (issue: module foundation). Cold whole-process runs of the built hooks
// executable, each measured against a bare `node -e 0` in the same run and interleaved with it,
// so machine load affects baseline and subject alike. Figures: medians, p90, ratios, peak RSS.
//
//   npm run bench            (builds first; needs GNU time: apt-get install -y time)
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import orchestrator from "../hooks/orchestrator";
import { createHookTest } from "../lib/harness/index";
import { cluster } from "../test/fixtures/clusters/generate";

const HOOKS_EXE = resolve("dist/module/hooks/registry-hooks");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const NODES = Number(process.env.BENCH_NODES ?? 1000);
const TARGET_RATIO = 1.3;

interface Subject {
  name: string;
  argv: string[];
  env: Record<string, string>;
  before?: () => void;
}

async function orchestratorRunFiles(): Promise<{ env: Record<string, string>; reset: () => void }> {
  const f = await createHookTest({ hook: orchestrator, openapiDir: "openapi" });
  f.kubeStateSet(
    cluster({
      nodes: NODES,
      masters: 3,
      registry: {
        mode: "Direct",
        direct: { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: "bench-licence" },
      },
    }),
  );
  const dir = mkdtempSync(join(tmpdir(), "bench-"));
  const env: Record<string, string> = {};
  const inputs = {
    BINDING_CONTEXT_PATH: JSON.stringify(f.generateBeforeHelmContext()),
    VALUES_PATH: JSON.stringify(f.values()),
    CONFIG_VALUES_PATH: JSON.stringify(f.configValues()),
  };
  for (const [name, content] of Object.entries(inputs)) {
    env[name] = join(dir, name);
    writeFileSync(env[name], content);
  }
  const outputs = ["VALUES_JSON_PATCH_PATH", "KUBERNETES_PATCH_PATH", "METRICS_PATH"];
  for (const name of outputs) env[name] = join(dir, name);
  const reset = () => outputs.forEach(name => writeFileSync(env[name] as string, ""));
  const size = Buffer.byteLength(inputs.BINDING_CONTEXT_PATH);
  console.log(`binding context: ${NODES} nodes, ${(size / 1024).toFixed(0)} KiB`);
  return { env, reset };
}

function timeOnce(s: Subject): number {
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

function peakRssKiB(s: Subject): number {
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

const quantile = (xs: number[], q: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
};

async function main(): Promise<void> {
  if (!existsSync(HOOKS_EXE)) throw new Error(`${HOOKS_EXE} missing: run npm run build`);
  if (!existsSync("/usr/bin/time")) throw new Error("GNU time is missing: apt-get install -y time");
  const run = await orchestratorRunFiles();
  const subjects: Subject[] = [
    { name: "node -e 0 (baseline)", argv: [process.execPath, "-e", "0"], env: {} },
    { name: "registry-hooks hook config", argv: [HOOKS_EXE, "hook", "config"], env: {} },
    {
      name: `registry-hooks hook run 0 (orchestrator, ${NODES} nodes)`,
      argv: [HOOKS_EXE, "hook", "run", "0"],
      env: run.env,
      before: run.reset,
    },
  ];
  for (const s of subjects) timeOnce(s); // warm the page cache; not counted
  const samples = subjects.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    subjects.forEach((s, i) => samples[i]?.push(timeOnce(s)));
  }
  const baseline = quantile(samples[0] as number[], 0.5);
  const rows = subjects.map((s, i) => {
    const xs = samples[i] as number[];
    const median = quantile(xs, 0.5);
    return {
      subject: s.name,
      "median ms": median.toFixed(1),
      "p90 ms": quantile(xs, 0.9).toFixed(1),
      "× node -e 0": (median / baseline).toFixed(2),
      "peak RSS MiB": (peakRssKiB(s) / 1024).toFixed(1),
    };
  });
  console.log(`${ROUNDS} interleaved rounds, target ≤ ${TARGET_RATIO}× node -e 0`);
  console.table(rows);
  const worst = Math.max(...rows.slice(1).map(r => Number(r["× node -e 0"])));
  console.log(worst <= TARGET_RATIO ? `PASS: worst ratio ${worst}` : `MISS: worst ratio ${worst}`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
