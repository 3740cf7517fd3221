// Values handling: layering (docs/hook-protocol.md#values-layering), VALUES_PATH /
// CONFIG_VALUES_PATH shapes (docs/hook-protocol.md#values-inputs), strict application of hook
// patches with refusals that leave values unchanged, schema validation, stored-patch compaction
// (docs/hook-protocol.md#values-patches).
import { describe, expect, it } from "vitest";
import {
  applyValuesPatch,
  checkHookValuesPatch,
  compactPatches,
  parseValuesPatch,
} from "../../lib/harness/values-patch";
import { dottedPath, getAt, ValuesStore } from "../../lib/harness/values";
import { fixtureJson, fixtureText } from "./fixtures";
import { testSchemas } from "./schemas";

const schemas = testSchemas();

function store(configValues: Record<string, unknown> = { mode: "Direct" }) {
  return new ValuesStore({
    moduleKey: "registry",
    moduleName: "registry",
    schemas,
    globalValues: {
      enabledModules: ["zeta", "alpha"],
      discovery: { apiVersions: ["v1", "apps/v1"] },
      clusterConfiguration: { clusterType: "Static" },
    },
    staticValues: { internal: { fromStatic: "s" } },
    configValues,
  });
}

describe("constructed values-json-patch.json", () => {
  it("applies strictly to values.json for its module key (myModule)", () => {
    const values = fixtureJson<Record<string, unknown>>("constructed/values.json");
    const ops = checkHookValuesPatch(
      parseValuesPatch(fixtureText("constructed/values-json-patch.json")),
      "myModule",
    );
    const out = applyValuesPatch(values, ops, "strict") as { myModule: { internal: unknown } };
    expect(out.myModule.internal).toEqual({ nodes: ["worker-a", "worker-b"] });
    // Applying it twice fails: the removed path is gone (strict mode).
    expect(() => applyValuesPatch(out, ops, "strict")).toThrow(/missing path/);
  });

  it("is refused for any other module key", () => {
    expect(() =>
      checkHookValuesPatch(
        parseValuesPatch(fixtureText("constructed/values-json-patch.json")),
        "registry",
      ),
    ).toThrow(/unacceptable patch operation for path 'myModule' \(only 'registry' accepted\)/);
  });
});

