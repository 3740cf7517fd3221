// The BUILT module (dist/module) under the real addon-operator, against the lab's real
// kube-apiserver with the operator's real Helm: the switch chain legacy Unmanaged → Direct →
// Proxy → Direct → Local → Direct → Unmanaged driven by patching ModuleConfig/deckhouse, the
// other actors played against the API (./actors.ts), the checker asking a real registry: the
// upstream for Direct/Proxy/Unmanaged, each master's own registry for Local (plain distribution
// with the module CA and ro user, not the gateway: see ./local-registries.ts). Conditions in
// registry-state are compared with the in-memory simulator's for the same scenario. During
// Proxy → Direct the operator is SIGKILLed mid-switch and started again: the switch finishes
// from registry-state.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../lib/runtime/types";
import type { Simulation } from "../../lib/simulate/simulate";
import {
  settingsFor,
  simulateSwitch,
  startSimulation,
  startSwitchLab,
  type RegistryState,
  type SwitchLab,
} from "./switch-scenario";

const STEP_TIMEOUT_MS = 240_000;
// a restarted operator starts the module from scratch (onStartup, Synchronization of every
// binding, checker state restored from its secret) before the switch goes on: 205 s measured
const RESTART_TIMEOUT_MS = 420_000;

// In order, not sorted: registry-state lists conditions in the order the steps run, also on the
// operator's extra module runs after a switch finished (it runs the module more often than the
// simulator's rounds; test/orchestrator/condition-order.test.ts). The message of the image check
// differs by design (the simulator's checker reports 42 items).
const comparable = (s: Pick<RegistryState, "conditions">) =>
  s.conditions.map(c => ({
    type: c.type,
    status: c.status,
    ...(c.type === "RegistryContainsRequiredImages" ? {} : { message: c.message ?? "" }),
  }));

const ref = (o: Pick<KubeObject, "kind" | "metadata">) =>
  `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/** The objects the module rendered (its Helm chart's content) that the API server does not have. */
async function missingObjects(lab: SwitchLab, manifests: readonly KubeObject[]): Promise<string[]> {
  const missing: string[] = [];
  for (const o of manifests) {
    const ns = o.metadata.namespace ? ["-n", o.metadata.namespace] : [];
    const group = o.apiVersion.includes("/") ? `.${o.apiVersion.split("/")[0]}` : "";
    const r = await lab.cp
      .kubectl(["get", ...ns, `${o.kind.toLowerCase()}${group}`, o.metadata.name, "-o", "name"])
      .catch(() => undefined);
    if (!r) missing.push(ref(o));
  }
  return missing;
}

async function pkiCa(lab: SwitchLab): Promise<string> {
  const r = await lab.cp.kubectl([
    "get",
    "-n",
    "d8-system",
    "secret",
    "registry-pki",
    "-o",
    "json",
  ]);
  return JSON.stringify((JSON.parse(r.stdout) as { data?: unknown }).data);
}

describe("the built module under real addon-operator on the lab API server", () => {
  let lab: SwitchLab;
  let sim: Simulation;
  let generation = 1;

  /** One switch, in the lab (kubectl patch) and in the simulator; registry-state compared. */
  async function switchAndCompare(mode: "Direct" | "Proxy" | "Local" | "Unmanaged") {
    generation += 1;
    const settings = settingsFor(mode, lab.registry, lab.ca);
    const expected = await simulateSwitch(sim, settings, mode, generation);
    const state = await lab.switchTo(mode, STEP_TIMEOUT_MS);
    expect(comparable(state)).toEqual(comparable(expected));
  }

  beforeAll(async () => {
    lab = await startSwitchLab("aop-switch");
    sim = await startSimulation(lab);
    await sim.converge(10);
    await lab.startOperator();
    lab.startActors();
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
  }, 60_000);

  it(
    "installs the chart with its Helm and settles in legacy Unmanaged",
    async () => {
      const state = await lab.waitFinished(
        "Unmanaged",
        STEP_TIMEOUT_MS,
        "legacy Unmanaged at start",
      );
      expect(comparable(state)).toEqual(
        comparable({ conditions: sim.runs.at(-1)?.conditions ?? [] }),
      );
      const releases = await lab.cp.kubectl([
        "get",
        "-n",
        "d8-system",
        "secrets",
        "-l",
        "owner=helm,name=registry",
        "-o",
        "name",
      ]);
      expect(releases.stdout).toContain("sh.helm.release.v1.registry.v1");
    },
    STEP_TIMEOUT_MS + 10_000,
  );

  it(
    "switches to Direct; registry-state reads as the simulator's",
    async () => {
      await switchAndCompare("Direct");
    },
    STEP_TIMEOUT_MS + 30_000,
  );

  it(
    "switches to Proxy; registry-state reads as the simulator's",
    async () => {
      await switchAndCompare("Proxy");
    },
    STEP_TIMEOUT_MS + 30_000,
  );

  it(
    "switches Proxy → Direct with the operator killed mid-switch: it finishes, no object lost",
    async () => {
      generation += 1;
      const settings = settingsFor("Direct", lab.registry, lab.ca);
      const expected = await simulateSwitch(sim, settings, "Direct", generation);
      const caBefore = await pkiCa(lab);
      await lab.patchSettings(settings);
      const mid = await lab.waitTarget("Direct", 60_000);
      await lab.operator.kill();
      // the switch did not finish before the kill (the image check alone waits for a checker tick)
      expect(mid.mode).toBe("Proxy");
      await lab.startOperator(false);
      const state = await lab.waitFinished(
        "Direct",
        RESTART_TIMEOUT_MS,
        "Proxy → Direct after restart",
      );
      expect(comparable(state)).toEqual(comparable(expected));
      const manifests =
        (sim.values().registry as { internal?: { manifests?: KubeObject[] } }).internal
          ?.manifests ?? [];
      expect(manifests.length).toBeGreaterThan(5);
      expect(await missingObjects(lab, manifests)).toEqual([]);
      // the module PKI survived the restart (a new CA would re-key every client)
      expect(await pkiCa(lab)).toBe(caBefore);
    },
    RESTART_TIMEOUT_MS + 90_000,
  );

  it(
    "switches Direct → Local: the checker proves every master's registry; registry-state reads as the simulator's",
    async () => {
      const logged = new Map(
        [...lab.local.registries].map(([node, r]) => [node, { r, n: r.accessLog().length }]),
      );
      await switchAndCompare("Local");
      // during the switch the checker fetched the required image, as the ro user, from each
      // master's registry (what came before is the actor's own push)
      for (const [node, registry] of lab.local.registries) {
        const before = logged.get(node);
        const asked = registry
          .accessLog()
          .slice(before?.r === registry ? before.n : 0)
          .filter(e => e.path.startsWith("/v2/system/deckhouse/manifests/sha256:"));
        expect(
          asked.some(e => e.status === 200),
          `${node} served the image`,
        ).toBe(true);
      }
      expect([...lab.local.registries.keys()].sort()).toEqual(["master-0", "master-1", "master-2"]);
    },
    STEP_TIMEOUT_MS + 30_000,
  );

  it(
    "switches Local → Direct; registry-state reads as the simulator's",
    async () => {
      await switchAndCompare("Direct");
    },
    STEP_TIMEOUT_MS + 30_000,
  );

  it(
    "switches to configurable Unmanaged; registry-state reads as the simulator's",
    async () => {
      await switchAndCompare("Unmanaged");
    },
    STEP_TIMEOUT_MS + 30_000,
  );
});
