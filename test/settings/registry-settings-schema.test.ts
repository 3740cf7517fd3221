import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import {
  collectRules,
  compileCelRule,
  evaluateDeckhouseValidations,
} from "../../lib/openapi/cel-rules";
import { collectExamples } from "../../lib/openapi/deckhouse-schema";
import { isPlainObject } from "../../lib/validation/reader";
import {
  REGISTRY_SETTINGS_SCHEMA_PATH,
  applyRegistrySettingsDefaults,
  createRegistrySettingsValidator,
  loadRegistrySettingsValidator,
  validateRegistrySettingsSchema,
} from "../../lib/openapi/registry-settings";
import { loadYamlFile, parseYaml } from "../../lib/openapi/yaml";
import { TEST_CA } from "./fixtures";
import { VALID_SETTINGS } from "../support/settings";

const validator = loadRegistrySettingsValidator();
const schema = validator.schema;

function obj(v: unknown): Record<string, unknown> {
  if (!isPlainObject(v)) throw new Error(`not an object: ${JSON.stringify(v)}`);
  return v;
}

describe("schemas/deckhouse-registry-settings.yaml", () => {
  it("is the file the validator uses", () => {
    expect(REGISTRY_SETTINGS_SCHEMA_PATH).toBe(
      resolve(import.meta.dirname, "../../schemas/deckhouse-registry-settings.yaml"),
    );
  });

  it("has the fields, enums and defaults of docs/architecture.md#settings", () => {
    const raw = obj(loadYamlFile(REGISTRY_SETTINGS_SCHEMA_PATH));
    expect(raw.default).toEqual({});
    const props = obj(raw.properties);
    expect(Object.keys(props).sort()).toEqual(["direct", "mode", "proxy", "unmanaged"]);
    expect(obj(props.mode).enum).toEqual(["Unmanaged", "Direct", "Proxy", "Local"]);
    expect(obj(props.mode).default).toBe("Unmanaged");
    for (const section of ["direct", "unmanaged", "proxy"]) {
      const p = obj(obj(props[section]).properties);
      const expected = [
        "ca",
        "checkMode",
        "imagesRepo",
        "license",
        "password",
        "scheme",
        "username",
      ];
      if (section === "proxy") expected.push("ttl");
      expect(Object.keys(p).sort(), section).toEqual(expected.sort());
      expect(obj(p.imagesRepo).default).toBe("registry.deckhouse.io/deckhouse/ce");
      expect(obj(p.scheme).enum).toEqual(["HTTP", "HTTPS"]);
      expect(obj(p.scheme).default).toBe("HTTPS");
      expect(obj(p.checkMode).enum).toEqual(["Default", "Relax"]);
      expect(obj(p.checkMode).default).toBe("Default");
    }
  });

  it("applies defaults: registry {} → mode Unmanaged; a present section gets imagesRepo/scheme/checkMode", () => {
    expect(applyRegistrySettingsDefaults({})).toEqual({ mode: "Unmanaged" });
    expect(applyRegistrySettingsDefaults(undefined)).toEqual({ mode: "Unmanaged" });
    expect(applyRegistrySettingsDefaults({ mode: "Proxy", proxy: { ttl: "1h" } })).toEqual({
      mode: "Proxy",
      proxy: {
        imagesRepo: "registry.deckhouse.io/deckhouse/ce",
        scheme: "HTTPS",
        checkMode: "Default",
        ttl: "1h",
      },
    });
  });

  it("every CEL rule parses and plans", () => {
    const rules = collectRules(schema);
    expect(rules).toHaveLength(6 + 4 + 4 + 5);
    for (const { rule } of rules) expect(() => compileCelRule(rule.expression)).not.toThrow();
  });

  it("uses Kubernetes-style CEL (self, has())", () => {
    for (const { rule } of collectRules(schema)) {
      expect(rule.expression).toMatch(/\bself\b/);
      expect(rule.expression).not.toMatch(/\bthis\b|\$\{/);
    }
  });
});

describe("x-examples of the settings schema", () => {
  const examples = collectExamples(schema);
  it("exist for the root and every section", () => {
    const pointers = new Set(examples.map(e => e.schemaPointer));
    for (const p of ["", "/properties/direct", "/properties/unmanaged", "/properties/proxy"])
      expect(pointers).toContain(p);
  });

  it.each(
    examples.filter(e => e.schemaPointer === "").map(e => [JSON.stringify(e.example), e.example]),
  )("root example %s is valid", (_n, example) => {
    expect(validateRegistrySettingsSchema(example)).toEqual([]);
  });

  it.each(
    examples
      .filter(e => /^\/properties\/(direct|unmanaged|proxy)$/.test(e.schemaPointer))
      .map(e => [e.schemaPointer, JSON.stringify(e.example), e] as const),
  )("section example %s %s is valid in its mode", (pointer, _n, e) => {
    const section = pointer.split("/")[2] as string;
    const mode = { direct: "Direct", unmanaged: "Unmanaged", proxy: "Proxy" }[section];
    expect(validateRegistrySettingsSchema({ mode, [section]: e.example })).toEqual([]);
  });
});

const sectionCases = [
  ["direct", "Direct"],
  ["unmanaged", "Unmanaged"],
  ["proxy", "Proxy"],
] as const;

describe("CEL rules on the sections, exact messages", () => {
  describe.each(sectionCases)("registry.%s", (section, mode) => {
    const check = (body: Record<string, unknown>): string[] =>
      validateRegistrySettingsSchema({ mode, [section]: body });

    it("imagesRepo must be present", () => {
      expect(check({ license: "KEY" })).toEqual([`registry.${section}: 'imagesRepo' is required.`]);
      expect(check({})).toEqual([`registry.${section}: 'imagesRepo' is required.`]);
    });

    it("username requires password", () => {
      expect(check({ imagesRepo: "r.example.com/d8", username: "u" })).toEqual([
        `registry.${section}: 'password' is required when 'username' is provided.`,
      ]);
    });

    it("password requires username", () => {
      expect(check({ imagesRepo: "r.example.com/d8", password: "p" })).toEqual([
        `registry.${section}: 'username' is required when 'password' is provided.`,
      ]);
    });

    it("license excludes username/password", () => {
      expect(
        check({ imagesRepo: "r.example.com/d8", license: "KEY", username: "u", password: "p" }),
      ).toEqual([
        `registry.${section}: 'license' and 'username'/'password' are mutually exclusive.`,
      ]);
      expect(check({ imagesRepo: "r.example.com/d8", license: "KEY", username: "u" })).toEqual([
        `registry.${section}: 'password' is required when 'username' is provided.`,
        `registry.${section}: 'license' and 'username'/'password' are mutually exclusive.`,
      ]);
    });

    it("accepts a licence, credentials, a CA, or nothing", () => {
      expect(check({ imagesRepo: "r.example.com/d8", license: "KEY" })).toEqual([]);
      expect(
        check({ imagesRepo: "r.example.com:5000/d8/ee", username: "u", password: "p" }),
      ).toEqual([]);
      expect(
        check({ imagesRepo: "r.example.com/d8", scheme: "HTTPS", ca: TEST_CA, checkMode: "Relax" }),
      ).toEqual([]);
      expect(check({ imagesRepo: "r.example.com" })).toEqual([]);
    });
  });

  describe("registry.proxy ttl", () => {
    const check = (ttl: unknown): string[] =>
      validateRegistrySettingsSchema({
        mode: "Proxy",
        proxy: { imagesRepo: "r.example.com/d8", ttl },
      });
    it.each(["5m", "300s", "1h", "168h10m5s", "4m60s", "0h5m"])("%s is enough", ttl => {
      expect(check(ttl)).toEqual([]);
    });
    it.each(["4m59s", "1m", "299s", "0s", "1s"])("%s is too short", ttl => {
      expect(check(ttl)).toEqual(["registry.proxy: 'ttl' should be at least 5 minutes."]);
    });
    it("an absent ttl is fine", () => {
      expect(
        validateRegistrySettingsSchema({
          mode: "Proxy",
          proxy: { imagesRepo: "r.example.com/d8" },
        }),
      ).toEqual([]);
    });
    it("a malformed ttl fails the pattern", () => {
      const [msg, ...rest] = check("5 minutes");
      expect(msg).toMatch(/^registry\.proxy\.ttl: must match pattern .*\(pattern\)$/);
      expect(rest).toEqual([]);
    });
    it("the ttl rule is a duration() comparison evaluated by @bufbuild/cel", () => {
      const rule = collectRules(schema).find(r => r.rule.message.includes("'ttl'"));
      expect(rule?.rule.expression).toContain("duration(self.ttl) >= duration('5m')");
    });
  });
});

const MODE_REQUIRED =
  "registry: 'mode' is required with a 'direct' or 'proxy' section; without 'mode' the settings mean legacy Unmanaged and the section would be ignored.";

describe("CEL rules on registry, exact messages", () => {
  const repo = { imagesRepo: "r.example.com/d8" };
  it.each([
    [{ mode: "Direct" }, ["registry: when mode is 'Direct', 'direct' section must be specified."]],
    [{ mode: "Proxy" }, ["registry: when mode is 'Proxy', 'proxy' section must be specified."]],
    [
      { mode: "Unmanaged", direct: repo },
      ["registry: when mode is not 'Direct', 'direct' section must be omitted."],
    ],
    [
      { mode: "Local", proxy: repo },
      ["registry: when mode is not 'Proxy', 'proxy' section must be omitted."],
    ],
    [
      { mode: "Direct", direct: repo, unmanaged: repo },
      ["registry: when mode is not 'Unmanaged', 'unmanaged' section must be omitted."],
    ],
    [
      { mode: "Proxy", direct: repo },
      [
        "registry: when mode is not 'Direct', 'direct' section must be omitted.",
        "registry: when mode is 'Proxy', 'proxy' section must be specified.",
      ],
    ],
  ])("%j", (settings, messages) => {
    expect(validateRegistrySettingsSchema(settings)).toEqual(messages);
  });

  it.each(VALID_SETTINGS)("valid: %s", (_name, settings) => {
    expect(validateRegistrySettingsSchema(settings)).toEqual([]);
  });

  it("nested rules are reported before the rules of registry itself", () => {
    expect(validateRegistrySettingsSchema({ mode: "Local", direct: {} })).toEqual([
      "registry.direct: 'imagesRepo' is required.",
      "registry: when mode is not 'Direct', 'direct' section must be omitted.",
    ]);
  });

  it("rules that read an absent mode do not apply (Deckhouse skips 'no such key' failures)", () => {
    // the deckhouse-controller webhook validates settings as written, before defaults
    expect(validateRegistrySettingsSchema({ unmanaged: repo })).toEqual([]);
    const violations = evaluateDeckhouseValidations(schema, { unmanaged: repo }, ["registry"]);
    expect(violations).toEqual([]);
  });

  it.each([{ direct: repo }, { proxy: repo }, { proxy: repo, unmanaged: repo }])(
    "refuses a direct/proxy section without mode (docs/adr/0080): %j",
    settings => {
      expect(validateRegistrySettingsSchema(settings)).toEqual([MODE_REQUIRED]);
    },
  );

  it("absent settings are valid; non-object settings are not", () => {
    expect(validateRegistrySettingsSchema(undefined)).toEqual([]);
    expect(validateRegistrySettingsSchema("Direct")).toEqual(["registry: must be object (type)"]);
    expect(validateRegistrySettingsSchema(null)).toEqual(["registry: must be object (type)"]);
  });
});

describe("structural validation of the settings", () => {
  it.each([
    [
      { mode: "Managed" },
      /^registry\.mode: must be one of "Unmanaged", "Direct", "Proxy", "Local" \(enum\), got "Managed"$/,
    ],
    [
      { mode: "Direct", direct: { imagesRepo: "r.example.com/d8", scheme: "https" } },
      /^registry\.direct\.scheme: must be one of "HTTP", "HTTPS" \(enum\), got "https"$/,
    ],
    [
      { mode: "Direct", direct: { imagesRepo: "r.example.com/d8", checkMode: "Strict" } },
      /^registry\.direct\.checkMode: must be one of "Default", "Relax"/,
    ],
    [
      { mode: "Direct", direct: { imagesRepo: "https://r.example.com/d8" } },
      /^registry\.direct\.imagesRepo: must match pattern/,
    ],
    [
      { mode: "Direct", direct: { imagesRepo: "r.example.com:123456/d8" } },
      /^registry\.direct\.imagesRepo: must match pattern/,
    ],
    [
      { mode: "Direct", direct: { imagesRepo: "" } },
      /^registry\.direct\.imagesRepo: must NOT have fewer than 1 characters \(minLength\)$/,
    ],
    [
      { mode: "Direct", direct: { imagesRepo: "r.example.com/d8", ttl: "1h" } },
      /^registry\.direct\.ttl: is not a known field/,
    ],
    [{ mode: "Local", local: {} }, /^registry\.local: is not a known field/],
    [
      { mode: "Unmanaged", unmanaged: { imagesRepo: "r.example.com", password: 5, username: "u" } },
      /^registry\.unmanaged\.password: must be string \(type\)$/,
    ],
  ])("%j", (settings, pattern) => {
    const messages = validateRegistrySettingsSchema(settings);
    expect(messages[0]).toMatch(pattern);
  });

  it("a rule that cannot be evaluated is reported with its expression", () => {
    expect(
      validateRegistrySettingsSchema({
        mode: "Proxy",
        proxy: { imagesRepo: "r.example.com/d8", ttl: "9999999999999h" },
      }),
    ).toEqual([
      `registry.proxy: cannot evaluate rule "has(self.ttl) ? duration(self.ttl) >= duration('5m') : true": duration out of range`,
    ]);
  });

  it("evaluation errors caused by a wrong type are not repeated after the structural error", () => {
    expect(
      validateRegistrySettingsSchema({
        mode: "Proxy",
        proxy: { imagesRepo: "r.example.com/d8", ttl: 300 },
      }),
    ).toEqual(["registry.proxy.ttl: must be string (type)"]);
  });
});

describe("createRegistrySettingsValidator on a custom schema", () => {
  const custom = createRegistrySettingsValidator(
    parseYaml(`
type: object
properties:
  replicas: {type: integer}
  items:
    type: array
    items:
      type: object
      properties:
        name: {type: string}
      x-deckhouse-validations:
        - expression: "self.name != 'forbidden'"
          message: "item name must not be 'forbidden'"
  labels:
    type: object
    additionalProperties:
      type: string
      x-deckhouse-validations:
        - expression: "self.size() <= 3"
          message: "label values are at most 3 characters"
x-deckhouse-validations:
  - expression: "self.replicas >= 1"
    message: "replicas must be positive"
  - expression: "self.replicas"
    message: "never shown"
`),
  );

  it("evaluates rules on array items and map values, and reports non-boolean rules", () => {
    expect(
      custom.validate({
        replicas: 0,
        items: [{ name: "ok" }, { name: "forbidden" }],
        labels: { a: "abcd", b: "x" },
      }),
    ).toEqual([
      "item name must not be 'forbidden'",
      "label values are at most 3 characters",
      "replicas must be positive",
      'registry: rule "self.replicas" must return a boolean',
    ]);
  });

  it("closes objects of the custom schema too", () => {
    expect(custom.validate({ items: [{ name: "a", extra: 1 }] })[0]).toMatch(
      /^registry\.items\[0\]\.extra: is not a known field/,
    );
  });

  it("rejects malformed rule lists and invalid CEL", () => {
    const bad = createRegistrySettingsValidator({
      type: "object",
      "x-deckhouse-validations": [{ expression: "self.a ==", message: "m" }],
    });
    expect(() => bad.validate({ a: 1 })).toThrow(/invalid CEL expression/);
    const noMessage = createRegistrySettingsValidator({
      type: "object",
      "x-deckhouse-validations": [{ expression: "true" }],
    });
    expect(() => noMessage.validate({})).toThrow(/non-empty expression and message/);
  });
});

describe("import weight", () => {
  it("the parser module imports neither Ajv nor CEL nor the validator", () => {
    const source = readFileSync(
      resolve(import.meta.dirname, "../../lib/domain/settings.ts"),
      "utf8",
    );
    const importsOf = (text: string) =>
      [...text.matchAll(/^\s*import\s[^;]*?from\s+"([^"]+)"/gm)].map(m => m[1]);
    expect(importsOf(source)).toEqual(["node:crypto", "../validation/reader"]);
    // the reader it reads with is as light
    const reader = readFileSync(
      resolve(import.meta.dirname, "../../lib/validation/reader.ts"),
      "utf8",
    );
    expect(importsOf(reader)).toEqual(["./ip"]);
    const ip = readFileSync(resolve(import.meta.dirname, "../../lib/validation/ip.ts"), "utf8");
    expect(importsOf(ip)).toEqual(["ipaddr.js"]);
  });
});
