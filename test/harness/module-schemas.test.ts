// The harness with the module's real OpenAPI schemas (openapi/): defaults reach VALUES_PATH,
// user settings stay alone in CONFIG_VALUES_PATH, and a patch the values schema refuses is refused.
import { describe, expect, it } from "vitest";
import { createHookTest } from "../../lib/harness";

const HOOK = { command: ["/bin/false"], config: { configVersion: "v1" as const, beforeHelm: 1 } };

describe("openapiDir: the module's own schemas", () => {
  it("layers defaults from openapi/ and validates against them", async () => {
    const f = await createHookTest({
      hook: HOOK,
      openapiDir: "openapi",
      configValues: { https: { mode: "OnlyInURI" } },
    });
    expect(f.configValues()).toEqual({ global: {}, registry: { https: { mode: "OnlyInURI" } } });
    expect(f.valuesGet("registry.https.mode")).toBe("OnlyInURI");
    // Nested defaults exist because every parent has `default: {}`.
    expect(f.valuesGet("registry.internal.orchestrator.state")).toBeTypeOf("object");

    const bad = await createHookTest({
      hook: HOOK,
      openapiDir: "openapi",
      configValues: { https: { mode: "Sometimes" } },
    });
    const res = await bad.runHook(bad.generateBeforeHelmContext());
    expect(res.ok).toBe(false);
    expect(res.error).toMatch(
      /values are invalid before the run: config values: \/registry\/https\/mode/,
    );
  });
});
