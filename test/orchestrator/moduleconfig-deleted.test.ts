// ModuleConfig/deckhouse deleted (or never created) means its default settings: legacy
// Unmanaged, reached by a proper switch (docs/adr/0082). Helm must not prune the Service, the
// node services, registry-pki or registry-state while deckhouse-registry still points at
// registry.d8-system.svc:5001; the switch returns nodes and deckhouse-registry to the upstream
// the cluster had before, and only then drops what the managed mode needed.
import { beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../lib/runtime/types";
import type { RunRecord } from "../../lib/simulate/simulate";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { hooksWithReusedKeys } from "../support/reused-keys";
import * as settings from "../support/settings";

const fromB64 = (s: unknown) => Buffer.from(String(s), "base64").toString("utf8");
const globalValues = exampleGlobalValues();

const names = (objects: Iterable<KubeObject>) =>
  [...objects].map(o => `${o.kind}/${o.metadata.name}`).sort();

function registryAddress(objects: Iterable<KubeObject>): string {
  const secret = [...objects].find(o => o.metadata.name === "deckhouse-registry");
  return fromB64((secret?.data as Record<string, string>).address);
}

describe.each([
  ["Direct", settings.direct()],
  ["Proxy", settings.proxy()],
])("ModuleConfig/deckhouse deleted in %s", (mode, registry) => {
  let sim: Simulation;
  let managed: string[];
  let afterFirstRun: string[];
  let firstRun: RunRecord;
  let addressAfterFirstRun: string;
  let final: { converged: boolean; objects: KubeObject[]; runs: { mode?: string }[] };

  beforeAll(async () => {
    sim = await Simulation.start({
      objects: cluster({ nodes: 4, masters: 2, registry, generation: 2 }),
      globalValues,
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    expect((await sim.converge(60)).converged).toBe(true);
    expect(sim.orchestrator.state?.mode).toBe(mode);
    managed = names(sim.world.values());

    sim.delete([moduleConfig(undefined)]);
    firstRun = await sim.round();
    afterFirstRun = names(sim.world.values());
    addressAfterFirstRun = registryAddress(sim.world.values());
    final = await sim.converge(sim.runs.length + 60);
  }, 120_000);

  it("keeps every object on the first run after the deletion", () => {
    expect(addressAfterFirstRun).toBe("registry.d8-system.svc:5001");
    const kept = managed.filter(n => n !== "ModuleConfig/deckhouse");
    for (const name of [
      "Secret/registry-state",
      "Secret/registry-pki",
      "Service/registry",
      "Secret/registry-bashible-config",
    ]) {
      expect(kept).toContain(name);
    }
    expect(afterFirstRun).toEqual(kept);
    // a switch in progress, not a module gone idle
    expect(firstRun).toMatchObject({ mode, target_mode: "Unmanaged", ready: false });
  });

  it("switches properly to legacy Unmanaged and keeps the state secret", () => {
    expect(final.converged).toBe(true);
    expect(sim.orchestrator.state).toMatchObject({ mode: "Unmanaged", target_mode: "Unmanaged" });
    // back to the upstream of the settings, nodes and deckhouse-controller alike
    expect(registryAddress(final.objects)).toBe("registry.example.com");
    const after = names(final.objects);
    expect(after).toContain("Secret/registry-state");
    for (const gone of [
      "Service/registry",
      "Secret/registry-pki",
      "Deployment/registry-incluster-proxy",
      "DaemonSet/registry-nodeservices-manager",
    ]) {
      expect(after).not.toContain(gone);
    }
  });
});
