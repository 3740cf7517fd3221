import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { collectExamples, type JsonSchema } from "../../lib/openapi/deckhouse-schema";
import { isPlainObject } from "../../lib/validation/reader";
import { compileSchema, createAjv } from "../../lib/openapi/ajv";
import { loadModuleSchemas, loadYamlFile } from "../../lib/openapi/schemas";

const OPENAPI_DIR = resolve(import.meta.dirname, "../../openapi");
const schemas = loadModuleSchemas(OPENAPI_DIR);

function obj(v: unknown): Record<string, unknown> {
  if (!isPlainObject(v)) throw new Error(`not an object: ${JSON.stringify(v)}`);
  return v;
}

/** Walks a path of property names through `properties`. */
function prop(schema: JsonSchema | undefined, ...names: string[]): JsonSchema {
  let cur: unknown = schema;
  for (const n of names) cur = obj(obj(obj(cur).properties)[n]);
  return obj(cur);
}

describe("openapi/config-values.yaml", () => {
  const raw = obj(loadYamlFile(join(OPENAPI_DIR, "config-values.yaml")));

  it("declares config version 1 and the ingress settings of the orchestrator era", () => {
    expect(raw["x-config-version"]).toBe(1);
    expect(Object.keys(obj(raw.properties)).sort()).toEqual(
      ["https", "imagesOverride", "ingressClass", "whitelistSourceRanges"].sort(),
    );
    expect(prop(raw, "https", "mode").enum).toEqual([
      "Disabled",
      "CertManager",
      "CustomCertificate",
      "OnlyInURI",
    ]);
    expect(prop(raw, "https", "mode").default).toBe("CertManager");
    expect(prop(raw, "https", "certManager", "clusterIssuerName").default).toBe("letsencrypt");
    expect(Object.keys(obj(prop(raw, "imagesOverride").properties)).sort()).toEqual([
      "mirrorer",
      "registryManager",
    ]);
  });

  it("has several x-examples at the root", () => {
    expect(Array.isArray(raw["x-examples"])).toBe(true);
    expect((raw["x-examples"] as unknown[]).length).toBeGreaterThanOrEqual(4);
  });

  const cidr = compileSchema(createAjv(), prop(raw, "whitelistSourceRanges"));
  it.each([
    [["10.0.0.0/8"], true],
    [["0.0.0.0/0", "255.255.255.255/32"], true],
    [["192.168.1.1"], true],
    [["10.0.0.0/33"], false],
    [["256.1.1.1/8"], false],
    [["10.01.0.0/16"], false],
    [["10.0.0/8"], false],
    [["10.0.0.0/"], false],
    [["fd00::/8"], false],
    [[" 10.0.0.0/8"], false],
  ])("whitelistSourceRanges %j valid=%s", (value, valid) => {
    expect(cidr(value)).toBe(valid);
  });

  const ingressClass = compileSchema(createAjv(), prop(raw, "ingressClass"));
  it.each([
    ["nginx", true],
    ["nginx-internal", true],
    ["a.b-c.d", true],
    ["Nginx", false],
    ["-nginx", false],
    ["nginx-", false],
    ["nginx_public", false],
  ])("ingressClass %j valid=%s", (value, valid) => {
    expect(ingressClass(value)).toBe(valid);
  });
});

describe("openapi/doc-ru-config-values.yaml", () => {
  const en = obj(loadYamlFile(join(OPENAPI_DIR, "config-values.yaml")));
  const ru = obj(loadYamlFile(join(OPENAPI_DIR, "doc-ru-config-values.yaml")));

  function walk(
    ruNode: Record<string, unknown>,
    enNode: Record<string, unknown>,
    path: string,
  ): void {
    for (const key of Object.keys(ruNode)) {
      expect(["description", "properties", "items"], `${path}: unexpected key ${key}`).toContain(
        key,
      );
    }
    if (typeof enNode.description === "string") {
      expect(typeof ruNode.description, `${path}: Russian description missing`).toBe("string");
      expect(ruNode.description).toMatch(/[А-Яа-яЁё]/);
    }
    const enProps = isPlainObject(enNode.properties) ? enNode.properties : {};
    const ruProps = isPlainObject(ruNode.properties) ? ruNode.properties : {};
    for (const name of Object.keys(ruProps)) {
      expect(enProps, `${path}.${name} does not exist in config-values.yaml`).toHaveProperty([
        name,
      ]);
    }
    for (const [name, enChild] of Object.entries(enProps)) {
      expect(ruProps, `${path}.${name} has no Russian twin`).toHaveProperty([name]);
      walk(obj(ruProps[name]), obj(enChild), `${path}.${name}`);
    }
  }

  it("mirrors the structure of config-values.yaml with descriptions only", () => {
    walk(ru, en, "(root)");
  });
});

