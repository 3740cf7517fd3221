// `registry-module render`: what the module computes for a cluster, like `helm template` for a
// chart. One module run as addon-operator would do it: the `enabled` script, then for each hook
// Synchronization and beforeHelm over the given objects. Until the module has templates, the
// output is the module's computed values.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hooks } from "../hooks/index";
import { createHookTest } from "../lib/harness/index";
import { parseObjects } from "../lib/harness/cluster";
import { parseYaml } from "../lib/openapi/yaml";
import type { KubeObject } from "../lib/runtime/types";

export class CliError extends Error {
  override name = "CliError";
}

export interface RenderInput {
  clusterFile: string;
  valuesFile?: string;
  moduleDir: string;
}

export interface RenderResult {
  enabled: boolean;
  reason?: string;
  values?: Record<string, unknown>;
}

function readGlobalValues(file: string | undefined): Record<string, unknown> {
  if (file === undefined) return {};
  const doc = parseYaml(readFileSync(file, "utf8")) as unknown;
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new CliError(`--values ${file}: must be a mapping with a "global" key`);
  }
  const { global, ...rest } = doc as Record<string, unknown>;
  if (Object.keys(rest).length > 0) {
    throw new CliError(
      `--values ${file}: unexpected keys ${Object.keys(rest).join(", ")}; only "global" is read`,
    );
  }
  if (global !== undefined && (global === null || typeof global !== "object")) {
    throw new CliError(`--values ${file}: "global" must be a mapping`);
  }
  return (global ?? {}) as Record<string, unknown>;
}

/** Runs the module's real `enabled` script (bash + jq), as addon-operator does at discovery. */
function runEnabledScript(moduleDir: string, globalValues: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), "registry-enabled-"));
  try {
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      VALUES_PATH: join(dir, "values.json"),
      CONFIG_VALUES_PATH: join(dir, "config-values.json"),
      MODULE_ENABLED_RESULT: join(dir, "result"),
      MODULE_ENABLED_REASON: join(dir, "reason"),
    };
    writeFileSync(env.VALUES_PATH, JSON.stringify({ global: globalValues, registry: {} }));
    writeFileSync(env.CONFIG_VALUES_PATH, JSON.stringify({ global: {}, registry: {} }));
    writeFileSync(env.MODULE_ENABLED_RESULT, "");
    writeFileSync(env.MODULE_ENABLED_REASON, "");
    const r = spawnSync(join(moduleDir, "enabled"), [], { env, encoding: "utf8" });
    if (r.error) throw new CliError(`cannot run the enabled script: ${r.error.message}`);
    if (r.status !== 0) {
      const hint = /jq: (command )?not found/.test(r.stderr)
        ? " (install jq: apt-get install -y jq)"
        : "";
      throw new CliError(`the enabled script failed: ${r.stderr.trim()}${hint}`);
    }
    const result = readFileSync(env.MODULE_ENABLED_RESULT, "utf8").trim();
    return { enabled: result === "true", reason: readFileSync(env.MODULE_ENABLED_REASON, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function moduleSettings(objects: KubeObject[]): Record<string, unknown> {
  const mc = objects.find(o => o.kind === "ModuleConfig" && o.metadata.name === "registry");
  const settings = (mc?.spec as { settings?: unknown } | undefined)?.settings;
  return settings && typeof settings === "object" ? (settings as Record<string, unknown>) : {};
}

export async function render(input: RenderInput): Promise<RenderResult> {
  const objects = parseObjects(readFileSync(input.clusterFile, "utf8"));
  const globalValues = readGlobalValues(input.valuesFile);
  const enabled = runEnabledScript(input.moduleDir, globalValues);
  if (!enabled.enabled) return { enabled: false, reason: enabled.reason };

  let moduleValues: Record<string, unknown> = {};
  for (const hook of hooks) {
    const f = await createHookTest({
      hook,
      openapiDir: join(input.moduleDir, "openapi"),
      globalValues,
      configValues: moduleSettings(objects),
      values: moduleValues,
    });
    for (const run of [f.kubeStateSet(objects), f.generateBeforeHelmContext()]) {
      if (run.length === 0) continue;
      const result = await f.runHook(run);
      if (!result.ok)
        throw new CliError(`hook ${hook.name} failed: ${result.error ?? "unknown error"}`);
    }
    moduleValues = f.values().registry as Record<string, unknown>;
  }
  return { enabled: true, values: { registry: moduleValues } };
}
