// Deckhouse-style hook tests (in the spirit of Deckhouse `testing/hooks`,
// docs/hook-protocol.md#hook-tests):
//
//   const f = await createHookTest({ hook, schemas, configValues: {...} });
//   f.kubeStateSet(yaml);                       // 1st: Synchronization; later: Events (combined)
//   f.bindingContexts = f.generateBeforeHelmContext();
//   const res = await f.runHook();              // outputs applied as the operator applies them
//   expect(res.ok).toBe(true);
//   f.valuesGet("registry.internal.x"); f.kubernetesResource("Secret", "d8-system", "x");
//
// The pieces are separate: BindingContextEngine (snapshots + contexts), runners (in-process,
// executable), ValuesStore, MetricsStore, ClusterState, applyHookRun.
import { loadModuleSchemas } from "../openapi/schemas";
import type { ModuleSchemas } from "../openapi/types";
import type { AnyHook } from "../runtime/define-hook";
import type { BindingContext, KubeObject, ModuleHookConfig, Snapshots } from "../runtime/types";
import { MODULE_NAME, MODULE_VALUES_KEY } from "../runtime/types";
import { applyHookRun } from "./apply";
import type { ClusterInput } from "./cluster";
import { ClusterState } from "./cluster";
import { BindingContextEngine } from "./engine";
import type { HookConfig } from "./hook-config";
import { normalizeHookConfig } from "./hook-config";
import type { JqEngine } from "./jq";
import { loadJq } from "./jq";
import type { KindInfo } from "./kinds";
import { KindRegistry } from "./kinds";
import type { StoredMetric } from "./metrics";
import { MetricsStore } from "./metrics";
import type { HookLogRecord, HookRunner, HookRunResult } from "./run-types";
import { inProcessRunner } from "./runner-inprocess";
import type { ExecutableHook } from "./runner-exec";
import { executableRunner, readHookConfig } from "./runner-exec";
import type { HarnessLog } from "./snapshots";
import { dottedPath, getAt, ValuesStore } from "./values";

export interface HookTestOptions {
  /** A hook definition (run in-process) or a built executable (config read via --config / hook config unless given). */
  hook: AnyHook | (ExecutableHook & { config?: ModuleHookConfig });
  /** Treat the hook as a batch (module-sdk) hook: group "main", keepFullObjectsInMemory false by default. */
  batch?: boolean;
  /** Module schemas: defaults and validation. Without them (and without openapiDir) values are neither defaulted nor validated. */
  schemas?: ModuleSchemas;
  /** Directory with config-values.yaml / values.yaml, loaded with loadModuleSchemas when `schemas` is not given. */
  openapiDir?: string;
  /** Global values (`global.enabledModules` gets the module added and is sorted). */
  globalValues?: Record<string, unknown>;
  /** Global user config (CONFIG_VALUES_PATH `global`). */
  globalConfigValues?: Record<string, unknown>;
  /** Module user settings (ModuleConfig spec.settings): CONFIG_VALUES_PATH module section. */
  configValues?: Record<string, unknown>;
  /** Module static values (values.yaml section): the bottom layer of module values. */
  values?: Record<string, unknown>;
  /** Values key of the module (default `registry`). */
  moduleKey?: string;
  /** CRDs and other kinds the fake cluster should know. */
  kinds?: KindInfo[];
  /** Config values patches: refused as Deckhouse does (default) or applied. */
  configValuesPatches?: "refuse" | "apply";
}

export interface HookTest {
  readonly config: HookConfig;
  readonly cluster: ClusterState;
  readonly engine: BindingContextEngine;
  readonly runner: HookRunner;
  /** What the next `runHook()` delivers; set by kubeStateSet, or by the test. */
  bindingContexts: BindingContext[];

  kubeStateSet(state: ClusterInput): BindingContext[];
  kubeStateSequence(states: readonly ClusterInput[]): BindingContext[];
  /** Events for changes made to `cluster` outside kubeStateSet (e.g. by the hook's own operations). */
  observeCluster(): BindingContext[];
  registerCRD(group: string, version: string, kind: string, namespaced: boolean): void;

  generateOnStartupContext(): BindingContext[];
  generateBeforeHelmContext(): BindingContext[];
  generateAfterHelmContext(): BindingContext[];
  generateBeforeDeleteHelmContext(): BindingContext[];
  generateAfterDeleteHelmContext(): BindingContext[];
  generateScheduleContext(nameOrCrontab: string): BindingContext[];

  runHook(contexts?: BindingContext[]): Promise<HookRunResult>;

  valuesGet(path: string): unknown;
  valuesSet(path: string, value: unknown): void;
  valuesDelete(path: string): void;
  configValuesGet(path: string): unknown;
  configValuesSet(path: string, value: unknown): void;
  /** VALUES_PATH / CONFIG_VALUES_PATH as the next run would get them. */
  values(): Record<string, unknown>;
  configValues(): Record<string, unknown>;
  kubernetesResource(kind: string, namespace: string, name: string): KubeObject | undefined;
  kubernetesGlobalResource(kind: string, name: string): KubeObject | undefined;
  snapshots(): Snapshots;
  metrics(): StoredMetric[];
  /** Log records of every run so far, plus the harness's own (jq errors, …). */
  logs(): HookLogRecord[];
  readonly lastResult: HookRunResult | undefined;
}

function isDefinition(hook: HookTestOptions["hook"]): hook is AnyHook {
  return typeof (hook as AnyHook).handler === "function";
}