describe("x-examples", () => {
  const ajv = createAjv();
  const cases = [
    ...collectExamples(schemas.configSchema ?? {}).map(e => ({ file: "config-values.yaml", ...e })),
    ...collectExamples(schemas.valuesSchema ?? {}).map(e => ({ file: "values.yaml", ...e })),
  ];

  it("exist in both schemas", () => {
    expect(cases.filter(c => c.file === "config-values.yaml").length).toBeGreaterThan(10);
    expect(cases.filter(c => c.file === "values.yaml").length).toBeGreaterThan(10);
  });

  it.each(
    cases.map(
      c => [`${c.file}#${c.schemaPointer || "/"} ${JSON.stringify(c.example)}`, c] as const,
    ),
  )("%s validates", (_name, c) => {
    const validate = compileSchema(ajv, c.schema);
    expect(validate(c.example), JSON.stringify(validate.errors)).toBe(true);
  });

  it("root examples are also accepted by validateConfigValues/validateValues", () => {
    for (const e of collectExamples(schemas.configSchema ?? {}).filter(
      e => e.schemaPointer === "",
    )) {
      expect(schemas.validateConfigValues(e.example)).toEqual([]);
      expect(schemas.validateValues(e.example)).toEqual([]);
      expect(schemas.validateValues(schemas.applyValuesDefaults(e.example))).toEqual([]);
    }
  });
});

