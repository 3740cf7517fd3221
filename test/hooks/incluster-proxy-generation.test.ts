// The in-cluster proxy Deployment's generation moves only when what it runs changes. The API
// server bumps a Deployment's generation on an annotation change too (docs/peers.md#kubernetes-api-server),
// and until the controller has observed the new generation InClusterProxyReady is False
// ("Deployment update is not yet observed by the controller"). An annotation that follows every
// input of the module (the orchestrator's inputs hash) therefore made the proxy "not ready" after
// every module run in which a Node's version or a condition changed — and, once a switch into
// Direct had converged, flipped Ready back to False for a run (seen in the sandbox).
import { beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { hooksWithReusedKeys } from "../support/reused-keys";
import * as settings from "../support/settings";

function deployment(sim: Simulation): KubeObject | undefined {
  return [...sim.world.values()].find(
    o => o.kind === "Deployment" && o.metadata.name === "registry-incluster-proxy",
  );
}

interface Trace {
  /** generation of the Deployment after each module run (undefined: absent) */
  generations: (number | undefined)[];
  /** its pod template after each run, as JSON */
  templates: string[];
  readyAt: number;
  /** Ready after each run from readyAt on */
  readyAfter: boolean[];
}

async function switchTo(sim: Simulation, registry: Record<string, unknown>, generation: number) {
  sim.apply([moduleConfig(registry, generation)]);
  const trace: Trace = { generations: [], templates: [], readyAt: -1, readyAfter: [] };
  for (let n = 0; n < 60; n++) {
    const record = await sim.round();
    const d = deployment(sim);
    trace.generations.push(d?.metadata.generation);
    trace.templates.push(JSON.stringify((d?.spec as { template?: unknown } | undefined)?.template));
    const converged = record.ready && record.mode === record.target_mode;
    if (trace.readyAt < 0 && converged && n > 0) trace.readyAt = n;
    if (trace.readyAt >= 0) trace.readyAfter.push(converged);
    if (trace.readyAt >= 0 && n >= trace.readyAt + 8) break;
  }
  return trace;
}

/** Generation bumps between consecutive runs, and how many of them changed the pod template. */
function bumps(t: Trace) {
  let total = 0;
  let withTemplate = 0;
  for (let i = 1; i < t.generations.length; i++) {
    const [before, after] = [t.generations[i - 1], t.generations[i]];
    if (before === undefined || after === undefined || after === before) continue;
    total += after - before;
    if (t.templates[i] !== t.templates[i - 1]) withTemplate += after - before;
  }
  return { total, withTemplate };
}

describe("the in-cluster proxy Deployment changes generation only with what it runs", () => {
  const traces: Record<string, Trace> = {};
  beforeAll(async () => {
    const sim = await Simulation.start({
      objects: cluster({ nodes: 5, masters: 3, generation: 1 }),
      globalValues: exampleGlobalValues(),
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    expect((await sim.converge(10)).converged).toBe(true);
    traces.legacyToDirect = await switchTo(sim, settings.direct(settings.withPassword("p4ss")), 2);
    traces.directToProxy = await switchTo(sim, settings.proxy(settings.licensed("lic3nse")), 3);
    traces.proxyToDirect = await switchTo(sim, settings.direct(settings.withPassword("p4ss-2")), 4);
  }, 300_000);

  for (const name of ["legacyToDirect", "directToProxy", "proxyToDirect"]) {
    it(`${name}: every generation bump comes with a new pod template`, () => {
      const t = traces[name] as Trace;
      expect(t.readyAt).toBeGreaterThan(0);
      const { total, withTemplate } = bumps(t);
      expect(total).toBe(withTemplate);
    });

    it(`${name}: once converged, eight more module runs leave it and Ready as they are`, () => {
      const t = traces[name] as Trace;
      expect(t.readyAfter).toEqual(Array(t.readyAfter.length).fill(true));
      expect(t.readyAfter.length).toBe(9);
      const settled = t.generations.slice(t.readyAt);
      expect(new Set(settled).size).toBe(1);
    });
  }
});
