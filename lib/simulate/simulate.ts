// Runs the module on a cluster until it converges, as it would run in a real one: each round is
// one ModuleRun (every hook on beforeHelm, Helm applying `registry.internal.manifests` with
// pruning), then the other actors respond (./actors.ts). Stops when the orchestrator is Ready in
// its target mode and a whole round changes nothing, or after `maxRuns`.
import { createHash } from "node:crypto";
import { createHookTest, type StoredMetric } from "../harness/index";
import type { HookTest } from "../harness/index";
import { validateRegistrySettingsSchema } from "../openapi/registry-settings";
import type { Condition } from "../orchestrator/conditions";
import { admit } from "./admission";
import type { AnyHook } from "../runtime/define-hook";
import type { KubeObject } from "../runtime/types";
import {
  checkerReportsReady,
  deckhouseFollowsRegistry,
  deploymentsRollOut,
  keyOf,
  mastersRunNodeServices,
  nodesApplyBashible,
} from "./actors";

export interface RunRecord {
  run: number;
  mode: string | undefined;
  target_mode: string | undefined;
  ready: boolean;
  conditions: { type: string; status: string; message?: string }[];
}

export interface SimulationOptions {
  objects: readonly KubeObject[];
  globalValues: Record<string, unknown>;
  /** Module hooks in order (the module's own by default). */
  hooks: readonly AnyHook[];
  openapiDir: string;
  maxRuns?: number;
  onRun?: (record: RunRecord) => void;
  /** The module's own settings (ModuleConfig/registry spec.settings). */
  configValues?: Record<string, unknown>;
}

export interface SimulationResult {
  converged: boolean;
  runs: RunRecord[];
  objects: KubeObject[];
  values: Record<string, unknown>;
  /** The first condition that is not True when the simulation gave up. */
  stuck?: Condition | undefined;
}

/**
 * What the deckhouse-controller webhook refuses of these objects whatever the cluster: the
 * registry settings of ModuleConfig/deckhouse against their schema and CEL rules.
 */
export function settingsRefusals(objects: readonly KubeObject[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    if (o.kind === "ModuleConfig" && o.metadata.name === "deckhouse") {
      const settings = (o.spec as { settings?: { registry?: unknown } } | undefined)?.settings;
      out.push(...validateRegistrySettingsSchema(settings?.registry));
    }
  }
  return out;
}

export class SimulationError extends Error {
  override name = "SimulationError";
}

interface Orchestrator {
  ready?: boolean;
  state?: { mode?: string; target_mode?: string; conditions?: Condition[] };
}

function digest(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex");
}

const keeps = (o: KubeObject) => o.metadata.annotations?.["helm.sh/resource-policy"] === "keep";

export class Simulation {
  readonly world = new Map<string, KubeObject>();
  readonly runs: RunRecord[] = [];
  #tests: HookTest[] = [];
  #beforeHelm: HookTest[] = [];
  #released = new Set<string>();

  private constructor(private readonly options: SimulationOptions) {
    for (const o of options.objects) this.world.set(keyOf(o), structuredClone(o));
  }

  static async start(options: SimulationOptions): Promise<Simulation> {
    const sim = new Simulation(options);
    for (const hook of options.hooks) {
      const f = await createHookTest({
        hook,
        openapiDir: options.openapiDir,
        globalValues: options.globalValues,
        configValues: options.configValues ?? {},
      });
      // Module start: each hook's kubernetes bindings synchronise (and run if they say so).
      const sync = f.kubeStateSet([...sim.world.values()]);
      if (sync.length > 0) {
        const result = await f.runHook(sync);
        if (!result.ok)
          throw new SimulationError(
            `hook ${hook.name} failed on Synchronization: ${result.error ?? ""}`,
          );
      }
      sim.#tests.push(f);
    }
    // beforeHelm hooks run by ORDER, then by name, as addon-operator orders them
    sim.#beforeHelm = sim.#tests
      .filter(f => f.config.beforeHelm !== undefined)
      .sort((a, b) => (a.config.beforeHelm ?? 0) - (b.config.beforeHelm ?? 0));
    return sim;
  }

  /** What a hook's next beforeHelm run receives (for benchmarks and debugging). */
  nextRunInputs(hookName: string): {
    bindingContexts: unknown[];
    values: Record<string, unknown>;
    configValues: Record<string, unknown>;
  } {
    const i = this.options.hooks.findIndex(h => h.name === hookName);
    const f = this.#tests[i];
    if (!f) throw new SimulationError(`no hook named ${hookName}`);
    f.kubeStateSet([...this.world.values()]);
    return {
      bindingContexts: f.generateBeforeHelmContext(),
      values: f.values(),
      configValues: f.configValues(),
    };
  }

  /** Replaces objects (e.g. a new ModuleConfig); the next round sees them. */
  apply(objects: readonly KubeObject[]): void {
    for (const o of objects) this.world.set(keyOf(o), structuredClone(o));
  }

  /**
   * What the API server would refuse of these writes, as it stands now: the registry settings
   * of ModuleConfig/deckhouse against their schema and CEL rules (the deckhouse-controller
   * webhook), then the ValidatingAdmissionPolicies the module rendered, with their params from
   * the cluster. One message per violated rule; [] when every object would be admitted.
   */
  admissionRefusals(objects: readonly KubeObject[]): string[] {
    const policies = [...this.world.values()].filter(o =>
      o.kind.startsWith("ValidatingAdmissionPolicy"),
    );
    const lookup = (kind: string, name: string) =>
      [...this.world.values()].find(o => o.kind === kind && o.metadata.name === name);
    const out = settingsRefusals(objects);
    for (const o of objects) out.push(...admit(policies, o, this.world.get(keyOf(o)), lookup));
    return out;
  }