describe("openapi/openapi-case-tests.yaml", () => {
  const cases = obj(loadYamlFile(join(OPENAPI_DIR, "openapi-case-tests.yaml")));
  const positive = obj(cases.positive);
  const negative = obj(cases.negative);

  it("has Deckhouse's layout and the spec's cases", () => {
    expect(Object.keys(cases).sort()).toEqual(["negative", "positive"]);
    for (const group of [positive, negative]) {
      expect(Object.keys(group).sort()).toEqual(["configValues", "values"]);
    }
    expect(positive.configValues).toContainEqual({});
    expect(positive.values).toContainEqual({});
    expect(negative.configValues).toContainEqual({ somethingInConfig: "yes" });
    expect(negative.values).toContainEqual({ somethingInConfig: "yes" });
    expect((negative.configValues as unknown[]).length).toBeGreaterThanOrEqual(8);
    expect((negative.values as unknown[]).length).toBeGreaterThanOrEqual(10);
  });

  const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

  it.each(list(positive.configValues).map(v => [JSON.stringify(v), v]))(
    "positive configValues %s",
    (_n, v) => {
      expect(schemas.validateConfigValues(v)).toEqual([]);
      expect(schemas.validateConfigValues(schemas.applyConfigValuesDefaults(v))).toEqual([]);
      // config values are part of values (x-extend)
      expect(schemas.validateValues(v)).toEqual([]);
    },
  );

  it.each(list(positive.values).map(v => [JSON.stringify(v), v]))("positive values %s", (_n, v) => {
    expect(schemas.validateValues(v)).toEqual([]);
    expect(schemas.validateValues(schemas.applyValuesDefaults(v))).toEqual([]);
    expect(schemas.validateHelmValues(schemas.applyValuesDefaults(v))).toEqual([]);
  });

  it.each(list(negative.configValues).map(v => [JSON.stringify(v), v]))(
    "negative configValues %s",
    (_n, v) => {
      const issues = schemas.validateConfigValues(v);
      expect(issues.length).toBeGreaterThan(0);
      for (const i of issues) {
        expect(i.path).toMatch(/^\/registry\//);
        expect(i.message).toMatch(/^registry[.[]/);
      }
    },
  );

  it.each(list(negative.values).map(v => [JSON.stringify(v), v]))("negative values %s", (_n, v) => {
    const issues = schemas.validateValues(v);
    expect(issues.length).toBeGreaterThan(0);
    // defaults never repair an invalid document
    expect(schemas.validateValues(schemas.applyValuesDefaults(v)).length).toBeGreaterThan(0);
  });
});

describe("validation messages", () => {
  it("name the field and the rule", () => {
    expect(schemas.validateConfigValues({ somethingInConfig: "yes" })).toEqual([
      {
        path: "/registry/somethingInConfig",
        message:
          "registry.somethingInConfig: is not a known field; the schema forbids additional properties (additionalProperties)",
      },
    ]);
    expect(
      schemas.validateValues({ internal: { orchestrator: { state: { mode: "Managed" } } } }),
    ).toEqual([
      {
        path: "/registry/internal/orchestrator/state/mode",
        message:
          'registry.internal.orchestrator.state.mode: must be one of "Unmanaged", "Direct", "Proxy", "Local" (enum), got "Managed"',
      },
    ]);
    const [issue] = schemas.validateConfigValues({ whitelistSourceRanges: ["10.0.0.0/33"] });
    expect(issue?.path).toBe("/registry/whitelistSourceRanges/0");
    expect(issue?.message).toMatch(
      /^registry\.whitelistSourceRanges\[0\]: must match pattern .*\(pattern\)$/,
    );
  });

  it("report a missing required field at the field's own path", () => {
    const issues = schemas.validateValues({
      internal: {
        checker: { params: { registries: { "registry.example.com": { scheme: "HTTPS" } } } },
      },
    });
    expect(issues).toEqual([
      {
        path: "/registry/internal/checker/params/registries/registry.example.com/address",
        message:
          'registry.internal.checker.params.registries["registry.example.com"].address: is required (required)',
      },
    ]);
  });

  it("quote field names that are not identifiers", () => {
    const [issue] = schemas.validateValues({
      internal: { customCertificateData: { "tls.crt": 42 } },
    });
    expect(issue).toEqual({
      path: "/registry/internal/customCertificateData/tls.crt",
      message: 'registry.internal.customCertificateData["tls.crt"]: must be string (type)',
    });
  });

  it("report every problem, not only the first", () => {
    const issues = schemas.validateValues({
      foo: 1,
      https: { mode: "Enabled" },
      internal: { orchestrator: { state: { registry_service: "proxy" } } },
    });
    expect(issues.map(i => i.path).sort()).toEqual([
      "/registry/foo",
      "/registry/https/mode",
      "/registry/internal/orchestrator/state/registry_service",
    ]);
  });

  it("treat an absent module section as empty", () => {
    expect(schemas.validateConfigValues(undefined)).toEqual([]);
    expect(schemas.validateValues(null)).toEqual([]);
  });
});

describe("defaults (structural defaulting of addon-operator)", () => {
  it("config-values: {} gets only top-level defaults; https defaults apply once https exists", () => {
    expect(schemas.applyConfigValuesDefaults({})).toEqual({ imagesOverride: {} });
    expect(schemas.applyConfigValuesDefaults({ https: {} })).toEqual({
      https: { mode: "CertManager", customCertificate: {} },
      imagesOverride: {},
    });
    expect(schemas.applyConfigValuesDefaults({ https: { certManager: {} } })).toEqual({
      https: {
        mode: "CertManager",
        certManager: { clusterIssuerName: "letsencrypt" },
        customCertificate: {},
      },
      imagesOverride: {},
    });
  });

  it("values: {} gets the internal skeleton hooks patch into", () => {
    expect(schemas.applyValuesDefaults({})).toEqual({
      imagesOverride: {},
      internal: {
        orchestrator: { state: { conditions: [] } },
        checker: { initialized: false, params: { checkMode: "Default" }, state: { ready: false } },
      },
    });
  });

  it("does not overwrite existing values, recurses into existing objects and array items", () => {
    const out = schemas.applyValuesDefaults({
      https: { mode: "Disabled" },
      internal: {
        checker: { initialized: true, params: { checkMode: "Relax" } },
        orchestrator: { state: { node_services: {} } },
      },
    });
    expect(out).toMatchObject({
      https: { mode: "Disabled", customCertificate: {} },
      internal: {
        checker: { initialized: true, params: { checkMode: "Relax" }, state: { ready: false } },
        orchestrator: { state: { conditions: [], node_services: { run: false } } },
      },
    });
  });

  it("works on a copy and gives each target its own copy of a default", () => {
    const input = { internal: {} };
    const a = obj(schemas.applyValuesDefaults(input));
    const b = obj(schemas.applyValuesDefaults(input));
    expect(input).toEqual({ internal: {} });
    obj(obj(obj(a.internal).orchestrator).state).conditions = ["mutated"];
    expect(obj(obj(obj(b.internal).orchestrator).state).conditions).toEqual([]);
    expect(obj(obj(obj(schemas.applyValuesDefaults({})).internal).orchestrator)).toEqual({
      state: { conditions: [] },
    });
  });

  it("does not default map values (addon-operator defaults properties and items only)", () => {
    const out = obj(
      schemas.applyValuesDefaults({
        internal: { checker: { params: { registries: { r: { address: "r.example.com/x" } } } } },
      }),
    );
    expect(obj(obj(obj(obj(out.internal).checker).params).registries)).toEqual({
      r: { address: "r.example.com/x" },
    });
  });
});

describe("values.yaml: x-extend and additionalProperties", () => {
  it("takes any Kubernetes object in internal.manifests (addon-operator refused them once)", () => {
    // Found by the real addon-operator (test/lab): the values patch of the render hook was
    // refused with "registry.internal.manifests.apiVersion in body is a forbidden property"
    const manifests = [
      { apiVersion: "v1", kind: "Secret", metadata: { name: "s" }, type: "Opaque", data: {} },
      { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "d" }, spec: { x: 1 } },
    ];
    expect(schemas.validateValues({ internal: { manifests } })).toEqual([]);
    expect(
      schemas.validateValues({ internal: { manifests: [{ kind: "Secret" }] } }).map(i => i.path),
    ).toEqual([
      "/registry/internal/manifests/0/apiVersion",
      "/registry/internal/manifests/0/metadata",
    ]);
  });

  it("extends config-values.yaml", () => {
    const raw = obj(loadYamlFile(join(OPENAPI_DIR, "values.yaml")));
    expect(raw["x-extend"]).toEqual({ schema: "config-values.yaml" });
    const props = Object.keys(obj(schemas.valuesSchema?.properties));
    expect(props.sort()).toEqual([
      "https",
      "imagesOverride",
      "ingressClass",
      "internal",
      "whitelistSourceRanges",
    ]);
    expect(schemas.valuesSchema?.["x-config-version"]).toBe(1);
    expect(schemas.validateValues({ ingressClass: "Bad_Class" }).map(i => i.path)).toEqual([
      "/registry/ingressClass",
    ]);
  });

  it("closes every object of the layout that is not free-form", () => {
    const unknownKey = (path: string[]): unknown => {
      const root: Record<string, unknown> = {};
      let cur = root;
      for (const p of path) {
        const next: Record<string, unknown> = {};
        cur[p] = next;
        cur = next;
      }
      cur.unexpectedKey = 1;
      return root;
    };
    for (const path of [
      [],
      ["internal"],
      ["internal", "orchestrator"],
      ["internal", "orchestrator", "state"],
      ["internal", "orchestrator", "state", "pki", "ca"],
      ["internal", "orchestrator", "state", "users", "mirror_pusher"],
      ["internal", "orchestrator", "state", "bashible", "actual_params", "direct"],
      [
        "internal",
        "orchestrator",
        "state",
        "in_cluster_proxy",
        "config",
        "config",
        "upstream",
        "user",
      ],
      ["internal", "checker", "state"],
      ["https", "certManager"],
    ]) {
      const issues = schemas.validateValues(unknownKey(path));
      expect(
        issues.map(i => i.path),
        path.join("."),
      ).toEqual([`/registry/${[...path, "unexpectedKey"].join("/")}`]);
    }
  });

  it("keeps free-form objects open", () => {
    expect(
      schemas.validateValues({
        internal: {
          orchestrator: {
            state: {
              bashible: { config: { anything: { goes: [1, "two"] } } },
              node_services: {
                nodes: { "master-0": { config: { proxy_mode: { upstream: {} } }, version: "v" } },
              },
            },
          },
        },
      }),
    ).toEqual([]);
  });
});

describe("Deckhouse extensions on synthetic schemas", () => {
  const dir = mkdtempSync(join(tmpdir(), "openapi-ext-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, "config-values.yaml"),
    `
type: object
title: Parent title
description: Parent description
x-config-version: 3
x-custom: parent
required: [shared]
definitions:
  fromParent: {type: string}
properties:
  shared:
    type: string
    enum: [parent]
  onlyInConfig:
    type: object
    properties:
      a: {type: string}
patternProperties:
  "^p-":
    type: object
    properties:
      x: {type: integer}
`,
  );
  writeFileSync(
    join(dir, "values.yaml"),
    `
x-extend:
  schema: config-values.yaml
type: object
title: Own title
x-custom: own
x-required-for-helm: internal
required: [own]
properties:
  shared:
    type: string
    enum: [own]
  own:
    type: string
  internal:
    type: object
    default: {}
    x-required-for-helm: [a, b]
    properties:
      a: {type: string}
      nothing: {type: string, nullable: true, default: null}
      b:
        type: object
        x-required-for-helm: c
        properties:
          c: {type: string}
      list:
        type: array
        items:
          type: object
          properties:
            name: {type: string}
            kind: {type: string, default: plain}
            nested:
              type: object
              properties:
                deep: {type: integer, default: 1}
      explicitMap:
        type: object
        additionalProperties:
          type: object
          properties:
            y: {type: string}
      openByFlag:
        type: object
        x-kubernetes-preserve-unknown-fields: true
        properties:
          known: {type: string}
      openExplicit:
        type: object
        additionalProperties: true
      closedExplicit:
        type: object
        additionalProperties: false
        properties:
          inner:
            type: object
            properties:
              z: {type: string}
`,
  );
  const s = loadModuleSchemas(dir);

  it("x-extend: own properties/x-*/title win, required is the union, the rest comes from the parent", () => {
    const v = obj(s.valuesSchema);
    expect(obj(obj(v.properties).shared).enum).toEqual(["own"]);
    expect(Object.keys(obj(v.properties)).sort()).toEqual([
      "internal",
      "onlyInConfig",
      "own",
      "shared",
    ]);
    expect(Object.keys(obj(v.patternProperties))).toEqual(["^p-"]);
    expect(Object.keys(obj(v.definitions))).toEqual(["fromParent"]);
    expect(v.required).toEqual(["shared", "own"]);
    expect(v.title).toBe("Own title");
    expect(v.description).toBe("Parent description");
    expect(v["x-custom"]).toBe("own");
    expect(v["x-config-version"]).toBe(3);
    expect(s.validateValues({ shared: "own", own: "x" })).toEqual([]);
    expect(s.validateValues({ shared: "parent", own: "x" }).map(i => i.path)).toEqual([
      "/registry/shared",
    ]);
    expect(s.validateValues({ own: "x" }).map(i => i.message)).toEqual([
      "registry.shared: is required (required)",
    ]);
  });

  it("additionalProperties: false by default, through properties, items and patternProperties", () => {
    const paths = (v: unknown): string[] =>
      s.validateValues({ shared: "own", own: "o", ...obj(v) }).map(i => i.path);
    expect(paths({ extra: 1 })).toEqual(["/registry/extra"]);
    expect(paths({ onlyInConfig: { a: "x", extra: 1 } })).toEqual(["/registry/onlyInConfig/extra"]);
    expect(paths({ internal: { list: [{ name: "n", extra: 1 }] } })).toEqual([
      "/registry/internal/list/0/extra",
    ]);
    expect(paths({ "p-one": { x: 1, extra: 1 } })).toEqual(["/registry/p-one/extra"]);
    expect(paths({ internal: { closedExplicit: { extra: 1 } } })).toEqual([
      "/registry/internal/closedExplicit/extra",
    ]);
    // addon-operator v1.23.0 (the lab's real operator, docs/adr/0065) closes an object marked only
    // `x-kubernetes-preserve-unknown-fields: true` like any other: the marker is the API
    // server's, the operator's transformer looks at `additionalProperties` alone
    expect(paths({ internal: { openByFlag: { known: "k", anything: { deep: true } } } })).toEqual([
      "/registry/internal/openByFlag/anything",
    ]);
  });

  it("does not descend into a property that sets additionalProperties", () => {
    const paths = (v: unknown): string[] =>
      s.validateValues({ shared: "own", own: "o", ...obj(v) }).map(i => i.path);
    // the map sets additionalProperties itself: its value schema is left as written (open)
    expect(paths({ internal: { explicitMap: { k: { y: "y", extra: 1 } } } })).toEqual([]);
    expect(paths({ internal: { openByFlag: { known: 1 } } })).toEqual([
      "/registry/internal/openByFlag/known",
    ]);
    expect(paths({ internal: { openExplicit: { anything: 1 } } })).toEqual([]);
    // ...and closedExplicit.inner was not closed because closedExplicit set additionalProperties
    expect(paths({ internal: { closedExplicit: { inner: { z: "z", extra: 1 } } } })).toEqual([]);
  });

  it("x-required-for-helm (string or list, any depth) applies to the Helm check only", () => {
    const base = { shared: "own", own: "o" };
    expect(s.validateValues(base)).toEqual([]);
    expect(s.validateHelmValues(base).map(i => i.message)).toEqual([
      "registry.internal: is required (required)",
    ]);
    expect(
      s
        .validateHelmValues({ ...base, internal: {} })
        .map(i => i.path)
        .sort(),
    ).toEqual(["/registry/internal/a", "/registry/internal/b"]);
    expect(s.validateHelmValues({ ...base, internal: { a: "a", b: {} } }).map(i => i.path)).toEqual(
      ["/registry/internal/b/c"],
    );
    expect(s.validateValues({ ...base, internal: { a: "a", b: {} } })).toEqual([]);
    expect(s.validateHelmValues({ ...base, internal: { a: "a", b: { c: "c" } } })).toEqual([]);
    expect(obj(s.helmValuesSchema).required).toEqual(["shared", "own", "internal"]);
    expect(obj(s.valuesSchema).required).toEqual(["shared", "own"]);
  });

  it("defaults array items (and nested objects only where they exist), never null defaults", () => {
    expect(
      s.applyValuesDefaults({ internal: { list: [{ name: "a" }, { kind: "k", nested: {} }] } }),
    ).toEqual({
      internal: {
        list: [
          { name: "a", kind: "plain" },
          { kind: "k", nested: { deep: 1 } },
        ],
      },
    });
    expect(s.applyValuesDefaults(undefined)).toEqual({ internal: {} });
  });

  it("config schema is closed too, and is cached per directory", () => {
    expect(s.validateConfigValues({ shared: "parent", nope: 1 }).map(i => i.path)).toEqual([
      "/registry/nope",
    ]);
    expect(loadModuleSchemas(dir)).toBe(s);
  });

  it("a directory without schemas validates nothing but refuses config values", () => {
    const empty = mkdtempSync(join(tmpdir(), "openapi-empty-"));
    try {
      const e = loadModuleSchemas(empty);
      expect(e.validateValues({ anything: 1 })).toEqual([]);
      expect(e.validateConfigValues({})).toEqual([]);
      expect(e.validateConfigValues({ a: 1 })).toHaveLength(1);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("the real values.yaml has no x-required-for-helm", () => {
  it("so the Helm check equals the values check", () => {
    expect(JSON.stringify(schemas.valuesSchema)).not.toContain("x-required-for-helm");
    expect(schemas.validateHelmValues({})).toEqual([]);
  });
});
