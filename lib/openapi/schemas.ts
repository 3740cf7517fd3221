// The module's OpenAPI schemas (openapi/config-values.yaml, openapi/values.yaml) with the
// Deckhouse extensions of addon-operator, validated by Ajv. Used by the harness and the CLI, not
// by hooks at run time: files are read when the schemas are loaded, Ajv compiles on first use.

import type { ValidateFunction } from "ajv";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { compileSchema, createAjv } from "./ajv";
import {
  addRequiredForHelmInPlace,
  applyExtend,
  closeObjectsInPlace,
  extendTarget,
  issuesFromAjvErrors,
  withDefaults,
  type JsonSchema,
} from "./deckhouse-schema";
import { isPlainObject } from "../validation/reader";
import type { ModuleSchemas, ValidationIssue } from "./types";
import { loadYamlFile } from "./yaml";

export { loadYamlFile } from "./yaml";
export type { JsonSchema } from "./deckhouse-schema";

export const CONFIG_VALUES_FILE = "config-values.yaml";
export const VALUES_FILE = "values.yaml";

export interface LoadModuleSchemasOptions {
  /** Values key of the module; prefixes issue paths (`/registry/...`). Default `registry`. */
  valuesKey?: string;
}

/** ModuleSchemas plus the effective schemas, `x-*` keys kept (tests read `x-examples` from them). */
export interface LoadedModuleSchemas extends ModuleSchemas {
  readonly openapiDir: string;
  /** config-values.yaml after the additionalProperties transform; undefined if the file is absent. */
  readonly configSchema: JsonSchema | undefined;
  /** values.yaml after `x-extend` and the additionalProperties transform; undefined if absent. */
  readonly valuesSchema: JsonSchema | undefined;
  /** valuesSchema with `x-required-for-helm` merged into `required`. */
  readonly helmValuesSchema: JsonSchema | undefined;
}

function loadSchemaFile(path: string): JsonSchema {
  const doc = loadYamlFile(path);
  if (!isPlainObject(doc)) throw new Error(`${path}: an OpenAPI schema must be a YAML mapping`);
  return doc;
}

/** Reads a schema file, resolves its `x-extend` (relative to the file), closes its objects. */
function prepareSchema(path: string, parents: Map<string, JsonSchema>, depth = 0): JsonSchema {
  if (depth > 8) throw new Error(`${path}: x-extend chain is too deep`);
  let schema = loadSchemaFile(path);
  const target = extendTarget(schema);
  if (target !== undefined) {
    const parentPath = resolve(dirname(path), target);
    let parent = parents.get(parentPath);
    if (parent === undefined) {
      if (!existsSync(parentPath)) {
        throw new Error(`${path}: x-extend refers to ${target}, which does not exist`);
      }
      parent = prepareSchema(parentPath, parents, depth + 1);
      parents.set(parentPath, parent);
    }
    schema = applyExtend(schema, parent);
  }
  return closeObjectsInPlace(schema);
}

const loaded = new Map<string, LoadedModuleSchemas>();

/**
 * Loads `<openapiDir>/config-values.yaml` and `<openapiDir>/values.yaml` (either may be absent)
 * once per directory and returns validators and defaulting over the module section of values
 * (no `registry:` wrapper).
 */
export function loadModuleSchemas(
  openapiDir: string,
  options: LoadModuleSchemasOptions = {},
): LoadedModuleSchemas {
  const dir = resolve(openapiDir);
  const valuesKey = options.valuesKey ?? "registry";
  const cacheKey = `${dir}\u0000${valuesKey}`;
  const cached = loaded.get(cacheKey);
  if (cached !== undefined) return cached;

  const configPath = join(dir, CONFIG_VALUES_FILE);
  const valuesPath = join(dir, VALUES_FILE);
  const parents = new Map<string, JsonSchema>();
  const configSchema = existsSync(configPath) ? prepareSchema(configPath, parents) : undefined;
  if (configSchema !== undefined) parents.set(configPath, configSchema);
  const valuesSchema = existsSync(valuesPath) ? prepareSchema(valuesPath, parents) : undefined;
  const helmValuesSchema =
    valuesSchema === undefined
      ? undefined
      : addRequiredForHelmInPlace(structuredClone(valuesSchema));

  const root = [valuesKey];
  const compiled = new Map<string, ValidateFunction>();
  let ajv: ReturnType<typeof createAjv> | undefined;
  const validator = (name: string, schema: JsonSchema): ValidateFunction => {
    let fn = compiled.get(name);
    if (fn === undefined) {
      ajv ??= createAjv();
      fn = compileSchema(ajv, schema);
      compiled.set(name, fn);
    }
    return fn;
  };
  const run = (name: string, schema: JsonSchema | undefined, value: unknown): ValidationIssue[] => {
    if (schema === undefined) return [];
    const fn = validator(name, schema);
    // an absent module section is validated as an empty one, as addon-operator does
    const data = value === undefined || value === null ? {} : value;
    return fn(data) ? [] : issuesFromAjvErrors(fn.errors, root);
  };

  const result: LoadedModuleSchemas = {
    openapiDir: dir,
    configSchema,
    valuesSchema,
    helmValuesSchema,
    applyConfigValuesDefaults: v =>
      configSchema === undefined ? structuredClone(v ?? {}) : withDefaults(configSchema, v),
    applyValuesDefaults: v =>
      valuesSchema === undefined ? structuredClone(v ?? {}) : withDefaults(valuesSchema, v),
    validateConfigValues: v => {
      if (configSchema === undefined) {
        const empty =
          v === undefined || v === null || (isPlainObject(v) && Object.keys(v).length === 0);
        return empty
          ? []
          : [
              {
                path: `/${valuesKey}`,
                message: `${valuesKey}: config values were provided, but the module has no ${CONFIG_VALUES_FILE}`,
              },
            ];
      }
      return run("config", configSchema, v);
    },
    validateValues: v => run("values", valuesSchema, v),
    validateHelmValues: v => run("helm", helmValuesSchema, v),
  };
  loaded.set(cacheKey, result);
  return result;
}