export async function createHookTest(options: HookTestOptions): Promise<HookTest> {
  const jq: JqEngine = await loadJq();
  const logs: HookLogRecord[] = [];
  const harnessLog: HarnessLog = (level, msg, fields) =>
    logs.push({ ...fields, level, msg, source: "harness" });

  const { runner, wire, batch } = await resolveHook(options.hook, options.batch ?? false);
  const config = normalizeHookConfig(wire, { batch });
  const cluster = new ClusterState(new KindRegistry(options.kinds));
  const engine = new BindingContextEngine(config, cluster, jq, harnessLog);
  const values = createValues(options, harnessLog);
  const metrics = new MetricsStore();
  let lastResult: HookRunResult | undefined;

  const f: HookTest = {
    config,
    cluster,
    engine,
    runner,
    bindingContexts: [],
    kubeStateSet(state) {
      f.bindingContexts = engine.kubeStateSet(state);
      return f.bindingContexts;
    },
    kubeStateSequence(states) {
      f.bindingContexts = engine.kubeStateSequence(states);
      return f.bindingContexts;
    },
    observeCluster: () => engine.render(engine.observe()),
    registerCRD: (group, version, kind, namespaced) =>
      cluster.kinds.registerCRD(group, version, kind, namespaced),
    generateOnStartupContext: () => engine.onStartup(),
    generateBeforeHelmContext: () => engine.lifecycle("beforeHelm"),
    generateAfterHelmContext: () => engine.lifecycle("afterHelm"),
    generateBeforeDeleteHelmContext: () => engine.lifecycle("beforeDeleteHelm"),
    generateAfterDeleteHelmContext: () => engine.lifecycle("afterDeleteHelm"),
    generateScheduleContext: name => engine.schedule(name),

    async runHook(contexts) {
      const bindingContexts = contexts ?? f.bindingContexts;
      const invalid = invalidValues(values, bindingContexts);
      if (invalid) return (lastResult = invalid);
      const raw = await runner.run({
        bindingContexts,
        values: values.values(),
        configValues: values.configValues(),
      });
      lastResult = applyHookRun(
        {
          values,
          cluster,
          metrics,
          jq,
          hookName: runner.name,
          configValuesPatches: options.configValuesPatches,
        },
        raw,
        bindingContexts,
      );
      logs.push(...lastResult.logs);
      return lastResult;
    },

    valuesGet: path => getAt(values.values(), dottedPath(path)),
    valuesSet: (path, value) => values.setValue(dottedPath(path), value),
    valuesDelete: path => values.deleteValue(dottedPath(path)),
    configValuesGet: path => getAt(values.configValues(), dottedPath(path)),
    configValuesSet: (path, value) => values.setConfigValue(dottedPath(path), value),
    values: () => values.values(),
    configValues: () => values.configValues(),
    kubernetesResource: (kind, namespace, name) => cluster.get(kind, namespace, name),
    kubernetesGlobalResource: (kind, name) => cluster.get(kind, undefined, name),
    snapshots: () => engine.snapshots(),
    metrics: () => metrics.list(),
    logs: () => [...logs],
    get lastResult() {
      return lastResult;
    },
  };
  return f;
}

/** The hook's runner and its configuration as the shell-operator would read it. */
async function resolveHook(
  hook: HookTestOptions["hook"],
  batch: boolean,
): Promise<{ runner: HookRunner; wire: ModuleHookConfig; batch: boolean }> {
  if (isDefinition(hook)) return { runner: inProcessRunner(hook), wire: hook.config(), batch };
  if (hook.config) return { runner: executableRunner(hook), wire: hook.config, batch };
  const read = await readHookConfig(hook);
  return {
    runner: executableRunner({ ...hook, name: hook.name ?? read.name }),
    wire: read.config,
    batch: batch || read.batch,
  };
}

function createValues(options: HookTestOptions, harnessLog: HarnessLog): ValuesStore {
  const moduleKey = options.moduleKey ?? MODULE_VALUES_KEY;
  const schemas =
    options.schemas ??
    (options.openapiDir === undefined
      ? undefined
      : loadModuleSchemas(options.openapiDir, { valuesKey: moduleKey }));
  return new ValuesStore({
    moduleKey,
    moduleName: MODULE_NAME,
    schemas,
    globalValues: options.globalValues,
    globalConfigValues: options.globalConfigValues,
    staticValues: options.values,
    configValues: options.configValues,
    log: harnessLog,
  });
}

/** A failed result without a run when the values break their schema before it. */
function invalidValues(
  values: ValuesStore,
  bindingContexts: BindingContext[],
): HookRunResult | undefined {
  const problems = values.validate();
  if (problems.length === 0) return undefined;
  return {
    ...emptyResult(bindingContexts),
    error: `values are invalid before the run: ${problems.join("; ")}`,
  };
}

function emptyResult(bindingContexts: BindingContext[]): HookRunResult {
  return {
    ok: false,
    stderr: "",
    logs: [],
    bindingContexts,
    valuesPatch: [],
    configValuesPatch: [],
    kubernetesOperations: [],
    metrics: [],
    operationErrors: [],
    valuesChanged: false,
  };
}

export { ClusterState } from "./cluster";
export type { ClusterInput } from "./cluster";
export { BindingContextEngine } from "./engine";
export type { HookConfig } from "./hook-config";
export type { KindInfo } from "./kinds";
export type { StoredMetric } from "./metrics";
export type { HookLogRecord, HookRunner, HookRunResult } from "./run-types";
export type { ExecutableHook } from "./runner-exec";
