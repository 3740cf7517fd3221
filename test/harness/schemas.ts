// A small ModuleSchemas for harness tests, independent of the module's real openapi/: structural
// defaulting plus Ajv validation with `additionalProperties: false` by default.
import { Ajv } from "ajv";
import type { ModuleSchemas, ValidationIssue } from "../../lib/openapi/types";

type Schema = Record<string, unknown>;

const CONFIG_SCHEMA: Schema = {
  type: "object",
  properties: {
    mode: { type: "string", enum: ["Direct", "Unmanaged"] },
    replicas: { type: "integer", default: 1 },
  },
};

const VALUES_SCHEMA: Schema = {
  type: "object",
  properties: {
    ...(CONFIG_SCHEMA.properties as Schema),
    internal: {
      type: "object",
      default: {},
      properties: {
        state: { type: "string", enum: ["Unknown", "Ready"], default: "Unknown" },
        hosts: { type: "array", items: { type: "string" } },
        fromStatic: { type: "string" },
        deep: { type: "object", additionalProperties: true },
        nodes: { type: "array", items: { type: "string" } },
        count: { type: "integer" },
      },
    },
  },
};

function close(schema: Schema): Schema {
  const out: Schema = { ...schema };
  if (out.type === "object" && out.additionalProperties === undefined)
    out.additionalProperties = false;
  if (out.properties) {
    out.properties = Object.fromEntries(
      Object.entries(out.properties as Record<string, Schema>).map(([k, v]) => [k, close(v)]),
    );
  }
  if (out.items) out.items = close(out.items as Schema);
  return out;
}

function applyDefaults(schema: Schema, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [key, prop] of Object.entries((schema.properties ?? {}) as Record<string, Schema>)) {
    if (!(key in out) && prop.default !== undefined) out[key] = structuredClone(prop.default);
    if (key in out) out[key] = applyDefaults(prop, out[key]);
  }
  return out;
}

export function testSchemas(): ModuleSchemas {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const config = ajv.compile(close(CONFIG_SCHEMA));
  const values = ajv.compile(close(VALUES_SCHEMA));
  const issues = (fn: typeof config, v: unknown): ValidationIssue[] =>
    fn(v)
      ? []
      : (fn.errors ?? []).map(e => ({
          path: `/registry${e.instancePath}`,
          message: e.message ?? e.keyword,
        }));
  return {
    applyConfigValuesDefaults: v => applyDefaults(CONFIG_SCHEMA, v),
    applyValuesDefaults: v => applyDefaults(VALUES_SCHEMA, v),
    validateConfigValues: v => issues(config, v),
    validateValues: v => issues(values, v),
    validateHelmValues: v => issues(values, v),
  };
}
