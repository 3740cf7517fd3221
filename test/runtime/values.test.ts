import { describe, expect, it } from "vitest";
import { Values } from "../../lib/runtime/values";

describe("Values recorder", () => {
  it("adds missing parents before the value, because the operator applies patches strictly", () => {
    const values = new Values({ global: {}, registry: { internal: {} } });
    values.set("registry.internal.orchestrator.state", { mode: "Direct" });
    expect(values.patch()).toEqual([
      { op: "add", path: "/registry/internal/orchestrator", value: {} },
      { op: "add", path: "/registry/internal/orchestrator/state", value: { mode: "Direct" } },
    ]);
    expect(values.get("registry.internal.orchestrator.state.mode")).toBe("Direct");
  });

  it("removes only what exists (a strict remove of a missing path fails the hook)", () => {
    const values = new Values({ registry: { internal: { a: 1 } } });
    values.remove("registry.internal.missing");
    values.remove("registry.internal.a");
    expect(values.patch()).toEqual([{ op: "remove", path: "/registry/internal/a" }]);
    expect(values.has("registry.internal.a")).toBe(false);
  });

  it("escapes JSON pointer segments given as an array", () => {
    const values = new Values({ registry: {} });
    values.set(["registry", "a/b", "c~d"], 1);
    expect(values.patch().map(op => op.path)).toEqual(["/registry/a~1b", "/registry/a~1b/c~0d"]);
  });

  it.each(["global.x", "registry", "otherModule.internal"])(
    "refuses a path outside registry.*: %s",
    path => {
      const values = new Values({ registry: {} });
      expect(() => values.set(path, 1)).toThrow(/outside the module's own key "registry"/);
      expect(values.patch()).toEqual([]);
    },
  );

  it("keeps the caller's document untouched", () => {
    const doc = { registry: { internal: {} } };
    new Values(doc).set("registry.internal.x", 1);
    expect(doc).toEqual({ registry: { internal: {} } });
  });
});
