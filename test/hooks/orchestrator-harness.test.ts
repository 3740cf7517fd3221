// The orchestrator driven like addon-operator drives it: cluster objects → binding contexts (real
// jq filters through wasm jq) → the hook → values patch applied strictly and validated against
// openapi/values.yaml. Each case runs three ways: in process, the built batch executable
// (`hook run 0`, group "main" semantics) and the built per-hook launcher.
import { beforeAll, describe, expect, it } from "vitest";
import orchestrator from "../../hooks/orchestrator";
import { createHookTest, type HookTest } from "../../lib/harness/index";
import { HOOKS_EXE, requireBuild, shellHook } from "../contract/built";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import * as settings from "../support/settings";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const HOOK_INDEX = "0";

const runners = {
  "in process": () => createHookTest({ hook: orchestrator, openapiDir: "openapi" }),
  "built batch executable": () =>
    createHookTest({
      hook: { command: [HOOKS_EXE, "hook", "run", HOOK_INDEX] },
      batch: true,
      openapiDir: "openapi",
    }),
  "built per-hook launcher": () =>
    createHookTest({ hook: { command: [shellHook("orchestrator")] }, openapiDir: "openapi" }),
};

const direct = settings.direct();

const stateSecret = (state: string) => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name: "registry-state", namespace: "d8-system" },
  data: { state: b64(state) },
});

beforeAll(requireBuild);

describe.each(Object.entries(runners))("orchestrator through the harness (%s)", (_, make) => {
  let f: HookTest;

  beforeAll(async () => {
    f = await make();
  });

  it("Synchronization then beforeHelm: restores the state and records the inputs hash", async () => {
    f.kubeStateSet([
      ...cluster({ nodes: 5, masters: 3, registry: direct }),
      stateSecret("mode: Direct\n"),
    ]);
    expect((await f.runHook()).ok).toBe(true);
    const beforeHelm = f.generateBeforeHelmContext();
    expect(beforeHelm[0]?.snapshots?.config).toHaveLength(1);
    expect(beforeHelm[0]?.snapshots?.["bashible-->nodes"]).toHaveLength(5);
    expect(beforeHelm[0]?.snapshots?.["node-services-->master-nodes"]).toHaveLength(3);
    const r = await f.runHook(beforeHelm);
    expect(r.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.orchestrator.state.mode")).toBe("Direct");
    expect(f.valuesGet("registry.internal.orchestrator.hash")).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(r.logs)).not.toContain(settings.LICENCE);
  });

  it("an Event with invalid settings fails the run with the rule's message; values stay", async () => {
    const before = f.values();
    f.kubeStateSet([
      ...cluster({ nodes: 5, masters: 3, registry: { mode: "Direct" }, generation: 2 }),
      stateSecret("mode: Direct\n"),
    ]);
    expect(f.bindingContexts.map(b => b.binding)).toEqual(["config"]);
    const r = await f.runHook();
    expect(r.ok).toBe(false);
    expect(r.error).toContain(
      "registry.direct: Section 'direct' is required when mode is 'Direct'",
    );
    expect(f.values()).toEqual(before);
  });

  it("ModuleConfig deckhouse deleted: its default settings, a switch to legacy Unmanaged", async () => {
    f.kubeStateSet(
      cluster({ nodes: 5, masters: 3, registry: direct }).filter(o => o.kind !== "ModuleConfig"),
    );
    expect(f.bindingContexts.map(b => b.binding)).toEqual(["state"]);
    const r = await f.runHook();
    expect(r.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.orchestrator.state.target_mode")).toBe("Unmanaged");
  });

  it("ModuleConfig back without a registry section: legacy Unmanaged", async () => {
    f.kubeStateSet([...cluster({ nodes: 5, masters: 3 }), moduleConfig(undefined, 4)]);
    const r = await f.runHook(f.generateBeforeHelmContext());
    expect(r.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.orchestrator.state.mode")).toBe("Unmanaged");
    expect(f.valuesGet("registry.internal.orchestrator.ready")).toBe(true);
  });
});
