// Crash safety: a failure injected at each step of a transition fails that run without touching
// values, and the next runs converge to the same end state as a run without the failure.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { createOrchestratorHook } from "../../hooks/orchestrator";
import render from "../../hooks/render";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation, SimulationError } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { depsWithReusedKeys } from "../support/reused-keys";
import * as settings from "../support/settings";

const globalValues = (
  parse(readFileSync("examples/values.yaml", "utf8")) as { global: Record<string, unknown> }
).global;

const direct = settings.direct(settings.withPassword("p4ss"));
const proxy = settings.proxy(settings.withPassword("p4ss"));
const local = settings.LOCAL;
const unmanaged = settings.unmanaged({ imagesRepo: settings.UPSTREAM_REPO });

/**
 * The fault: throws once, at the first run that reaches `step` after it is armed. It also records
 * every step reached, so the reference run tells which steps a transition has.
 */
class Fault {
  armed: string | undefined;
  fired: string[] = [];
  reached: string[] = [];
  check(step: string): void {
    if (!this.reached.includes(step)) this.reached.push(step);
    if (this.armed !== step) return;
    this.armed = undefined;
    this.fired.push(step);
    throw new Error(`injected failure at ${step}`);
  }
}

async function simulation(fault: Fault): Promise<Simulation> {
  const orchestrator = createOrchestratorHook(() =>
    depsWithReusedKeys({ beforeStep: step => fault.check(step) }),
  );
  return Simulation.start({
    objects: cluster({ nodes: 3, masters: 2 }),
    globalValues,
    hooks: [orchestrator, render],
    openapiDir: "openapi",
  });
}

/** What must be the same with and without a crash (keys and timestamps differ by nature). */
function endState(sim: Simulation) {
  const o = sim.orchestrator;
  const objects = [...sim.world.values()]
    .map((x: KubeObject) => `${x.kind}/${x.metadata.name}`)
    .sort();
  const service = [...sim.world.values()].find(
    x => x.kind === "Service" && x.metadata.name === "registry",
  );
  return {
    mode: o.state?.mode,
    ready: o.ready,
    conditions: (o.state?.conditions ?? []).map(c => `${c.type}=${c.status}`),
    objects,
    service: service?.spec,
  };
}

async function switchTo(sim: Simulation, registry: Record<string, unknown>, generation: number) {
  sim.apply([moduleConfig(registry, generation)]);
  const result = await sim.converge(sim.runs.length + 40);
  expect(result.converged, JSON.stringify(result.stuck)).toBe(true);
}

const legacy = settings.LEGACY;

/** Each transition: the settings that lead to its start, then its target. */
const TRANSITIONS: [string, Record<string, unknown>[], Record<string, unknown>][] = [
  ["legacy Unmanaged → Direct", [], direct],
  ["Direct → Proxy", [direct], proxy],
  ["Proxy → Direct", [proxy], direct],
  ["Direct → Local", [direct], local],
  ["Local → Direct", [local], direct],
  ["Direct → configurable Unmanaged", [direct], unmanaged],
  ["Proxy → configurable Unmanaged", [proxy], unmanaged],
  ["configurable Unmanaged → legacy Unmanaged", [unmanaged], legacy],
  ["Direct → legacy Unmanaged", [direct], legacy],
];

describe("crash safety of every transition step", () => {
  it.each(TRANSITIONS)(
    "%s",
    async (_, prefix, target) => {
      const recorder = new Fault();
      const reference = await simulation(recorder);
      for (const [i, registry] of prefix.entries()) await switchTo(reference, registry, i + 2);
      recorder.reached = [];
      await switchTo(reference, target, prefix.length + 2);
      const expected = endState(reference);
      const steps = recorder.reached;
      expect(steps.length).toBeGreaterThan(0);

      for (const step of steps) {
        const fault = new Fault();
        const sim = await simulation(fault);
        for (const [i, registry] of prefix.entries()) await switchTo(sim, registry, i + 2);
        sim.apply([moduleConfig(target, prefix.length + 2)]);
        fault.armed = step;
        let failures = 0;
        const settled = () => {
          const o = sim.orchestrator;
          return (
            fault.fired.length > 0 && o.ready === true && o.state?.mode === o.state?.target_mode
          );
        };
        for (let round = 0; round < 40 && !settled(); round++) {
          const before = JSON.stringify(sim.values());
          try {
            await sim.round();
          } catch (err) {
            expect(err).toBeInstanceOf(SimulationError);
            expect((err as Error).message).toContain(`injected failure at ${step}`);
            expect(
              JSON.stringify(sim.values()),
              `values changed by the failed run at ${step}`,
            ).toBe(before);
            failures += 1;
          }
        }
        expect(fault.fired, `step ${step} was never reached`).toEqual([step]);
        expect(failures).toBe(1);
        // a crash at the first step leaves values as they were, so the loop above may stop at
        // once: the whole switch (up to 11 runs into Proxy/Local, docs/adr/0122) runs here
        const result = await sim.converge(sim.runs.length + 20);
        expect(result.converged).toBe(true);
        expect(endState(sim), `after a crash at ${step}`).toEqual(expected);
      }
    },
    300_000,
  );
});
