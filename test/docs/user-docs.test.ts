// The user documentation (docs/README.md, CONFIGURATION.md, FAQ.md, EXAMPLES.md and their _RU
// twins) agrees with what the module accepts: every ModuleConfig in it passes the settings schema
// and its CEL rules (ModuleConfig/deckhouse) or the module's config-values schema
// (ModuleConfig/registry), every settings field is documented, and it keeps to the conventions
// (no spec section numbers, no links outside the repository, no licence on a command line).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { CONDITION_TYPES } from "../../lib/orchestrator/conditions";
import { loadModuleSchemas } from "../../lib/openapi/schemas";
import { validateRegistrySettingsSchema } from "../../lib/openapi/registry-settings";
import { loadYamlFile, type JsonSchema } from "../../lib/openapi/schemas";

const ROOT = join(import.meta.dirname, "../..");
const DOCS = ["README", "CONFIGURATION", "FAQ", "EXAMPLES"] as const;
const FILES = DOCS.flatMap(d => [`${d}.md`, `${d}_RU.md`]);
const read = (file: string) => readFileSync(join(ROOT, "docs", file), "utf8");

function yamlBlocks(text: string): string[] {
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map(m => m[1] as string);
}

interface ModuleConfig {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
  spec?: { version?: number; enabled?: boolean; settings?: Record<string, unknown> };
}

function moduleConfigs(file: string): ModuleConfig[] {
  return yamlBlocks(read(file))
    .flatMap(block => parseAllDocuments(block).map(d => d.toJS() as unknown))
    .filter((d): d is ModuleConfig => (d as ModuleConfig | null)?.kind === "ModuleConfig");
}

/** Share of Cyrillic letters among the letters of the prose (code blocks and inline code left out). */
function cyrillicShare(text: string): number {
  const prose = text.replace(/```[\s\S]*?```/g, "").replace(/`[^`]*`/g, "");
  const letters = prose.match(/[a-zA-Zа-яА-ЯёЁ]/g) ?? [];
  return letters.filter(c => /[а-яА-ЯёЁ]/.test(c)).length / Math.max(letters.length, 1);
}

/** Dotted paths of every property of a schema, e.g. `direct.imagesRepo`. */
function fieldPaths(schema: JsonSchema, prefix = ""): string[] {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
  return Object.entries(props).flatMap(([name, sub]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    return [path, ...fieldPaths(sub, path)];
  });
}

describe("user documentation", () => {
  it("every ModuleConfig example passes the schema and CEL rules the cluster applies", () => {
    const schemas = loadModuleSchemas(join(ROOT, "openapi"));
    let deckhouse = 0;
    let registry = 0;
    for (const file of [
      "EXAMPLES.md",
      "EXAMPLES_RU.md",
      "CONFIGURATION.md",
      "CONFIGURATION_RU.md",
    ]) {
      for (const mc of moduleConfigs(file)) {
        const where = `${file} ModuleConfig/${mc.metadata?.name}`;
        expect(mc.apiVersion, where).toBe("deckhouse.io/v1alpha1");
        expect(mc.spec?.version, where).toBe(1);
        if (mc.metadata?.name === "deckhouse") {
          deckhouse++;
          expect(validateRegistrySettingsSchema(mc.spec?.settings?.registry), where).toEqual([]);
        } else {
          expect(mc.metadata?.name, where).toBe("registry");
          registry++;
          expect(schemas.validateConfigValues(mc.spec?.settings ?? {}), where).toEqual([]);
        }
      }
    }
    // every mode has an example, in both languages
    const modes = (file: string) =>
      new Set(
        moduleConfigs(file)
          .map(mc => (mc.spec?.settings?.registry as { mode?: string } | undefined)?.mode)
          .filter(Boolean),
      );
    for (const file of ["EXAMPLES.md", "EXAMPLES_RU.md"])
      expect([...modes(file)].sort(), file).toEqual(["Direct", "Local", "Proxy", "Unmanaged"]);
    expect(deckhouse).toBeGreaterThanOrEqual(16);
    expect(registry).toBeGreaterThanOrEqual(4);
  });

  it("a broken example would be caught: the validators refuse what the rules forbid", () => {
    expect(
      validateRegistrySettingsSchema({
        mode: "Proxy",
        proxy: { imagesRepo: "r.example.com/d", ttl: "1m" },
      }),
    ).toEqual(["registry.proxy: 'ttl' should be at least 5 minutes."]);
    const schemas = loadModuleSchemas(join(ROOT, "openapi"));
    expect(schemas.validateConfigValues({ https: { mode: "Sometimes" } })).not.toEqual([]);
  });

  it("CONFIGURATION documents every settings field, in both languages", () => {
    const settings = fieldPaths(
      loadYamlFile(join(ROOT, "schemas/deckhouse-registry-settings.yaml")) as JsonSchema,
    );
    const config = fieldPaths(loadYamlFile(join(ROOT, "openapi/config-values.yaml")) as JsonSchema);
    expect(settings).toContain("proxy.ttl");
    expect(config).toContain("https.customCertificate.secretName");
    for (const file of ["CONFIGURATION.md", "CONFIGURATION_RU.md"]) {
      const text = read(file);
      for (const path of [...settings, ...config]) {
        // a field is documented by its dotted path (or a path through it) or, inside its
        // section's table, by its name
        const leaf = path.split(".").at(-1) as string;
        const documented = [`\`${path}\``, `\`${path}.`, `| \`${leaf}\` |`].some(s =>
          text.includes(s),
        );
        expect(documented, `${file}: ${path}`).toBe(true);
      }
    }
  });

  it("progress is watched with the command that decodes only mode, target_mode and conditions", () => {
    const command = "jq '.data | {mode, target_mode, conditions} | map_values(@base64d)'";
    for (const file of ["README.md", "README_RU.md", "FAQ.md", "FAQ_RU.md"]) {
      expect(read(file), file).toContain(command);
      expect(read(file), file).toContain("registry.deckhouse.io/version");
    }
  });

  it("names the conditions the module reports, and only those", () => {
    for (const file of ["README.md", "README_RU.md", "FAQ.md", "FAQ_RU.md"]) {
      const text = read(file);
      const named = new Set(
        [...text.matchAll(/`([A-Z][A-Za-z]+(?:Ready|Images|Proxy|Services|Supported))`/g)].map(
          m => m[1] as string,
        ),
      );
      for (const type of named) expect(CONDITION_TYPES, `${file}: ${type}`).toContain(type);
    }
    // every condition is explained in the troubleshooting table or the step list
    const explained = read("FAQ.md") + read("README.md");
    for (const type of CONDITION_TYPES) expect(explained, type).toContain(`\`${type}\``);
  });

  it("keeps to the conventions: twins exist, no spec sections, no outside links, no licence flag", () => {
    for (const file of FILES) {
      const text = read(file);
      expect(text, file).not.toMatch(/§|\/work\/shared|\.\.\/shared/);
      expect(text, file).not.toMatch(/\]\((?:https?:)?\/\//);
      expect(text, file).not.toMatch(/--license/);
      for (const [, target] of text.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)) {
        expect(FILES, `${file} links ${target}`).toContain(target);
      }
    }
    for (const d of DOCS) {
      // Russian twins are in Russian, and carry the same examples
      expect(cyrillicShare(read(`${d}_RU.md`)), d).toBeGreaterThan(0.6);
      expect(cyrillicShare(read(`${d}.md`)), d).toBe(0);
      expect(yamlBlocks(read(`${d}_RU.md`)).length, d).toBe(yamlBlocks(read(`${d}.md`)).length);
    }
  });
});
