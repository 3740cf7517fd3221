// The render hook inside the built executable: its renderer and templates come from a chunk beside
// the executable (hooks/lib/render.cjs) with precompiled templates, and must render exactly what
// the renderer renders in process.
import { beforeAll, describe, expect, it } from "vitest";
import { createHookTest } from "../../lib/harness/index";
import { renderManifests } from "../../lib/render/manifests";
import { HOOKS_EXE, requireBuild } from "./built";

beforeAll(requireBuild);

const RENDER_INDEX = "1";

describe("render hook in the built executable", () => {
  it("puts the same objects into registry.internal.manifests as the in-process renderer", async () => {
    const globalValues = {
      clusterIsBootstrapped: true,
      clusterConfiguration: { clusterType: "Static" },
    };
    const f = await createHookTest({
      hook: { command: [HOOKS_EXE, "hook", "run", RENDER_INDEX] },
      batch: true,
      openapiDir: "openapi",
      globalValues,
    });
    expect(f.config.beforeHelm).toBe(100);
    const orchestrator = {
      hash: "0123abcd",
      ready: true,
      state: {
        mode: "Direct",
        target_mode: "Direct",
        registry_service: "incluster-proxy",
        conditions: [],
      },
    };
    f.valuesSet("registry.internal.orchestrator", orchestrator);
    const result = await f.runHook(f.generateBeforeHelmContext());
    expect(result.error).toBeUndefined();
    const manifests = f.valuesGet("registry.internal.manifests") as {
      kind: string;
      metadata: { name: string };
    }[];
    expect(manifests.map(o => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "Secret/registry-state",
      "Service/registry",
      "ValidatingAdmissionPolicy/registry-moduleconfig-deckhouse",
      "ValidatingAdmissionPolicy/registry-moduleconfig-deckhouse-module-disabled",
      "ValidatingAdmissionPolicyBinding/registry-moduleconfig-deckhouse",
      "ValidatingAdmissionPolicyBinding/registry-moduleconfig-deckhouse-module-disabled",
    ]);
    const values = f.values() as {
      global: Record<string, unknown>;
      registry: Record<string, unknown>;
    };
    const { manifests: _ignored, ...internal } = values.registry.internal as Record<
      string,
      unknown
    >;
    expect(manifests).toEqual(
      renderManifests({ global: values.global, registry: { ...values.registry, internal } }),
    );
  });
});
