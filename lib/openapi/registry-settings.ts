// Validation of `ModuleConfig/deckhouse` `spec.settings.registry` against
// schemas/deckhouse-registry-settings.yaml: Ajv structural validation (Deckhouse conventions) plus
// every `x-deckhouse-validations` CEL rule. This is what the deckhouse-controller webhook does
// with the user's settings as written (no defaults applied before validation).
//
// Heavy imports (Ajv ~30 ms, @bufbuild/cel ~100 ms): the hook runtime must import
// lib/domain/settings.ts (the parser), never this module.

import type { ValidateFunction } from "ajv";
import { fileURLToPath } from "node:url";
import { compileSchema, createAjv } from "./ajv";
import { evaluateDeckhouseValidations } from "./cel-rules";
import {
  closeObjectsInPlace,
  issuesFromAjvErrors,
  withDefaults,
  type JsonSchema,
} from "./deckhouse-schema";
import { isPlainObject } from "../validation/reader";
import { loadYamlFile } from "./yaml";

/** Where the schema lives in this repository (resolved from this file, also after bundling to dist/<dir>/). */
export const REGISTRY_SETTINGS_SCHEMA_PATH = fileURLToPath(
  new URL("../../schemas/deckhouse-registry-settings.yaml", import.meta.url),
);

/** Name of the settings object in messages (`registry.direct.scheme: ...`). */
export const REGISTRY_SETTINGS_FIELD = "registry";

export interface RegistrySettingsValidator {
  /** The effective schema (additionalProperties closed), `x-*` keys kept. */
  readonly schema: JsonSchema;
  /**
   * Messages of every violated rule, [] when valid. Structural problems come first (each naming
   * the field, e.g. `registry.direct.scheme: must be one of "HTTP", "HTTPS" (enum), got "FTP"`),
   * then the CEL rule messages verbatim (e.g. `registry.direct: 'imagesRepo' is required.`).
   * `undefined` (no `registry` key in the settings) is valid.
   */
  validate(settings: unknown): string[];
  /** Defaults of the schema applied to a copy (what the deckhouse module renders from). */
  applyDefaults(settings: unknown): unknown;
}

/** Builds a validator from a parsed schema document; Ajv compiles on the first `validate`. */
export function createRegistrySettingsValidator(
  schemaDocument: unknown,
): RegistrySettingsValidator {
  if (!isPlainObject(schemaDocument)) throw new Error("registry settings schema must be a mapping");
  const schema = closeObjectsInPlace(structuredClone(schemaDocument));
  let structural: ValidateFunction | undefined;
  return {
    schema,
    validate(settings) {
      if (settings === undefined) return [];
      structural ??= compileSchema(createAjv(), schema);
      const structuralMessages = structural(settings)
        ? []
        : issuesFromAjvErrors(structural.errors, [REGISTRY_SETTINGS_FIELD]).map(i => i.message);
      const cel = evaluateDeckhouseValidations(schema, settings, [REGISTRY_SETTINGS_FIELD])
        // a rule that cannot run on structurally broken data only repeats the structural error
        .filter(v => !(v.evaluationError && structuralMessages.length > 0))
        .map(v => v.message);
      return [...structuralMessages, ...cel];
    },
    applyDefaults(settings) {
      return withDefaults(schema, settings);
    },
  };
}

const validators = new Map<string, RegistrySettingsValidator>();

/** The validator of a schema file (default: this repository's), built once per path. */
export function loadRegistrySettingsValidator(
  path: string = REGISTRY_SETTINGS_SCHEMA_PATH,
): RegistrySettingsValidator {
  let validator = validators.get(path);
  if (validator === undefined) {
    validator = createRegistrySettingsValidator(loadYamlFile(path));
    validators.set(path, validator);
  }
  return validator;
}

/**
 * Validates `spec.settings.registry` of `ModuleConfig/deckhouse` as written by the user:
 * structural validation and every CEL rule of the schema. Returns the exact messages; [] when
 * valid.
 */
export function validateRegistrySettingsSchema(settings: unknown): string[] {
  return loadRegistrySettingsValidator().validate(settings);
}

/** `spec.settings.registry` with the schema defaults applied (mode Unmanaged, scheme HTTPS, ...). */
export function applyRegistrySettingsDefaults(settings: unknown): unknown {
  return loadRegistrySettingsValidator().applyDefaults(settings);
}
