// `registry-module render` and `simulate`: what the module does to a cluster, on this machine.
//   render   — one ModuleRun (the `enabled` script, then every hook on beforeHelm): the objects
//              Helm would apply, like `helm template` for a chart;
//   simulate — ModuleRuns until the module converges, with the other actors of the cluster
//              played in between (lib/simulate), optionally through a sequence of changes.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hooks } from "../hooks/index";
import { parseObjects } from "../lib/harness/cluster";
import { runEnabledScript } from "../lib/harness/enabled";
import { parseYaml } from "../lib/openapi/yaml";
import type { KubeObject } from "../lib/runtime/types";
import type { RunRecord, SimulationResult } from "../lib/simulate/simulate";
import { settingsRefusals, Simulation } from "../lib/simulate/simulate";

import { CliError, UsageError } from "./errors";

export { CliError, UsageError };

export interface ModuleInput {
  clusterFile: string;
  valuesFile?: string | undefined;
  moduleDir: string;
}

export type Enabled = { enabled: true } | { enabled: false; reason: string };

function readGlobalValues(file: string | undefined): Record<string, unknown> {
  if (file === undefined) return {};
  const doc = parseYaml(readFileSync(file, "utf8")) as unknown;
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new CliError(`--values ${file}: must be a mapping with a "global" key`);
  }
  const { global, ...rest } = doc as Record<string, unknown>;
  if (Object.keys(rest).length > 0) {
    throw new CliError(
      `--values ${file}: unexpected keys ${Object.keys(rest).join(", ")}; only "global" is read`,
    );
  }
  if (global !== undefined && (global === null || typeof global !== "object")) {
    throw new CliError(`--values ${file}: "global" must be a mapping`);
  }
  return (global ?? {}) as Record<string, unknown>;
}

function readObjects(file: string, flag: string): KubeObject[] {
  try {
    return parseObjects(readFileSync(file, "utf8"));
  } catch (err) {
    throw new CliError(`${flag} ${file}: ${(err as Error).message}`);
  }
}

/** ModuleConfig/registry's settings, as addon-operator passes them to the module. */
function moduleSettings(objects: readonly KubeObject[]): Record<string, unknown> {
  const mc = objects.find(o => o.kind === "ModuleConfig" && o.metadata.name === "registry");
  const settings = (mc?.spec as { settings?: unknown } | undefined)?.settings;
  return settings && typeof settings === "object" ? (settings as Record<string, unknown>) : {};
}

async function start(
  input: ModuleInput,
  onRun?: (record: RunRecord) => void,
): Promise<Simulation | Enabled> {
  const objects = readObjects(input.clusterFile, "--cluster");
  const globalValues = readGlobalValues(input.valuesFile);
  const verdict = runEnabledScript(join(input.moduleDir, "enabled"), {
    global: globalValues,
    registry: {},
  });
  if (!verdict.enabled) return { enabled: false, reason: verdict.reason };
  return Simulation.start({
    objects,
    globalValues,
    hooks,
    openapiDir: join(input.moduleDir, "openapi"),
    configValues: moduleSettings(objects),
    ...(onRun ? { onRun } : {}),
  });
}

export async function render(input: ModuleInput): Promise<Enabled & { objects?: KubeObject[] }> {
  const sim = await start(input);
  if (!(sim instanceof Simulation)) return sim;
  return { enabled: true, objects: await sim.moduleRun() };
}

export interface SimulateInput extends ModuleInput {
  /** Files of objects applied, in order, each after the previous state converged. */
  then: string[];
  maxRuns: number;
  onRun: (record: RunRecord) => void;
  /** Called when a step ends (converged or not) with its last run. */
  onStep?: (last: RunRecord | undefined) => void;
}

export interface Refusal {
  file: string;
  messages: string[];
}

export async function simulate(
  input: SimulateInput,
): Promise<Enabled & { result?: SimulationResult; refused?: Refusal }> {
  // every step is read and checked before the first run: a typo in the last file must not cost
  // a whole simulation
  const steps = input.then.map(file => {
    const objects = readObjects(file, "--then");
    if (objects.length === 0) throw new CliError(`--then ${file}: no objects`);
    return { file, objects };
  });
  const sim = await start(input, input.onRun);
  if (!(sim instanceof Simulation)) return sim;
  for (const step of steps) {
    const messages = settingsRefusals(step.objects);
    if (messages.length > 0) {
      return { enabled: true, result: sim.result(false), refused: { file: step.file, messages } };
    }
  }
  let result: SimulationResult | undefined;
  for (const step of [undefined, ...steps]) {
    if (step !== undefined) {
      const messages = sim.admissionRefusals(step.objects);
      if (messages.length > 0) {
        return {
          enabled: true,
          result: sim.result(false),
          refused: { file: step.file, messages },
        };
      }
      sim.apply(step.objects);
    }
    result = await sim.converge(sim.runs.length + input.maxRuns);
    input.onStep?.(result.runs.at(-1));
    if (!result.converged) break;
  }
  return { enabled: true, ...(result ? { result } : {}) };
}