describe("ValuesStore", () => {
  it("builds VALUES_PATH {global, registry} by layering, CONFIG_VALUES_PATH with user settings only", () => {
    const s = store();
    expect(s.values()).toEqual({
      global: {
        enabledModules: ["alpha", "registry", "zeta"],
        discovery: { apiVersions: ["apps/v1", "v1"] },
        clusterConfiguration: { clusterType: "Static" },
      },
      registry: {
        mode: "Direct",
        replicas: 1, // config-values default
        internal: { fromStatic: "s", state: "Unknown" }, // values defaults applied into static values
      },
    });
    expect(s.configValues()).toEqual({ global: {}, registry: { mode: "Direct" } });
    expect(s.validate()).toEqual([]);
  });

  it("user config overrides static values and defaults; invalid user config is reported", () => {
    const s = store({ mode: "Direct", replicas: 3 });
    expect(getAt(s.values(), dottedPath("registry.replicas"))).toBe(3);
    const bad = store({ mode: "Nope" });
    expect(bad.validate().join("\n")).toMatch(/config values: \/registry\/mode/);
  });

  it("applies add/remove patches strictly and keeps them across recalculation", () => {
    const s = store();
    const res = s.applyHookPatch([
      { op: "add", path: "/registry/internal/state", value: "Ready" },
      { op: "add", path: "/registry/internal/hosts", value: ["a"] },
      { op: "add", path: "/registry/internal/hosts/-", value: "b" },
      { op: "remove", path: "/registry/internal/fromStatic" },
    ]);
    expect(res).toEqual({ ok: true, changed: true });
    expect(s.values().registry).toMatchObject({ internal: { state: "Ready", hosts: ["a", "b"] } });
    expect(getAt(s.values(), ["registry", "internal", "fromStatic"])).toBeUndefined();
    s.setConfigValue(["registry", "replicas"], 2);
    expect(s.values().registry).toMatchObject({
      replicas: 2,
      internal: { state: "Ready", hosts: ["a", "b"] },
    });
    expect(
      s.applyHookPatch([{ op: "add", path: "/registry/internal/state", value: "Ready" }]),
    ).toEqual({
      ok: true,
      changed: false,
    });
  });

  const refusals: [string, Record<string, unknown>[], RegExp][] = [
    [
      "replace",
      [{ op: "replace", path: "/registry/internal/state", value: "Ready" }],
      /unsupported patch operation 'replace'/,
    ],
    [
      "move",
      [{ op: "move", from: "/registry/mode", path: "/registry/internal/x" }],
      /unsupported patch operation 'move'/,
    ],
    [
      "a path outside registry",
      [{ op: "add", path: "/global/x", value: 1 }],
      /only 'registry' accepted/,
    ],
    ["the whole document", [{ op: "add", path: "", value: {} }], /unacceptable patch operation/],
    [
      "add whose parent is missing",
      [{ op: "add", path: "/registry/internal/a/b", value: 1 }],
      /missing path/,
    ],
    [
      "remove of a missing path",
      [{ op: "remove", path: "/registry/internal/nope" }],
      /missing path/,
    ],
    [
      "a patch violating the values schema",
      [{ op: "add", path: "/registry/internal/state", value: "Bogus" }],
      /makes values invalid: \/registry\/internal\/state/,
    ],
    [
      "an unknown property (additionalProperties: false)",
      [{ op: "add", path: "/registry/internal/unknown", value: 1 }],
      /makes values invalid/,
    ],
  ];
  it.each(refusals)("refuses %s and leaves values unchanged", (_name, ops, message) => {
    const s = store();
    s.applyHookPatch([{ op: "add", path: "/registry/internal/state", value: "Ready" }]);
    const before = s.values();
    const stored = s.storedPatches();
    // A valid operation before the bad one must not be applied either.
    const res = s.applyHookPatch([
      { op: "add", path: "/registry/internal/hosts", value: ["x"] },
      ...ops,
    ]);
    expect(res.ok).toBe(false);
    expect(res.ok ? "" : res.error).toMatch(message);
    expect(s.values()).toEqual(before);
    expect(s.storedPatches()).toEqual(stored);
  });

  it("test helpers: valuesSet creates parents as stored patches, valuesDelete removes", () => {
    const s = store();
    s.setValue(dottedPath("registry.internal.deep.er"), 1);
    expect(getAt(s.values(), dottedPath("registry.internal.deep"))).toEqual({ er: 1 });
    s.deleteValue(dottedPath("registry.internal.deep"));
    expect(getAt(s.values(), dottedPath("registry.internal.deep"))).toBeUndefined();
    s.setValue(dottedPath("global.modules.publicDomainTemplate"), "%s.example.com");
    expect(getAt(s.values(), dottedPath("global.modules.publicDomainTemplate"))).toBe(
      "%s.example.com",
    );
    expect(dottedPath("a.b\\.c.0")).toEqual(["a", "b.c", "0"]);
  });
});

describe("stored patch compaction", () => {
  it("last operation per path, parent operations discard sub-paths, sorted by path", () => {
    const stored = compactPatches(
      [
        { op: "add", path: "/m/settings", value: { parent_1: {} } },
        { op: "add", path: "/m/settings/parent_1/field1", value: "foo" },
        { op: "add", path: "/m/z", value: 1 },
      ],
      [
        { op: "add", path: "/m/settings", value: {} },
        { op: "add", path: "/m/a", value: 1 },
        { op: "remove", path: "/m/z" },
      ],
    );
    expect(stored).toEqual([
      { op: "add", path: "/m/a", value: 1 },
      { op: "add", path: "/m/settings", value: {} },
      { op: "remove", path: "/m/z" },
    ]);
  });

  it("lenient application skips removes of missing paths", () => {
    expect(applyValuesPatch({ m: {} }, [{ op: "remove", path: "/m/x" }], "lenient")).toEqual({
      m: {},
    });
  });

  it("the patch file is a JSON stream of arrays and objects; only op/path/value are kept", () => {
    expect(
      parseValuesPatch(
        '[{"op":"add","path":"/r/a","value":1}]\n{"op":"remove","path":"/r/b","from":"/x"}',
      ),
    ).toEqual([
      { op: "add", path: "/r/a", value: 1 },
      { op: "remove", path: "/r/b" },
    ]);
    expect(parseValuesPatch("")).toEqual([]);
    expect(() => parseValuesPatch("[1]")).toThrow(/not an object/);
  });
});
