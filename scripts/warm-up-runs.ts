// Writes the runs the hooks executable is warmed up with while its V8 snapshot is built
// (docs/adr/0118): `<dir>/runs.json`, a list of {argv, env} for the executable's contract, and the
// input files they name. Run by scripts/build.mjs (bundled by esbuild) with the output directory.
//
// The runs are what addon-operator asks most: the batch listing and config, and the orchestrator
// on a Direct cluster from its first switch run on, each run's outputs applied as the operator
// applies them. Only paths that need no chunk from hooks/lib can be warmed: a chunk is loaded
// from beside the executable, which does not exist yet (the build fails if a run tries).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import orchestrator from "../hooks/orchestrator";
import { createHookTest } from "../lib/harness/index";
import { cluster } from "../lib/simulate/cluster";

const NODES = 20;
const OUTPUT_FILES = ["VALUES_JSON_PATCH_PATH", "KUBERNETES_PATCH_PATH", "METRICS_PATH"];

interface Run {
  argv: string[];
  env: Record<string, string>;
}

async function main(dir: string, openapiDir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const runs: Run[] = [
    { argv: ["hook", "list"], env: {} },
    { argv: ["hook", "config"], env: {} },
  ];
  const f = await createHookTest({ hook: orchestrator, openapiDir });
  f.kubeStateSet(
    cluster({
      nodes: NODES,
      masters: 3,
      registry: {
        mode: "Direct",
        direct: { imagesRepo: "registry.example.com/deckhouse/ee", license: "warm-up" },
      },
    }),
  );
  const orchestratorRun = async (name: string) => {
    const contexts = f.generateBeforeHelmContext();
    const env: Record<string, string> = {};
    const inputs = {
      BINDING_CONTEXT_PATH: contexts,
      VALUES_PATH: f.values(),
      CONFIG_VALUES_PATH: f.configValues(),
    };
    for (const [variable, content] of Object.entries(inputs)) {
      env[variable] = join(dir, `${name}-${variable}.json`);
      writeFileSync(env[variable], JSON.stringify(content));
    }
    for (const variable of OUTPUT_FILES) env[variable] = join(dir, `${name}-${variable}`);
    runs.push({ argv: ["hook", "run", "0"], env });
    const result = await f.runHook(contexts);
    if (!result.ok) throw new Error(`orchestrator warm-up run ${name} failed in-process`);
  };
  // first switch run: Unmanaged → Direct, waiting for the checker
  await orchestratorRun("direct-1");
  // the checker found every image: the switch goes on to the nodes' containerd preflight
  const params = f.valuesGet("registry.internal.checker.params") as { version?: string };
  f.valuesSet("registry.internal.checker.state", { version: params.version, ready: true });
  await orchestratorRun("direct-2");
  writeFileSync(join(dir, "runs.json"), JSON.stringify(runs, null, 2));
}

const [dir, openapiDir] = process.argv.slice(2);
if (!dir || !openapiDir) throw new Error("usage: warm-up-runs <output dir> <openapi dir>");
main(dir, openapiDir).catch((err: unknown) => {
  process.stderr.write(`warm-up runs: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
