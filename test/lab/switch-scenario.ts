// One switch scenario, played twice: by the BUILT module under the real addon-operator against the
// lab API server (test/lab/switch.test.ts, bench/lab-switch.ts), and by the in-memory simulator
// (lib/simulate) on the same objects and settings, so the two can be compared.
//
//   const lab = await startSwitchLab(name);         // API server, registry, operator, actors
//   await lab.switchTo(settings, "Direct");          // patch ModuleConfig/deckhouse, wait for it
//   lab.readState();                                 // registry-state as the cluster has it
//   await lab.close();
//
// The checker is the module's own hook asking a real registry: CNCF distribution on 127.0.0.1
// (TLS, its own CA) holding one image whose digest stands for every image the cluster needs
// (`global.modulesImages.digests.registry.*` and the `d8-system/deckhouse` Deployment). In Local
// mode it asks each master's own registry (./local-registries.ts): the masters' Node objects carry
// loopback InternalIPs (127.0.0.21-23) so those registries can listen where the module looks.
import { parse } from "yaml";
import { hooks } from "../../hooks/index";
import { Simulation } from "../../lib/simulate/simulate";
import type { KubeObject } from "../../lib/runtime/types";
import {
  createCa,
  createLab,
  issueServerCert,
  pushImage,
  startRegistry,
  writeOciLayout,
  type Lab,
  type Registry,
} from "../e2e-lab/index";
import { ClusterActors, roundLoop, type RoundLoop } from "./actors";
import {
  exampleGlobalValues,
  operatorPrerequisites,
  startAddonOperator,
  type AddonOperator,
} from "./addon-operator";
import {
  exampleClusterObjects,
  seedObjects,
  seedStaticCluster,
  withInternalIPs,
  type LabObject,
} from "./cluster";
import { LocalRegistries } from "./local-registries";
import { startControlPlane, type ControlPlane } from "./control-plane";

export const REPO = "deckhouse/ee";
const TAG = "v1.71.0";
/** The masters' InternalIPs in the switch lab: loopback, where their Local registries listen. */
export const MASTER_IPS: Readonly<Record<string, string>> = {
  "master-0": "127.0.0.21",
  "master-1": "127.0.0.22",
  "master-2": "127.0.0.23",
};

export type SwitchMode = "Direct" | "Proxy" | "Local" | "Unmanaged";

export interface StateCondition {
  type: string;
  status: string;
  message?: string;
}

export interface RegistryState {
  mode: string;
  target_mode: string;
  conditions: StateCondition[];
}

/** ModuleConfig/deckhouse `spec.settings.registry` for a mode, pointing at the lab registry. */
export function settingsFor(
  mode: SwitchMode,
  registry: Pick<Registry, "hostPort">,
  ca: string,
): Record<string, unknown> {
  if (mode === "Local") return { mode };
  const upstream = { imagesRepo: `${registry.hostPort}/${REPO}`, scheme: "HTTPS", ca };
  if (mode === "Direct") return { mode, direct: upstream };
  if (mode === "Proxy") return { mode, proxy: upstream };
  return { mode, unmanaged: upstream };
}

function deckhouseDeployment(image: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "deckhouse", namespace: "d8-system", labels: { app: "deckhouse" } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "deckhouse" } },
      template: {
        metadata: { labels: { app: "deckhouse" } },
        spec: {
          serviceAccountName: "deckhouse",
          containers: [{ name: "deckhouse", image }],
        },
      },
    },
  };
}

function finished(state: RegistryState | undefined, mode: string): boolean {
  return (
    state !== undefined &&
    state.mode === mode &&
    state.target_mode === mode &&
    state.conditions.length > 0 &&
    state.conditions.every(c => c.status === "True")
  );
}

export class SwitchLab {
  operator!: AddonOperator;
  readonly actors: ClusterActors;
  #actorsLoop: RoundLoop | undefined;
  #localLoop: RoundLoop | undefined;
  /** Every registry-state seen while waiting, in order, deduplicated. */
  readonly seen: RegistryState[] = [];

  constructor(
    readonly lab: Lab,
    readonly cp: ControlPlane,
    readonly registry: Registry,
    readonly ca: string,
    readonly globalValues: Record<string, unknown>,
    readonly objects: KubeObject[],
    readonly local: LocalRegistries,
  ) {
    this.actors = new ClusterActors(cp);
  }

  async startOperator(layout = true): Promise<void> {
    this.operator = await startAddonOperator({
      cp: this.cp,
      dir: this.lab.path("operator"),
      globalValues: this.globalValues,
      layout,
    });
  }

  startActors(): void {
    this.#actorsLoop ??= this.actors.loop(300);
    // the masters' registries follow the module's PKI and ro user
    this.#localLoop ??= roundLoop(() => this.local.round(), 1_000);
  }

  async readState(): Promise<RegistryState | undefined> {
    const r = await this.cp
      .kubectl(["get", "-n", "d8-system", "secret", "registry-state", "-o", "json"])
      .catch(() => undefined);
    if (!r) return undefined;
    const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
    const text = (k: string) => Buffer.from(data[k] ?? "", "base64").toString("utf8");
    return {
      mode: text("mode"),
      target_mode: text("target_mode"),
      conditions: (parse(text("conditions")) as StateCondition[] | null) ?? [],
    };
  }

  /** Patches ModuleConfig/deckhouse as a user would (kubectl patch --type=merge). */
  async patchSettings(settings: Record<string, unknown> | undefined): Promise<void> {
    await this.cp.kubectl([
      "patch",
      "moduleconfigs.deckhouse.io",
      "deckhouse",
      "--type=json",
      "-p",
      JSON.stringify([
        { op: "replace", path: "/spec/settings", value: settings ? { registry: settings } : {} },
      ]),
    ]);
  }

