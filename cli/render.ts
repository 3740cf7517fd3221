// `registry-module render`: what the module computes for a cluster, like `helm template` for a
// chart. One module run as addon-operator would do it: the `enabled` script, then for each hook
// Synchronization and beforeHelm over the given objects. Until the module has templates, the
// output is the module's computed values.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hooks } from "../hooks/index";
import { createHookTest } from "../lib/harness/index";
import { parseObjects } from "../lib/harness/cluster";
import { runEnabledScript } from "../lib/harness/enabled";
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

function moduleSettings(objects: KubeObject[]): Record<string, unknown> {
  const mc = objects.find(o => o.kind === "ModuleConfig" && o.metadata.name === "registry");
  const settings = (mc?.spec as { settings?: unknown } | undefined)?.settings;
  return settings && typeof settings === "object" ? (settings as Record<string, unknown>) : {};
}

export async function render(input: RenderInput): Promise<RenderResult> {
  const objects = parseObjects(readFileSync(input.clusterFile, "utf8"));
  const globalValues = readGlobalValues(input.valuesFile);
  const enabled = runEnabledScript(join(input.moduleDir, "enabled"), {
    global: globalValues,
    registry: {},
  });
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
