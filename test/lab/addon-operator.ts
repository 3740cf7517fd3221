// The built module (dist/module) under the real addon-operator (github.com/flant/addon-operator at
// the release pinned in test/lab/go/addon-operator, docs/adr/0065) against the lab API server.
//
//   const op = await startAddonOperator({ cp, dir, globalValues });   // module dir laid out
//   await op.waitForLine(/ModuleRun success/);                        // its JSON log lines
//   op.hookRuns();                                                    // "Module hook start" count
//   await op.stop();                                                  // SIGTERM, SIGKILL after 10 s
//
// Layout, as Deckhouse gives it to its embedded addon-operator:
//   <dir>/modules/038-registry/      a copy of dist/module (weight 38 from module.yaml)
//   <dir>/modules/values.yaml        static values: `global` (the lab's) and `registryEnabled: true`
//   <dir>/global-hooks/openapi/      the lab's global schema (config-values.yaml, values.yaml):
//                                    the `global` keys the module reads, nothing else
//   <dir>/tmp/                       the operator's temp dir (hook input/output files)
// Config values come from addon-operator's ConfigMap backend (ConfigMap d8-system/addon-operator,
// created empty here: v1.23.0 panics when it is absent), not from ModuleConfig objects as in
// Deckhouse; the module's own settings are not used by the lab's scenarios. The registry
// settings reach the module as in Deckhouse: its hooks watch ModuleConfig/deckhouse.
import { spawn } from "node:child_process";
import { cpSync, mkdirSync, openSync, readFileSync, writeFileSync, closeSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse, stringify } from "yaml";
import { freePort } from "../e2e-lab/network";
import { spawnProcess, type LabProcess } from "../e2e-lab/process";
import type { ControlPlane } from "./control-plane";
import { labTool } from "./tools";

export const BUILT_MODULE_DIR = resolve(import.meta.dirname, "../../dist/module");
const EXAMPLE_VALUES = resolve(import.meta.dirname, "../../examples/values.yaml");
export const NAMESPACE = "d8-system";

/** The global values of examples/values.yaml (what `registry-module simulate` uses too). */
export function exampleGlobalValues(): Record<string, unknown> {
  const doc = parse(readFileSync(EXAMPLE_VALUES, "utf8")) as { global: Record<string, unknown> };
  return doc.global;
}

const free = { type: "object", additionalProperties: true };

/**
 * The lab's global schema: the keys of `global` the module reads, each free-form (addon-operator
 * closes every object that does not say `additionalProperties`, so each one says it).
 */
export function labGlobalSchemas(): { configValues: object; values: object } {
  return {
    configValues: { type: "object", additionalProperties: false, properties: {} },
    values: {
      "x-extend": { schema: "config-values.yaml" },
      type: "object",
      additionalProperties: false,
      properties: {
        clusterIsBootstrapped: { type: "boolean" },
        clusterConfiguration: free,
        discovery: free,
        modules: free,
        modulesImages: free,
        enabledModules: { type: "array", items: { type: "string" } },
      },
    },
  };
}

function moduleWeight(moduleDir: string): number {
  const def = parse(readFileSync(join(moduleDir, "module.yaml"), "utf8")) as { weight?: number };
  return def.weight ?? 900;
}

/** Writes the modules dir and global hooks dir; returns their paths. */
export function layoutModules(
  dir: string,
  globalValues: Record<string, unknown>,
  moduleDir = BUILT_MODULE_DIR,
): { modulesDir: string; globalHooksDir: string; tmpDir: string } {
  const modulesDir = join(dir, "modules");
  const globalHooksDir = join(dir, "global-hooks");
  const tmpDir = join(dir, "tmp");
  const weight = String(moduleWeight(moduleDir)).padStart(3, "0");
  mkdirSync(modulesDir, { recursive: true });
  // a copy, not a symlink: addon-operator does not follow symlinked directories
  cpSync(moduleDir, join(modulesDir, `${weight}-registry`), { recursive: true });
  writeFileSync(
    join(modulesDir, "values.yaml"),
    stringify({ global: globalValues, registryEnabled: true }),
  );
  mkdirSync(join(globalHooksDir, "openapi"), { recursive: true });
  const schemas = labGlobalSchemas();
  writeFileSync(
    join(globalHooksDir, "openapi", "config-values.yaml"),
    stringify(schemas.configValues),
  );
  writeFileSync(join(globalHooksDir, "openapi", "values.yaml"), stringify(schemas.values));
  mkdirSync(tmpDir, { recursive: true });
  return { modulesDir, globalHooksDir, tmpDir };
}

/**
 * What the cluster holds before the operator starts, as Deckhouse would have it: the operator's
 * (empty) config ConfigMap and the module's `Module` object (critical, embedded: the checker
 * requires the images of such modules).
 */
