// lib/validation's reader, the one way input is validated (docs/adr/0130): collecting every
// problem for a data-plane config, or stopping at the first with the caller's error for a hook.
import { describe, expect, it } from "vitest";
import { ConfigError, isRecord, Problems } from "../../lib/validation/reader";

class FirstProblem extends Error {}

describe("Problems", () => {
  it("collects every problem, each naming its field path and rule, and throws them together", () => {
    const p = new Problems("test config");
    const root = p.root({ a: 5, list: [{ name: 1 }, "x"], extra: true });
    root.string("a");
    root.string("b", { required: true });
    for (const item of root.sections("list") ?? []) item.string("name");
    root.noOtherKeys();
    expect(() => p.finish()).toThrow(ConfigError);
    expect(p.list).toEqual([
      { field: "a", rule: "must be a string, got number" },
      { field: "b", rule: "required" },
      { field: "list[1]", rule: "must be a mapping, got string" },
      { field: "list[0].name", rule: "must be a string, got number" },
      { field: "extra", rule: "unknown key" },
    ]);
  });

  it("failFast throws the caller's error at the first problem, with the root path prefixed", () => {
    const p = new Problems("settings", {
      failFast: ({ field, rule }) => new FirstProblem(`${field}: ${rule}`),
    });
    const root = p.root({ direct: { imagesRepo: 7 } }, "registry");
    const direct = root.section("direct");
    expect(() => direct?.string("imagesRepo")).toThrow(
      new FirstProblem("registry.direct.imagesRepo: must be a string, got number"),
    );
    expect(p.list).toEqual([]);
  });

  it("names a nested mapping by the path given where `parent.key` would not do", () => {
    const p = new Problems("bashible config");
    const hosts = p.root({ hosts: { "a.io": { mirrors: 1 } } }).section("hosts");
    const host = hosts?.section("a.io", { path: 'hosts["a.io"]' });
    host?.sections("mirrors");
    expect(p.list).toEqual([
      { field: 'hosts["a.io"].mirrors', rule: "must be a list, got number" },
    ]);
  });

  it("a root that is not a mapping is one problem, in the caller's words when given", () => {
    const p = new Problems("x");
    p.root([1], "registry", () => "must be an object");
    expect(p.list).toEqual([{ field: "registry", rule: "must be an object" }]);
  });
});

describe("isRecord", () => {
  it.each([
    [{}, true],
    [{ a: 1 }, true],
    [[], false],
    [null, false],
    ["s", false],
    [undefined, false],
  ])("%j → %s", (value, expected) => {
    expect(isRecord(value)).toBe(expected);
  });
});
