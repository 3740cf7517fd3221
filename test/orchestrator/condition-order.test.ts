// Conditions read in execution order (docs/architecture.md#orchestrator), also on the runs after a
// switch finished, when steps that only run while something is left to do (node services cleanup,
// the return to the remembered upstream of legacy Unmanaged) are skipped; and times are whole
// seconds, as metav1.Time serialises them.
import { beforeAll, describe, expect, it } from "vitest";
import { setCondition } from "../../lib/orchestrator/conditions";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { hooksWithReusedKeys } from "../support/reused-keys";
import * as settings from "../support/settings";

const globalValues = exampleGlobalValues();

describe("condition order after a finished switch", () => {
  let sim: Simulation;
  let generation = 1;
  const settle = async (registry?: Record<string, unknown>) => {
    generation += 1;
    sim.apply([moduleConfig(registry, generation)]);
    const r = await sim.converge(sim.runs.length + 60);
    expect(r.converged, JSON.stringify(r.stuck)).toBe(true);
    // a few more module runs, as any watched object change would cause
    for (let i = 0; i < 3; i++) await sim.round();
    return (sim.orchestrator.state?.conditions ?? []).map(c => c.type);
  };

  beforeAll(async () => {
    sim = await Simulation.start({
      objects: cluster({ nodes: 3, masters: 1, generation }),
      globalValues,
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    await sim.converge(10);
  }, 60_000);

  it("Proxy → Direct keeps CleanupNodeServices before Ready", async () => {
    await settle(settings.proxy());
    expect(await settle(settings.direct())).toEqual([
      "RegistryContainsRequiredImages",
      "ContainerdConfigPreflightReady",
      "TransitionContainerdConfigReady",
      "InClusterProxyReady",
      "DeckhouseRegistrySwitchReady",
      "FinalContainerdConfigReady",
      "CleanupNodeServices",
      "Ready",
    ]);
  }, 60_000);

  it("Direct → legacy Unmanaged keeps the return steps first", async () => {
    expect(await settle(settings.LEGACY)).toEqual([
      "RegistryContainsRequiredImages",
      "TransitionContainerdConfigReady",
      "DeckhouseRegistrySwitchReady",
      "FinalContainerdConfigReady",
      "CleanupInClusterProxy",
      "Ready",
    ]);
  }, 60_000);
});

describe("lastTransitionTime", () => {
  it("is in whole seconds", () => {
    const [c] = setCondition(
      [],
      { type: "Ready", status: "True" },
      1,
      new Date("2026-12-04T10:11:12.345Z"),
    );
    expect(c?.lastTransitionTime).toBe("2026-12-04T10:11:12Z");
  });
});
