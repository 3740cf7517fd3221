// The process side of the hook contract: which argument vectors the hooks executable answers and
// how a run maps files to `executeHook`. Two protocols share one executable:
//   batch (module-sdk, what addon-operator probes first): `hook list | config | run N | ready | check`
//   per-hook (shell-operator): `--config` and a bare run, selected by REGISTRY_HOOK=<name>
//     (set by the per-hook launchers in dist/module/shell-hooks/).
// Any other argument vector fails fast with no stdout, so addon-operator's batch probing of an
// extensionless file never mistakes us for something we are not.
import { isAscii } from "node:buffer";
import { readFileSync, writeFileSync } from "node:fs";
import type { AnyHook } from "./define-hook";
import { executeHook, HookRunError } from "./define-hook";
import type { LogRecord } from "./logger";
import { redactText } from "./redact";
import type { BindingContext, KubernetesBindingConfig, ModuleHookConfig } from "./types";

export interface ProcessIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const HOOK_NAME_ENV = "REGISTRY_HOOK";

/** What one executable answers for: its hooks and, in the batch protocol, the settings check. */
interface HookExecutable {
  hooks: readonly AnyHook[];
  settingsCheck?: (settings: unknown) => Promise<string[]>;
}

/** Exit codes: 0 success, 1 hook failure, 2 usage (unknown argument vector). */
export async function runContract(
  executable: HookExecutable,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: ProcessIO,
): Promise<number> {
  try {
    const single = env[HOOK_NAME_ENV];
    if (single !== undefined) return await runPerHook(executable.hooks, argv, env, io);
    if (argv[0] !== "hook")
      return usage(io, `unsupported arguments: ${argv.join(" ") || "(none)"}`);
    return await runBatch(executable, argv, env, io);
  } catch (err) {
    io.stderr(oneLine(err) + "\n");
    return 1;
  }
}

/** `--config` or a bare run of the hook named by REGISTRY_HOOK (set: runContract checked). */
async function runPerHook(
  hooks: readonly AnyHook[],
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: ProcessIO,
): Promise<number> {
  const single = env[HOOK_NAME_ENV] as string;
  const hook = hooks.find(h => h.name === single);
  if (!hook) return usage(io, `${HOOK_NAME_ENV}=${single}: no such hook`);
  if (argv.length === 1 && argv[0] === "--config") {
    io.stdout(JSON.stringify(hook.config()) + "\n");
    return 0;
  }
  if (argv.length === 0) return await runFromFiles(hook, env, io);
  return usage(io, `unsupported arguments for hook ${single}: ${argv.join(" ")}`);
}

/** `hook list | config | run N | ready | check` */
async function runBatch(
  { hooks, settingsCheck }: HookExecutable,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: ProcessIO,
): Promise<number> {
  const [, command, index, ...rest] = argv;
  const bare = argv.length === 2;
  if (command === "list" && bare) {
    const lines = hooks.map((h, i) => `${i} - ${h.name}`);
    io.stdout(`Found ${hooks.length} items:\n${lines.join("\n")}\n`);
    return 0;
  }
  if (command === "config" && bare) {
    io.stdout(JSON.stringify(batchConfig(hooks)) + "\n");
    return 0;
  }
  if (command === "run" && index !== undefined && rest.length === 0) {
    const hook = /^\d+$/.test(index) ? hooks[Number(index)] : undefined;
    if (!hook) return usage(io, `hook run ${index}: no hook with that index`);
    return await runFromFiles(hook, env, io);
  }
  // The module has no readiness probe of its own: being loaded is being ready.
  if (command === "ready" && bare) return 0;
  if (command === "check" && bare && settingsCheck) {
    return await checkSettings(env, io, settingsCheck);
  }
  return usage(io, `unsupported arguments: ${argv.join(" ")}`);
}

function usage(io: ProcessIO, message: string): number {
  io.stderr(message + "\n");
  return 2;
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return redactText(text.replace(/\s*\n\s*/g, "; "));
}

function requiredEnv(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new HookRunError(`${name} is not set`);
  return value;
}

/**
 * The file's text. addon-operator writes JSON, nearly always pure ASCII: that decodes as Latin-1,
 * the same characters, without the UTF-8 decoder's cost (≈ 0.6 ms for the 1 MB binding context of
 * 5000 Nodes, docs/adr/0145); anything else decodes as UTF-8, as before.
 */