  /** Deletes objects (e.g. ModuleConfig/deckhouse); the next round no longer sees them. */
  delete(objects: readonly KubeObject[]): void {
    for (const o of objects) this.world.delete(keyOf(o));
  }

  get orchestrator(): Orchestrator {
    const values = this.values().registry as {
      internal?: { orchestrator?: Orchestrator };
    };
    return values?.internal?.orchestrator ?? {};
  }

  /** The metrics a hook emitted so far, as the operator stores them from its metrics file. */
  metrics(hookName: string): StoredMetric[] {
    const i = this.options.hooks.findIndex(h => h.name === hookName);
    const f = this.#tests[i];
    if (!f) throw new SimulationError(`no hook named ${hookName}`);
    return f.metrics();
  }

  /** Module values after the last ModuleRun (the last beforeHelm hook's view). */
  values(): Record<string, unknown> {
    return (this.#beforeHelm.at(-1) ?? this.#tests[0])?.values() ?? {};
  }

  /**
   * One ModuleRun: every hook on beforeHelm (values passed from hook to hook), the cluster
   * changes the hooks asked for, then Helm applying the rendered objects. Returns the manifests.
   */
  async moduleRun(): Promise<KubeObject[]> {
    let values: Record<string, unknown> | undefined;
    for (const f of this.#beforeHelm) {
      if (values) f.valuesSet("registry", values.registry);
      f.kubeStateSet([...this.world.values()]);
      const result = await f.runHook(f.generateBeforeHelmContext());
      if (!result.ok) throw new SimulationError(`hook failed: ${result.error ?? "unknown error"}`);
      // what the hook changed in the cluster (deckhouse-registry patch, init annotation)
      this.world.clear();
      for (const o of f.cluster.all()) this.world.set(keyOf(o), o);
      values = f.values();
    }
    const registry = (values?.registry ?? {}) as { internal?: { manifests?: KubeObject[] } };
    const manifests = registry.internal?.manifests ?? [];
    this.#helmApply(manifests);
    for (const f of this.#tests) if (values) f.valuesSet("registry", values.registry);
    return manifests;
  }

  /** One ModuleRun plus the actors' response. */
  async round(): Promise<RunRecord> {
    await this.moduleRun();
    const registry = this.values().registry as { internal?: { checker?: { params?: unknown } } };
    nodesApplyBashible(this.world);
    deckhouseFollowsRegistry(this.world);
    deploymentsRollOut(this.world);
    mastersRunNodeServices(this.world);
    const report = checkerReportsReady(registry.internal?.checker?.params);
    if (report) for (const f of this.#tests) f.valuesSet("registry.internal.checker.state", report);
    const o = this.orchestrator;
    const record: RunRecord = {
      run: this.runs.length + 1,
      mode: o.state?.mode,
      target_mode: o.state?.target_mode,
      ready: o.ready === true,
      conditions: (o.state?.conditions ?? []).map(c => ({
        type: c.type,
        status: c.status,
        ...(c.message ? { message: c.message } : {}),
      })),
    };
    this.runs.push(record);
    this.options.onRun?.(record);
    return record;
  }

  /** Rounds until converged or `maxRuns` rounds in all. */
  async converge(maxRuns = this.options.maxRuns ?? 200): Promise<SimulationResult> {
    let previous = "";
    while (this.runs.length < maxRuns) {
      const record = await this.round();
      const fingerprint = digest([[...this.world.entries()].sort(), this.values()]);
      const settled = record.ready && record.mode === record.target_mode;
      if (settled && fingerprint === previous) return this.result(true);
      previous = fingerprint;
    }
    return this.result(false);
  }

  result(converged: boolean): SimulationResult {
    const conditions = this.orchestrator.state?.conditions ?? [];
    return {
      converged,
      runs: this.runs,
      objects: [...this.world.values()],
      values: this.values(),
      stuck: converged
        ? undefined
        : conditions.find(c => c.status !== "True" && c.type !== "Ready"),
    };
  }

  /** Helm: apply what is rendered, prune what was released before and is gone now. */
  #helmApply(manifests: readonly KubeObject[]): void {
    const now = new Set<string>();
    for (const m of manifests) {
      const key = keyOf(m);
      now.add(key);
      const existing = this.world.get(key);
      const next = structuredClone(m);
      // status belongs to controllers, not to the chart
      if (existing?.status !== undefined) next.status = existing.status;
      if (existing?.metadata.generation !== undefined) {
        next.metadata.generation =
          existing.metadata.generation + (bumpsGeneration(existing, m) ? 1 : 0);
      }
      this.world.set(key, next);
    }
    for (const key of this.#released) {
      const o = this.world.get(key);
      if (!now.has(key) && o && !keeps(o)) this.world.delete(key);
    }
    this.#released = now;
  }
}

/**
 * What the API server counts as a new generation: a spec change, and for a Deployment also a
 * change of its annotations (they are copied to its ReplicaSets; docs/peers.md#kubernetes-api-server).
 */
function bumpsGeneration(existing: KubeObject, next: KubeObject): boolean {
  if (JSON.stringify(existing.spec) !== JSON.stringify(next.spec)) return true;
  return (
    next.kind === "Deployment" &&
    JSON.stringify(existing.metadata.annotations ?? {}) !==
      JSON.stringify(next.metadata.annotations ?? {})
  );
}
