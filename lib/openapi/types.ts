// The boundary between the module's OpenAPI schemas and their users (the harness, the CLI, tests).
// Implemented by ./schemas.ts (Ajv with Deckhouse's extensions).

export interface ValidationIssue {
  /** JSON pointer of the offending value, e.g. `/registry/internal/orchestrator/state/mode`. */
  path: string;
  /** What rule failed, naming the field, e.g. `must be equal to one of the allowed values: ...`. */
  message: string;
}

export interface ModuleSchemas {
  /** Applies `openapi/config-values.yaml` defaults (Kubernetes structural defaulting) to a copy. */
  applyConfigValuesDefaults(moduleConfigValues: unknown): unknown;
  /** Applies `openapi/values.yaml` defaults (after `x-extend`) to a copy. */
  applyValuesDefaults(moduleValues: unknown): unknown;
  /** Validates the module section of config values; [] when valid. */
  validateConfigValues(moduleConfigValues: unknown): ValidationIssue[];
  /** Validates the module section of values (no `x-required-for-helm`); [] when valid. */
  validateValues(moduleValues: unknown): ValidationIssue[];
  /** Same, with `x-required-for-helm` added (the check before Helm renders). */
  validateHelmValues(moduleValues: unknown): ValidationIssue[];
}
