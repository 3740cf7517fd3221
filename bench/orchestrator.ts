// Orchestrator runs (issue 3): the built executable's `hook run` of the orchestrator in a converged
// Direct cluster of 10, 1000 and 5000 nodes (steady state: nothing changed), against the 10-node
// run and a bare `node -e 0` in the same run. Targets: 5000 nodes ≤ 1.5× 10 nodes; 1000 nodes
// ≤ 1.3× node -e 0. Then, in process, the same steady-state run with counting dependencies:
// it must issue no certificate and compute no password hash.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { hooks } from "../hooks/index";
import { createOrchestratorHook } from "../hooks/orchestrator";
import { createCertificateFactory } from "../lib/domain/certificate-factory";
import type { CertificateFactory } from "../lib/domain/pki";
import { createDefaultDeps } from "../lib/orchestrator/default-deps";
import { executeHook } from "../lib/runtime/define-hook";
import type { BindingContext, ObjectAndFilterResult } from "../lib/runtime/types";
import { Simulation } from "../lib/simulate/simulate";
import { cluster, moduleConfig } from "../test/fixtures/clusters/generate";
import type { Subject } from "./lib";
import { measure, printRows, requireTools } from "./lib";

const HOOKS_EXE = resolve("dist/module/hooks/registry-hooks");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);
const SIZES = [10, 1000, 5000];

/** The steady-state inputs of a converged Direct cluster, grown to `nodes` nodes. */
export function grow(contexts: BindingContext[], nodes: number): BindingContext[] {
  return contexts.map(ctx => {
    const items = ctx.snapshots?.["bashible-->nodes"];
    if (!items) return ctx;
    // a Node's filterResult: [name, InternalIP, control-plane?, version, containerd label]
    const isMaster = (i: ObjectAndFilterResult) => (i.filterResult as unknown[])[2] === true;
    const worker = items.find(i => !isMaster(i)) as ObjectAndFilterResult;
    const masters = items.filter(isMaster);
    const [, , ...rest] = worker.filterResult as unknown[];
    const workers = Array.from({ length: nodes - masters.length }, (_, n) => ({
      filterResult: [`worker-${n}`, `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, ...rest],
    }));
    return {
      ...ctx,
      snapshots: { ...ctx.snapshots, "bashible-->nodes": [...masters, ...workers] },
    };
  });
}

/** The files a hook run writes: addon-operator creates them empty for every run. */
export const OUTPUT_FILES = ["VALUES_JSON_PATCH_PATH", "KUBERNETES_PATCH_PATH", "METRICS_PATH"];

export function filesFor(inputs: {
  bindingContexts: unknown[];
  values: object;
  configValues: object;
}) {
  const dir = mkdtempSync(join(tmpdir(), "bench-orchestrator-"));
  const env: Record<string, string> = {};
  const content = {
    BINDING_CONTEXT_PATH: JSON.stringify(inputs.bindingContexts),
    VALUES_PATH: JSON.stringify(inputs.values),
    CONFIG_VALUES_PATH: JSON.stringify(inputs.configValues),
  };
  for (const [name, text] of Object.entries(content)) {
    env[name] = join(dir, name);
    writeFileSync(env[name], text);
  }
  for (const name of OUTPUT_FILES) env[name] = join(dir, name);
  return { dir, env, reset: () => OUTPUT_FILES.forEach(n => writeFileSync(env[n] as string, "")) };
}

export async function steadyState() {
  const globalValues = (
    parse(readFileSync("examples/values.yaml", "utf8")) as { global: Record<string, unknown> }
  ).global;
  const sim = await Simulation.start({
    objects: cluster({ nodes: 5, masters: 3 }),
    globalValues,
    hooks,
    openapiDir: "openapi",
  });
  sim.apply([
    moduleConfig(
      {
        mode: "Direct",
        direct: { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: "bench-licence" },
      },
      2,
    ),
  ]);
  const result = await sim.converge(40);
  if (!result.converged)
    throw new Error(`the bench cluster did not converge: ${JSON.stringify(result.stuck)}`);
  return sim.nextRunInputs("orchestrator");
}

async function countWork(inputs: {
  bindingContexts: unknown[];
  values: Record<string, unknown>;
  configValues: Record<string, unknown>;
}) {
  let certificates = 0;
  let hashes = 0;
  const real = createCertificateFactory();
  const counting: CertificateFactory = {
    createCa: r => ((certificates += 1), real.createCa(r)),
    createCertificate: (r, i) => ((certificates += 1), real.createCertificate(r, i)),
  };
  const hook = createOrchestratorHook(() => {
    const deps = createDefaultDeps({ certificates: counting });
    return {
      ...deps,
      ensurePasswordHash: async (password, previous, previousPassword) => {
        const hash = await deps.ensurePasswordHash(password, previous, previousPassword);
        if (hash !== previous) hashes += 1;
        return hash;
      },
      ensureUser: async (key, previous, secret) => {
        const user = await deps.ensureUser(key, previous, secret);
        if (user.password_hash !== previous?.password_hash) hashes += 1;
        return user;
      },
    };
  });
  const start = process.hrtime.bigint();
  const out = await executeHook(hook, {
    bindingContexts: inputs.bindingContexts as BindingContext[],
    values: inputs.values,
    configValues: inputs.configValues,
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const before = (inputs.values.registry as { internal: { orchestrator: { state: object } } })
    .internal.orchestrator.state;
  const after = (
    out.valuesPatch.find(p => p.path === "/registry/internal/orchestrator") as {
      value: { state: object };
    }
  ).value.state;
  const unchanged = JSON.stringify(before) === JSON.stringify(after);
  return { certificates, hashes, ms, unchanged };
}

export async function benchOrchestrator(): Promise<void> {
  requireTools();
  const base = await steadyState();
  const subjects: Subject[] = [{ name: "node -e 0", argv: [process.execPath, "-e", "0"], env: {} }];
  for (const n of SIZES) {
    const files = filesFor({
      ...base,
      bindingContexts: grow(base.bindingContexts as BindingContext[], n),
    });
    subjects.push({
      name: `orchestrator ${n} nodes`,
      argv: [HOOKS_EXE, "hook", "run", "0"],
      env: files.env,
      before: files.reset,
    });
  }
  const rows = measure(subjects, ROUNDS);
  console.log(`orchestrator steady state, whole process: ${ROUNDS} interleaved rounds`);
  printRows(rows, rows[0] as (typeof rows)[number]);
  const [node, n10, n1000, n5000] = rows.map(r => r.medianMs) as [number, number, number, number];
  const r5000 = n5000 / n10;
  const r1000 = n1000 / node;
  console.log(
    `5000 nodes / 10 nodes = ${r5000.toFixed(2)} (target ≤ 1.5): ${r5000 <= 1.5 ? "PASS" : "MISS"}`,
  );
  console.log(
    `1000 nodes / node -e 0 = ${r1000.toFixed(2)} (target ≤ 1.3): ${r1000 <= 1.3 ? "PASS" : "MISS"}`,
  );

  const work = await countWork({
    ...base,
    bindingContexts: grow(base.bindingContexts as BindingContext[], 1000),
  });
  console.log(
    `steady state in process (1000 nodes): ${work.ms.toFixed(1)} ms, certificates issued ${work.certificates}, password hashes computed ${work.hashes}, state unchanged ${work.unchanged}`,
  );
  if (work.certificates !== 0 || work.hashes !== 0 || !work.unchanged) {
    throw new Error("a steady-state run did key or password work, or changed the state");
  }
}