function readText(path: string): string {
  const bytes = readFileSync(path);
  return bytes.toString(isAscii(bytes) ? "latin1" : "utf8");
}

function readJson(env: NodeJS.ProcessEnv, name: string): unknown {
  const path = requiredEnv(env, name);
  const text = readText(path);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HookRunError(`${name}: malformed JSON: ${(err as Error).message}`);
  }
}

function readObject(env: NodeJS.ProcessEnv, name: string): Record<string, unknown> {
  const value = readJson(env, name);
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HookRunError(`${name}: must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

async function runFromFiles(hook: AnyHook, env: NodeJS.ProcessEnv, io: ProcessIO) {
  const bindingContexts = readJson(env, "BINDING_CONTEXT_PATH");
  if (!Array.isArray(bindingContexts)) {
    throw new HookRunError("BINDING_CONTEXT_PATH: must hold a JSON array");
  }
  const output = await executeHook(hook, {
    bindingContexts: bindingContexts as BindingContext[],
    values: readObject(env, "VALUES_PATH"),
    configValues: readObject(env, "CONFIG_VALUES_PATH"),
    log: (record: LogRecord) => io.stdout(JSON.stringify(record) + "\n"),
  });
  // Outputs are written only after the handler succeeded: a failed run leaves every file as the
  // operator created it, and the operator would not read them anyway.
  const jsonLines = (items: unknown[]) => items.map(i => JSON.stringify(i) + "\n").join("");
  writeFileSync(
    requiredEnv(env, "VALUES_JSON_PATCH_PATH"),
    output.valuesPatch.length ? JSON.stringify(output.valuesPatch) + "\n" : "",
  );
  writeFileSync(requiredEnv(env, "KUBERNETES_PATCH_PATH"), jsonLines(output.kubernetesOperations));
  writeFileSync(requiredEnv(env, "METRICS_PATH"), jsonLines(output.metrics));
  return 0;
}

/**
 * module-sdk's batch config. addon-operator puts every kubernetes/schedule binding of a batch
 * hook into group "main" and reads `executeHookOnEvent` as a boolean there.
 */
export function batchConfig(hooks: readonly AnyHook[]): unknown {
  return {
    version: "v1",
    hooks: hooks.map(hook => batchHookConfig(hook.name, hook.config())),
    has_settings_check: true,
  };
}

function batchHookConfig(name: string, config: ModuleHookConfig): Record<string, unknown> {
  const { kubernetes, schedule, settings, ...lifecycle } = config;
  const out: Record<string, unknown> = { ...lifecycle, metadata: { name, path: `hooks/${name}` } };
  if (kubernetes) out.kubernetes = kubernetes.map(batchKubernetesBinding);
  if (schedule) out.schedule = schedule.map(s => ({ name: s.name, crontab: s.crontab }));
  if (settings) {
    out.settings = {
      executionMinInterval: goDurationToNanoseconds(settings.executionMinInterval),
      executionBurst: settings.executionBurst,
    };
  }
  return out;
}

function batchKubernetesBinding(binding: KubernetesBindingConfig): Record<string, unknown> {
  const { executeHookOnEvent, group: _group, ...rest } = binding;
  return executeHookOnEvent === undefined
    ? rest
    : { ...rest, executeHookOnEvent: executeHookOnEvent.length > 0 };
}

const DURATION_UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

export function goDurationToNanoseconds(duration: string): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map(p => p[0]).join("") !== duration) {
    throw new HookRunError(`settings.executionMinInterval: "${duration}" is not a Go duration`);
  }
  return parts.reduce((sum, p) => sum + Number(p[1]) * (DURATION_UNIT_NS[p[2] as string] ?? 0), 0);
}

async function checkSettings(
  env: NodeJS.ProcessEnv,
  io: ProcessIO,
  check: (settings: unknown) => Promise<string[]>,
): Promise<number> {
  const problems = await check(readJson(env, "SETTINGS_PATH"));
  if (problems.length === 0) return 0;
  io.stderr(JSON.stringify({ valid: false, message: problems.join("; "), warnings: [] }) + "\n");
  return 1;
}
