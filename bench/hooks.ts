// Hook start-up (issue 2): cold whole-process `hook config` and `hook run` of the orchestrator on a
// 1000-node cluster, against a bare `node -e 0` in the same run. Target ≤ 1.3×.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import orchestrator from "../hooks/orchestrator";
import { createHookTest } from "../lib/harness/index";
import { cluster } from "../test/fixtures/clusters/generate";
import type { Subject } from "./lib";
import { measure, printRows, requireTools } from "./lib";

const HOOKS_EXE = resolve("dist/module/hooks/registry-hooks");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const NODES = Number(process.env.BENCH_NODES ?? 1000);
const TARGET = 1.3;

async function runFiles(): Promise<{ env: Record<string, string>; reset: () => void }> {
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
  console.log(
    `binding context: ${NODES} nodes, ${(inputs.BINDING_CONTEXT_PATH.length / 1024).toFixed(0)} KiB`,
  );
  return { env, reset };
}

export async function benchHooks(): Promise<void> {
  requireTools();
  const run = await runFiles();
  const subjects: Subject[] = [
    { name: "node -e 0", argv: [process.execPath, "-e", "0"], env: {} },
    { name: "hook config", argv: [HOOKS_EXE, "hook", "config"], env: {} },
    {
      name: `hook run 0 (orchestrator, ${NODES} nodes, first switch run)`,
      argv: [HOOKS_EXE, "hook", "run", "0"],
      env: run.env,
      before: run.reset,
    },
  ];
  const rows = measure(subjects, ROUNDS);
  console.log(`hook start-up: ${ROUNDS} interleaved rounds, target ≤ ${TARGET}× node -e 0`);
  printRows(rows, rows[0] as (typeof rows)[number]);
  const worst = Math.max(...rows.slice(1).map(r => r.medianMs / (rows[0]?.medianMs ?? 1)));
  console.log(
    worst <= TARGET
      ? `PASS: worst ratio ${worst.toFixed(2)}`
      : `MISS: worst ratio ${worst.toFixed(2)}`,
  );
}