  /**
   * Waits until registry-state says the switch to `mode` finished (mode == target_mode == mode,
   * every condition True). The timeout names the first condition that is not True.
   */
  async waitFinished(
    mode: string,
    timeoutMs: number,
    what = `switch to ${mode}`,
  ): Promise<RegistryState> {
    const deadline = Date.now() + timeoutMs;
    let state: RegistryState | undefined;
    for (;;) {
      state = await this.readState();
      if (state && JSON.stringify(state) !== JSON.stringify(this.seen.at(-1)))
        this.seen.push(state);
      if (finished(state, mode)) return state as RegistryState;
      if (Date.now() > deadline) break;
      await new Promise(r => setTimeout(r, 500));
    }
    const stuck = state?.conditions.find(c => c.status !== "True");
    const errors = this.operator.errors().slice(-3).join("\n");
    throw new Error(
      `${what}: not finished within ${timeoutMs} ms; registry-state mode=${state?.mode} ` +
        `target_mode=${state?.target_mode}, stuck at ${stuck ? `${stuck.type}: ${stuck.message ?? ""}` : "no condition"}` +
        `\nactors: ${this.#actorsLoop?.errors.slice(-2).join("; ") ?? "not running"}` +
        `\nlocal registries: ${this.#localLoop?.errors.slice(-2).join("; ") ?? "not running"}` +
        `\noperator errors:\n${errors}`,
    );
  }

  /** Waits until registry-state names `mode` as the target (the orchestrator saw the change). */
  async waitTarget(mode: string, timeoutMs: number): Promise<RegistryState> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.readState();
      if (state?.target_mode === mode) return state;
      if (Date.now() > deadline)
        throw new Error(`registry-state target_mode did not become ${mode} within ${timeoutMs} ms`);
      await new Promise(r => setTimeout(r, 200));
    }
  }

  async switchTo(mode: SwitchMode, timeoutMs = 240_000): Promise<RegistryState> {
    await this.patchSettings(settingsFor(mode, this.registry, this.ca));
    return this.waitFinished(mode, timeoutMs);
  }

  async close(): Promise<void> {
    await this.#actorsLoop?.stop();
    await this.#localLoop?.stop();
    await this.local.stop();
    await this.operator?.stop();
    await this.cp.stop();
    await this.lab.close();
  }
}

/**
 * A lab API server seeded with the 3-master + 2-worker static cluster, a loopback registry with
 * the cluster's images, and the deckhouse Deployment that names them. The operator and the
 * actors are not started yet.
 */
export async function startSwitchLab(name: string): Promise<SwitchLab> {
  const lab = await createLab(name);
  let cp: ControlPlane | undefined;
  try {
    const ca = await createCa(lab.path("pki"));
    const registry = await startRegistry({
      dir: lab.path("registry"),
      tls: await issueServerCert(ca, "registry", { ips: ["127.0.0.1"] }),
    });
    const layout = await writeOciLayout(lab.path("image"), { seed: "lab-switch", tags: [TAG] });
    const { digest } = await pushImage(layout, registry, REPO);
    const globalValues = structuredClone(exampleGlobalValues()) as {
      modulesImages: { digests: { registry: Record<string, string> } };
    };
    for (const image of Object.keys(globalValues.modulesImages.digests.registry))
      globalValues.modulesImages.digests.registry[image] = digest;
    const deployment = deckhouseDeployment(
      `registry.d8-system.svc:5001/system/deckhouse@${digest}`,
    );
    const cluster = withInternalIPs(exampleClusterObjects(), MASTER_IPS);
    const objects = [...(cluster as KubeObject[]), deployment];
    cp = await startControlPlane({ dir: lab.path("cp") });
    await seedStaticCluster(cp, cluster);
    await seedObjects(cp, [deployment as unknown as LabObject]);
    return new SwitchLab(
      lab,
      cp,
      registry,
      ca.certPem,
      globalValues as unknown as Record<string, unknown>,
      [...objects, ...(operatorPrerequisites() as KubeObject[])],
      new LocalRegistries(cp, lab.path("local-registries"), layout, MASTER_IPS),
    );
  } catch (err) {
    await cp?.stop();
    await lab.close();
    throw err;
  }
}

/** The same cluster and global values in the in-memory simulator (lib/simulate). */
export async function startSimulation(sl: SwitchLab): Promise<Simulation> {
  return Simulation.start({
    objects: sl.objects.map(o => structuredClone(o)),
    globalValues: sl.globalValues,
    hooks,
    openapiDir: "openapi",
  });
}

/** Rounds of the simulator until the switch to `mode` finished; its final conditions. */
export async function simulateSwitch(
  sim: Simulation,
  settings: Record<string, unknown>,
  mode: string,
  generation: number,
): Promise<RegistryState> {
  sim.apply([
    {
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "ModuleConfig",
      metadata: { name: "deckhouse", generation },
      spec: { version: 1, enabled: true, settings: { registry: settings } },
    },
  ]);
  const start = sim.runs.length;
  for (;;) {
    const r = await sim.round();
    if (r.ready && r.mode === mode && r.target_mode === mode && sim.runs.length - start > 1)
      return { mode, target_mode: mode, conditions: r.conditions };
    if (sim.runs.length - start > 60)
      throw new Error(`simulator: switch to ${mode} did not finish in 60 runs`);
  }
}
