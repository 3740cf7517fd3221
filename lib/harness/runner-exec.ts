// Executable runner: runs a built hook the way addon-operator does. A fresh temp dir per run holds
// BINDING_CONTEXT_PATH, VALUES_PATH, CONFIG_VALUES_PATH and the pre-created empty output files;
// the environment is minimal (no inherited PATH unless asked). A non-zero exit is a failure whose
// message is the stderr text, and then no output file is read.
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { ModuleHookConfig } from "../runtime/types";
import { MODULE_NAME } from "../runtime/types";
import {
  batchHookEntries,
  fromBatchHookEntry,
  HookConfigError,
  parseHookConfigText,
} from "./hook-config";
import { LogLineCollector } from "./log-lines";
import type { HookLogRecord, HookRunInputs, HookRunner, RawHookRun } from "./run-types";

export interface ExecutableHook {
  /** Path and fixed argv: `[bin, "hook", "run", "0"]` (batch) or `[launcher]` (per-hook). */
  command: readonly string[];
  /** Hook name for metrics group and logs; default: batch config metadata.name or the file name. */
  name?: string;
  /** Extra environment variables (on top of the minimal operator-like set). */
  env?: Record<string, string>;
  /** Pass the harness's own PATH to the hook (default false: no PATH at all). */
  inheritPath?: boolean;
  /** Working directory (default: the harness's cwd, like the operator's). */
  cwd?: string;
  /** Kill the hook after this long (default 60 s); a timeout is a failure. */
  timeoutMs?: number;
  /** Keep the temp dir of each run (its path is added to the run's logs). */
  keepTempFiles?: boolean;
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  logs: HookLogRecord[];
  timedOut: boolean;
}

/** The environment addon-operator's Deckhouse test harness gives a hook. */
export function baseEnv(hook: ExecutableHook): Record<string, string> {
  const env: Record<string, string> = {
    D8_IS_TESTS_ENVIRONMENT: "yes",
    ADDON_OPERATOR_NAMESPACE: "tests",
    DECKHOUSE_POD: "tests",
    MODULE_NAME,
  };
  if (hook.inheritPath && process.env.PATH) env.PATH = process.env.PATH;
  return { ...env, ...hook.env };
}

export function runProcess(
  argv: readonly string[],
  env: Record<string, string>,
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new Error("empty command"));
  return new Promise(resolve => {
    const logs = new LogLineCollector();
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    const child = spawn(file, args, {
      env,
      cwd: opts.cwd ?? process.cwd(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 60_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      logs.push("stdout", chunk);
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      logs.push("stderr", chunk);
    });
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = "") => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: stderr + extra, logs: logs.end(), timedOut });
    };
    child.on("error", err => finish(127, null, `${err.message}\n`));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

function failureMessage(res: ProcessResult): string {
  if (res.timedOut) return `cmd run: timed out${res.stderr.trim() ? `: ${res.stderr.trim()}` : ""}`;
  if (res.stderr.trim() !== "") return res.stderr.replace(/\n$/, "");
  return res.signal ? `cmd run: signal: ${res.signal}` : `cmd run: exit status ${res.code}`;
}

/** `[bin, "hook", "run", N]` → N; undefined for a per-hook command. */
export function batchIndex(command: readonly string[]): number | undefined {
  const n = command.length;
  if (
    n >= 4 &&
    command[n - 3] === "hook" &&
    command[n - 2] === "run" &&
    /^\d+$/.test(command[n - 1] ?? "")
  ) {
    return Number(command[n - 1]);
  }
  return undefined;
}

export interface ReadHookConfigResult {
  config: ModuleHookConfig;
  /** True for a batch hook (`hook config`): the caller applies the batch conversion. */
  batch: boolean;
  /** Batch config metadata.name, when given. */
  name?: string;
}

/**
 * Reads the hook's config the way the operator does: `<command> --config` for a per-hook
 * executable, `<bin> hook config` (entry N) for a batch command `[bin, "hook", "run", N]`.
 */
export async function readHookConfig(hook: ExecutableHook): Promise<ReadHookConfigResult> {
  const index = batchIndex(hook.command);
  const argv =
    index === undefined
      ? [...hook.command, "--config"]
      : [...hook.command.slice(0, -3), "hook", "config"];
  const res = await runProcess(argv, baseEnv(hook), hook);
  if (res.code !== 0 || res.timedOut) {
    throw new HookConfigError(`${argv.join(" ")}: ${failureMessage(res)}`);
  }
  const doc = parseHookConfigText(res.stdout);
  if (index === undefined) return { config: doc as ModuleHookConfig, batch: false };
  const entry = batchHookEntries(doc)[index];
  if (entry === undefined) throw new HookConfigError(`hook config has no entry ${index}`);
  const meta = (entry as { metadata?: { name?: unknown } }).metadata;
  return {
    config: fromBatchHookEntry(entry),
    batch: true,
    ...(typeof meta?.name === "string" && { name: meta.name }),
  };
}

const OUTPUTS = {
  VALUES_JSON_PATCH_PATH: "values.json-patch",
  CONFIG_VALUES_JSON_PATCH_PATH: "config-values.json-patch",
  KUBERNETES_PATCH_PATH: "kubernetes-patch",
  METRICS_PATH: "metrics.json",
} as const;

export function executableRunner(hook: ExecutableHook): HookRunner {
  const name = hook.name ?? basename(hook.command[0] ?? "hook");
  return {
    name,
    async run(inputs: HookRunInputs): Promise<RawHookRun> {
      const dir = await mkdtemp(join(tmpdir(), "registry-hook-"));
      try {
        const paths: Record<string, string> = {
          BINDING_CONTEXT_PATH: join(dir, "binding-context.json"),
          VALUES_PATH: join(dir, "values.json"),
          CONFIG_VALUES_PATH: join(dir, "config-values.json"),
        };
        await writeFile(
          paths.BINDING_CONTEXT_PATH as string,
          JSON.stringify(inputs.bindingContexts, null, 2),
        );
        await writeFile(paths.VALUES_PATH as string, JSON.stringify(inputs.values));
        await writeFile(paths.CONFIG_VALUES_PATH as string, JSON.stringify(inputs.configValues));
        for (const [env, file] of Object.entries(OUTPUTS)) {
          paths[env] = join(dir, file);
          await writeFile(paths[env] as string, "");
        }
        const res = await runProcess(hook.command, { ...baseEnv(hook), ...paths }, hook);
        if (hook.keepTempFiles)
          res.logs.push({ level: "debug", msg: "hook files kept", dir, source: "harness" });
        const empty = {
          valuesJsonPatch: "",
          configValuesJsonPatch: "",
          kubernetesPatch: "",
          metrics: "",
        };
        if (res.code !== 0 || res.timedOut) {
          return {
            ok: false,
            error: failureMessage(res),
            stderr: res.stderr,
            logs: res.logs,
            files: empty,
          };
        }
        const read = (env: keyof typeof OUTPUTS) => readFile(paths[env] as string, "utf8");
        return {
          ok: true,
          stderr: res.stderr,
          logs: res.logs,
          files: {
            valuesJsonPatch: await read("VALUES_JSON_PATCH_PATH"),
            configValuesJsonPatch: await read("CONFIG_VALUES_JSON_PATCH_PATH"),
            kubernetesPatch: await read("KUBERNETES_PATCH_PATH"),
            metrics: await read("METRICS_PATH"),
          },
        };
      } finally {
        if (!hook.keepTempFiles) await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