export function operatorPrerequisites(): object[] {
  return [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "addon-operator", namespace: NAMESPACE },
    },
    {
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "Module",
      metadata: { name: "registry" },
      properties: { source: "Embedded", critical: true, weight: 38, namespace: NAMESPACE },
    },
  ];
}

export interface AddonOperatorOptions {
  cp: Pick<ControlPlane, "kubeconfigPath" | "apply">;
  /** Work dir: module layout, temp files, log (addon-operator.log when detached). */
  dir: string;
  globalValues: Record<string, unknown>;
  moduleDir?: string;
  /** Outlives this process (npm run lab -- up); logs go to <dir>/addon-operator.log. */
  detached?: boolean;
  /** A new layout is written unless false (a restart reuses the first one). */
  layout?: boolean;
}

export interface AddonOperator {
  readonly pid: number;
  readonly dir: string;
  /** Resolves with the first log line matching (already seen or to come); undefined if detached. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Module hook runs so far (addon-operator's "Module hook start" lines). */
  hookRuns(): number;
  /** Log lines at level error, for failure messages. */
  errors(): string[];
  /** SIGTERM to its process group, SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL, no shutdown: the operator dies mid-work. */
  kill(): Promise<void>;
}

function operatorArgs(
  dirs: ReturnType<typeof layoutModules>,
  dir: string,
  kubeconfig: string,
  port: number,
): string[] {
  return [
    "start",
    `--modules-dir=${dirs.modulesDir}`,
    `--global-hooks-dir=${dirs.globalHooksDir}`,
    `--tmp-dir=${dirs.tmpDir}`,
    `--namespace=${NAMESPACE}`,
    `--kube-config=${kubeconfig}`,
    "--prometheus-listen-address=127.0.0.1",
    `--prometheus-listen-port=${port}`,
    `--debug-unix-socket=${join(dir, "debug.socket")}`,
    "--log-type=json",
    // defaults are 5 QPS: a module run writes a few dozen objects
    "--kube-client-qps=50",
    "--kube-client-burst=100",
    "--object-patcher-kube-client-qps=50",
    "--object-patcher-kube-client-burst=100",
  ];
}

/** Starts addon-operator with the built module; the cluster prerequisites are applied first. */
export async function startAddonOperator(opts: AddonOperatorOptions): Promise<AddonOperator> {
  const binary = labTool("addon-operator");
  const moduleDir = opts.moduleDir ?? BUILT_MODULE_DIR;
  const hooks = join(moduleDir, "hooks", "registry-hooks");
  try {
    readFileSync(join(moduleDir, "module.yaml"));
    closeSync(openSync(hooks, "r"));
  } catch {
    throw new Error(`${hooks} is missing: run \`npm run build\` (the lab runs the BUILT module)`);
  }
  mkdirSync(opts.dir, { recursive: true });
  const dirs =
    opts.layout === false
      ? {
          modulesDir: join(opts.dir, "modules"),
          globalHooksDir: join(opts.dir, "global-hooks"),
          tmpDir: join(opts.dir, "tmp"),
        }
      : layoutModules(opts.dir, opts.globalValues, moduleDir);
  await opts.cp.apply(operatorPrerequisites(), { fieldManager: "registry-lab-deckhouse" });
  const args = operatorArgs(dirs, opts.dir, opts.cp.kubeconfigPath, await freePort());
  // helm3lib (the operator's Helm) reads the standard KUBECONFIG, not --kube-config
  const env = { KUBECONFIG: opts.cp.kubeconfigPath };
  if (opts.detached) {
    const log = openSync(join(opts.dir, "addon-operator.log"), "a");
    const child = spawn(binary, args, {
      detached: true,
      stdio: ["ignore", log, log],
      env: { ...process.env, ...env },
    });
    closeSync(log);
    child.unref();
    if (child.pid === undefined) throw new Error(`addon-operator did not start (${binary})`);
    const pid = child.pid;
    const gone = () => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    return {
      pid,
      dir: opts.dir,
      waitForLine: () => Promise.reject(new Error("a detached operator logs to its file only")),
      hookRuns: () => 0,
      errors: () => [],
      stop: async () => gone(),
      kill: async () => gone(),
    };
  }
  const p: LabProcess = spawnProcess("addon-operator", binary, args, { env });
  return {
    pid: p.child.pid ?? 0,
    dir: opts.dir,
    waitForLine: (re, timeoutMs) => p.waitForLine(re, timeoutMs),
    hookRuns: () => p.lines.filter(l => l.includes('"msg":"Module hook start"')).length,
    errors: () => p.lines.filter(l => l.includes('"level":"error"')),
    stop: () => p.stop(10_000),
    kill: async () => {
      p.kill("SIGKILL");
      await p.exited;
    },
  };
}
