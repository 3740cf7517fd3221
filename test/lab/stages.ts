// What the module renders at every stage of every mode, as the simulator produces it (the same
// switch chain as test/orchestrator/switch-chain.test.ts): legacy Unmanaged → Direct → Proxy →
// Direct → Local → Direct → configurable Unmanaged → legacy Unmanaged on the 3-master + 2-worker
// static cluster, with the module's real hooks. Every ModuleRun whose rendered set differs from
// the one before is a stage: transition stages (mode != target_mode) and final ones.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { hooksWithReusedKeys } from "../support/reused-keys";
import * as settings from "../support/settings";

export interface Stage {
  /** the switch this stage belongs to ("legacy Unmanaged" for the start) */
  step: string;
  /** 1-based ModuleRun number within the whole chain */
  run: number;
  mode: string | undefined;
  targetMode: string | undefined;
  /** Ready in its target mode: the switch's last stage */
  final: boolean;
  /** registry.internal.manifests: exactly what Helm applies */
  manifests: KubeObject[];
}

export const EXAMPLE_GLOBAL_VALUES = (
  parse(readFileSync(new URL("../../examples/values.yaml", import.meta.url), "utf8")) as {
    global: Record<string, unknown>;
  }
).global;

/** The chain: step name → ModuleConfig/deckhouse spec.settings.registry (undefined: legacy). */
export const SWITCH_CHAIN: readonly [string, Record<string, unknown> | undefined][] = [
  ...settings.SWITCH_CHAIN,
  ["legacy Unmanaged", undefined],
];

const digest = (objects: KubeObject[]) => JSON.stringify(objects);

/** Runs the chain in the simulator; returns every distinct rendered set in order. */
export async function switchChainStages(): Promise<Stage[]> {
  let generation = 1;
  const sim = await Simulation.start({
    objects: cluster({ nodes: 5, masters: 3, generation }),
    globalValues: EXAMPLE_GLOBAL_VALUES,
    hooks: hooksWithReusedKeys(),
    openapiDir: new URL("../../openapi", import.meta.url).pathname,
  });
  const stages: Stage[] = [];
  let previous = "";
  const record = (step: string) => {
    const manifests =
      (sim.values().registry as { internal?: { manifests?: KubeObject[] } }).internal?.manifests ??
      [];
    const last = sim.runs.at(-1);
    const d = digest(manifests);
    if (d === previous) return;
    previous = d;
    stages.push({
      step,
      run: sim.runs.length,
      mode: last?.mode,
      targetMode: last?.target_mode,
      final: Boolean(last?.ready && last.mode === last.target_mode),
      manifests: structuredClone(manifests),
    });
  };
  for (let i = 0; i < 10; i++) {
    await sim.round();
    record("legacy Unmanaged (start)");
    const last = sim.runs.at(-1);
    if (last?.ready && last.mode === last.target_mode) break;
  }
  for (const [step, registry] of SWITCH_CHAIN) {
    generation += 1;
    sim.apply([moduleConfig(registry, generation)]);
    const start = sim.runs.length;
    let converged = false;
    while (sim.runs.length - start < 60) {
      await sim.round();
      record(step);
      const last = sim.runs.at(-1);
      if (last?.ready && last.mode === last.target_mode && sim.runs.length - start > 1) {
        converged = true;
        break;
      }
    }
    if (!converged) throw new Error(`switch to ${step} did not converge in the simulator`);
  }
  return stages;
}
