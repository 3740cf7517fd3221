// The CRDs the module's objects need (test/lab/crds/*.yaml, written from the public schemas),
// with `spec.settings.registry` of ModuleConfig generated from schemas/deckhouse-registry-settings.yaml
// so the API server enforces the same types, patterns and CEL rules as the module's validator.
//
//   labCrds()                     → the CRD objects, ModuleConfig's registry part included
//   registrySettingsCrdSchema()   → that part alone (a structural schema)
//   await installLabCrds(cp)      → server-side apply, then wait until every CRD is Established
//
// Deckhouse's conventions map to the API server's as follows: `additionalProperties: false`
// (implicit) → pruning, refused as "unknown field" under kubectl's strict field validation;
// `x-deckhouse-validations` → `x-kubernetes-validations`; a rule that reads a field outside
// has() is skipped while that field is absent (Deckhouse treats the "no such key" failure as
// "not applicable"; the API server would report it); `default` is dropped — Deckhouse validates
// settings as written and stores them without defaults; `x-examples` are documentation only.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import type { ControlPlane } from "./control-plane";

export const CRDS_DIR = resolve(import.meta.dirname, "crds");
const SETTINGS_SCHEMA = resolve(
  import.meta.dirname,
  "../../schemas/deckhouse-registry-settings.yaml",
);

type Schema = Record<string, unknown>;

interface DeckhouseRule {
  expression: string;
  message: string;
}

const DROPPED = new Set(["default", "x-examples"]);

/** Top-level fields of `self` a rule reads outside has(): absent, the rule does not apply. */
function fieldsReadOutsideHas(expression: string): string[] {
  const withoutHas = expression.replace(/has\(\s*self\.[A-Za-z_][A-Za-z0-9_]*\s*\)/g, "");
  const fields = new Set<string>();
  for (const m of withoutHas.matchAll(/\bself\.([A-Za-z_][A-Za-z0-9_]*)/g))
    fields.add(m[1] as string);
  return [...fields];
}

function toKubernetesRule(rule: DeckhouseRule): { rule: string; message: string } {
  const guard = fieldsReadOutsideHas(rule.expression).map(f => `has(self.${f})`);
  return {
    rule: guard.length ? `!(${guard.join(" && ")}) || (${rule.expression})` : rule.expression,
    message: rule.message,
  };
}

function convert(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(convert);
  if (node === null || typeof node !== "object") return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    if (DROPPED.has(key) || key.startsWith("x-doc")) continue;
    if (key === "x-deckhouse-validations") {
      out["x-kubernetes-validations"] = (value as DeckhouseRule[]).map(toKubernetesRule);
    } else if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as Schema).map(([name, sub]) => [name, convert(sub)]),
      );
    } else out[key] = convert(value);
  }
  return out;
}

/** schemas/deckhouse-registry-settings.yaml as a structural schema for a CRD. */
export function registrySettingsCrdSchema(): Schema {
  return convert(parse(readFileSync(SETTINGS_SCHEMA, "utf8"))) as Schema;
}

interface Crd {
  metadata: { name: string };
  spec: {
    versions: {
      name: string;
      schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, Schema> } } } };
    }[];
  };
}

/** Every CRD of test/lab/crds, ModuleConfig's `spec.settings.registry` added. */
export function labCrds(): object[] {
  const crds = readdirSync(CRDS_DIR)
    .filter(f => f.endsWith(".yaml"))
    .sort()
    .map(f => parse(readFileSync(join(CRDS_DIR, f), "utf8")) as Crd);
  const moduleConfig = crds.find(c => c.metadata.name === "moduleconfigs.deckhouse.io");
  const settings =
    moduleConfig?.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties.settings;
  if (!settings) throw new Error(`${CRDS_DIR}: no ModuleConfig CRD with spec.settings`);
  settings.properties = { registry: registrySettingsCrdSchema() };
  return crds;
}

/** Applies the lab CRDs and waits until the API server serves every one of them. */
export async function installLabCrds(cp: ControlPlane): Promise<void> {
  const crds = labCrds() as Crd[];
  await cp.apply(crds);
  await cp.kubectl([
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    ...crds.map(c => `crd/${c.metadata.name}`),
  ]);
}
