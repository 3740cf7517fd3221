// Objects of optional Deckhouse modules (docs/adr/0092) under the REAL helm and kube-apiserver: a
// cluster without cert-manager and without the Prometheus operator has neither their CRDs nor,
// in `global.enabledModules`, their modules. The module in Local mode must install there (no
// Certificate, PodMonitor or PrometheusRule rendered), while the same release rendered as if those
// modules were on is refused by Helm for the missing kinds — the failure this rule prevents. Once
// the CRDs exist and the modules are enabled, an upgrade adds exactly their objects.
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { run } from "../e2e-lab/process";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { hooksWithReusedKeys } from "../support/reused-keys";
import { namespaceObjects, seedObjects } from "./cluster";
import { startControlPlane, type ControlPlane } from "./control-plane";
import { labCrds } from "./crds";
import { objectKey, storedObjects } from "./objects";
import { EXAMPLE_GLOBAL_VALUES } from "./stages";
import { labTool } from "./tools";

const REPO = new URL("../..", import.meta.url).pathname;
const OPTIONAL_CRDS = [
  "certificates.cert-manager.io",
  "podmonitors.monitoring.coreos.com",
  "prometheusrules.monitoring.coreos.com",
];
const OPTIONAL_KINDS = ["Certificate", "PodMonitor", "PrometheusRule"];

/** What the module renders in Local mode, converged, with these modules enabled. */
async function localManifests(enabledModules: string[]): Promise<KubeObject[]> {
  const sim = await Simulation.start({
    objects: cluster({ nodes: 5, masters: 3, generation: 1 }),
    globalValues: { ...EXAMPLE_GLOBAL_VALUES, enabledModules },
    hooks: hooksWithReusedKeys(),
    openapiDir: join(REPO, "openapi"),
  });
  sim.apply([moduleConfig({ mode: "Local" }, 2)]);
  for (let i = 0; i < 60; i++) {
    await sim.round();
    const last = sim.runs.at(-1);
    if (last?.ready && last.mode === "Local" && last.target_mode === "Local") {
      const registry = sim.values().registry as { internal?: { manifests?: KubeObject[] } };
      return registry.internal?.manifests ?? [];
    }
  }
  throw new Error("the simulator did not converge to Local");
}

const kindsOf = (objects: KubeObject[]) => new Set(objects.map(o => o.kind));

describe("Local mode in a cluster without cert-manager and the Prometheus operator (real helm)", () => {
  let cp: ControlPlane;
  let dir: string;
  let without: KubeObject[];
  let withAll: KubeObject[];

  const helm = (args: string[]) =>
    run(labTool("helm"), [...args, "--kubeconfig", cp.kubeconfigPath], {
      env: {
        HELM_CACHE_HOME: join(dir, "cache"),
        HELM_CONFIG_HOME: join(dir, "config"),
        HELM_DATA_HOME: join(dir, "data"),
      },
      timeoutMs: 120_000,
    });
  const release = (verb: "install" | "upgrade", manifests: KubeObject[], n: number) => {
    const values = join(dir, `values-${n}.json`);
    writeFileSync(values, JSON.stringify({ registry: { internal: { manifests } } }));
    return helm([verb, "registry", join(dir, "chart"), "-n", "d8-system", "-f", values]);
  };

  beforeAll(async () => {
    without = await localManifests(["ingress-nginx", "registry"]);
    withAll = await localManifests(EXAMPLE_GLOBAL_VALUES.enabledModules as string[]);
    cp = await startControlPlane();
    const crds = labCrds() as { metadata: { name: string } }[];
    await cp.apply(crds.filter(c => !OPTIONAL_CRDS.includes(c.metadata.name)) as KubeObject[]);
    await seedObjects(cp, namespaceObjects());
    dir = join(cp.dir, "helm");
    mkdirSync(join(dir, "chart"), { recursive: true });
    cpSync(join(REPO, "Chart.yaml"), join(dir, "chart", "Chart.yaml"));
    cpSync(join(REPO, "chart", "templates"), join(dir, "chart", "templates"), { recursive: true });
  }, 300_000);
  afterAll(async () => cp?.stop());

  it("renders no object of a module that is not enabled", () => {
    for (const kind of OPTIONAL_KINDS) expect(kindsOf(without).has(kind), kind).toBe(false);
    // the push Ingress stays: ingress-nginx is enabled
    expect(kindsOf(without).has("Ingress")).toBe(true);
    for (const kind of OPTIONAL_KINDS) expect(kindsOf(withAll).has(kind), kind).toBe(true);
  });

  it("the same release rendered as if they were enabled is refused by helm (no such kinds)", async () => {
    await expect(release("install", withAll, 0)).rejects.toThrow(
      /no matches for kind "(Certificate|PodMonitor|PrometheusRule)"/,
    );
    await helm(["uninstall", "registry", "-n", "d8-system"]).catch(() => undefined);
  }, 180_000);

  it("installs; enabling the modules later adds exactly their objects", async () => {
    await release("install", without, 1);
    const stored = await storedObjects(cp, without);
    for (const o of without) expect(stored.has(objectKey(o)), objectKey(o)).toBe(true);

    await cp.apply(crds(OPTIONAL_CRDS));
    await cp.kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=60s",
      ...OPTIONAL_CRDS.map(n => `crd/${n}`),
    ]);
    await release("upgrade", withAll, 2);
    const before = new Set(without.map(objectKey));
    const added = withAll.filter(o => !before.has(objectKey(o)));
    expect(added.map(o => o.kind).sort()).toEqual([
      "Certificate",
      "PodMonitor",
      "PodMonitor",
      "PrometheusRule",
      "PrometheusRule",
    ]);
    const now = await storedObjects(cp, withAll);
    for (const o of added) expect(now.has(objectKey(o)), objectKey(o)).toBe(true);
  }, 240_000);
});

function crds(names: string[]): KubeObject[] {
  return (labCrds() as KubeObject[]).filter(c => names.includes(c.metadata.name));
}
