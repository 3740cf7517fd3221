// The orchestrator's input side (docs/architecture.md#orchestrator steps 1–4) against hand-made
// snapshots: what the handler does with each situation, independent of jq.
// test/hooks/orchestrator-harness.test.ts drives the same hook from cluster objects through the
// harness and the built executable.
import { describe, expect, it } from "vitest";
import orchestrator from "../../hooks/orchestrator";
import { executeHook, HookRunError } from "../../lib/runtime/define-hook";
import type { LogRecord } from "../../lib/runtime/logger";
import type { ObjectAndFilterResult } from "../../lib/runtime/types";
import * as settings from "../support/settings";

const b64 = (s: string) => Buffer.from(s).toString("base64");

interface Situation {
  registry?: unknown;
  generation?: number;
  stateSecret?: string;
  orchestrator?: unknown;
}

async function run(s: Situation) {
  const snapshots: Record<string, ObjectAndFilterResult[]> = {
    config:
      "registry" in s
        ? [{ filterResult: { generation: s.generation ?? 1, registry: s.registry ?? null } }]
        : [],
    state:
      s.stateSecret === undefined
        ? []
        : [{ filterResult: { data: { state: b64(s.stateSecret) } } }],
    "registry-secret": [
      {
        filterResult: {
          data: {
            address: b64("registry.deckhouse.io"),
            path: b64("/deckhouse/ce"),
            scheme: b64("https"),
          },
        },
      },
    ],
  };
  const logs: LogRecord[] = [];
  const internal = s.orchestrator === undefined ? {} : { orchestrator: s.orchestrator };
  const output = await executeHook(orchestrator, {
    bindingContexts: [{ binding: "beforeHelm", snapshots }],
    values: { global: {}, registry: { internal } },
    configValues: { global: {}, registry: {} },
    log: r => logs.push(r),
  });
  const orchestratorOps = output.valuesPatch.filter(
    op => op.path === "/registry/internal/orchestrator",
  );
  return { ...output, logs, orchestratorOps };
}

// a trailing slash, as users write it
const direct = settings.direct(settings.licensed(settings.LICENCE, `${settings.UPSTREAM_REPO}/`));

describe("orchestrator input side", () => {
  it("reads an absent ModuleConfig deckhouse as default settings: a switch to legacy Unmanaged", async () => {
    const out = await run({ orchestrator: { hash: "x", state: { mode: "Direct" } } });
    expect(out.orchestratorOps).toHaveLength(1);
    expect(out.orchestratorOps[0]).toMatchObject({
      value: { state: { target_mode: "Unmanaged" } },
    });
  });

  it("fails closed when the run carries no snapshots at all (cannot tell absent from unknown)", async () => {
    const attempt = executeHook(orchestrator, {
      bindingContexts: [{ binding: "beforeHelm" }],
      values: {
        global: {},
        registry: { internal: { orchestrator: { state: { mode: "Direct" } } } },
      },
      configValues: { global: {}, registry: {} },
    });
    await expect(attempt).rejects.toThrow("the run carries no snapshot of binding config");
  });

  it("without ModuleConfig deckhouse and without state: legacy Unmanaged, Ready", async () => {
    const out = await run({});
    expect(out.orchestratorOps[0]).toMatchObject({
      op: "add",
      value: { ready: true, state: { mode: "Unmanaged", target_mode: "Unmanaged" } },
    });
  });

  it("warns when a section is ignored for want of a mode (legacy Unmanaged, docs/adr/0080)", async () => {
    const out = await run({ registry: { direct: direct.direct } });
    expect(out.orchestratorOps[0]).toMatchObject({
      value: { state: { mode: "Unmanaged", target_mode: "Unmanaged" } },
    });
    expect(out.logs).toContainEqual(
      expect.objectContaining({ level: "warn", section: "registry.direct" }),
    );
  });

  it.each([
    [{ mode: "Direct" }, "registry.direct: Section 'direct' is required when mode is 'Direct'"],
    [
      { mode: "Proxy", proxy: { imagesRepo: "r.example/d" }, direct: direct.direct },
      "registry.direct: Section 'direct' must be empty when mode is not 'Direct'",
    ],
    [{ mode: "Mirror" }, 'registry.mode: Unknown registry mode: "Mirror"'],
    [
      { mode: "Direct", direct: { imagesRepo: "r.example/d", scheme: "http" } },
      "Invalid scheme 'http'; expected 'HTTP' or 'HTTPS'",
    ],
    [
      { mode: "Direct", direct: { imagesRepo: "r.example/d", username: "u" } },
      "Password is required when username is provided",
    ],
  ])("fails the run on invalid settings %j, with the rule's message", async (registry, message) => {
    const attempt = run({ registry, orchestrator: { hash: "kept", state: { mode: "Unmanaged" } } });
    await expect(attempt).rejects.toThrow(HookRunError);
    await expect(attempt).rejects.toThrow(message);
  });

  it("restores the state from the registry-state secret when values hold none", async () => {
    const out = await run({
      registry: direct,
      stateSecret: "mode: Direct\ntarget_mode: Direct\nconditions: []\n",
    });
    expect(out.orchestratorOps).toHaveLength(1);
    expect(out.orchestratorOps[0]).toMatchObject({
      op: "add",
      path: "/registry/internal/orchestrator",
      value: { state: { mode: "Direct", target_mode: "Direct" } },
    });
  });

  it("keeps the state from values and ignores the secret then", async () => {
    const out = await run({
      registry: direct,
      orchestrator: { state: { mode: "Proxy", target_mode: "Direct" } },
      stateSecret: "mode: Local\n",
    });
    expect(out.orchestratorOps[0]).toMatchObject({
      value: { state: { mode: "Proxy", target_mode: "Direct" } },
    });
  });

  it("starts from Unmanaged when there is no state anywhere", async () => {
    const out = await run({ registry: direct });
    expect(out.orchestratorOps[0]).toMatchObject({ value: { state: { mode: "Unmanaged" } } });
  });

  it("starts from Unmanaged, with a warning, when the state secret is damaged", async () => {
    const out = await run({ registry: direct, stateSecret: "mode: Sideways\n" });
    expect(out.orchestratorOps[0]).toMatchObject({ value: { state: { mode: "Unmanaged" } } });
    expect(out.logs).toContainEqual(
      expect.objectContaining({
        level: "warn",
        msg: "cannot restore state from Secret registry-state",
      }),
    );
  });

  it("refuses values it cannot trust, naming the field", async () => {
    await expect(run({ registry: direct, orchestrator: { state: { mode: 5 } } })).rejects.toThrow(
      "registry.internal.orchestrator.state.mode: must be one of Unmanaged, Direct, Proxy, Local, got 5",
    );
  });

  it("hashes its inputs: same inputs, same hash; changed settings, new hash", async () => {
    const hashOf = async (registry: unknown, generation = 1) => {
      const out = await run({ registry, generation });
      return (out.orchestratorOps[0] as { value: { hash: string } }).value.hash;
    };
    const first = await hashOf(direct);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(await hashOf(direct)).toBe(first);
    expect(await hashOf(direct, 2)).not.toBe(first);
    expect(await hashOf({ mode: "Local" })).not.toBe(first);
  });

  it("never writes the licence into logs", async () => {
    const out = await run({
      registry: settings.direct(settings.licensed(settings.LICENCE, "r.example/x")),
    });
    expect(JSON.stringify(out.logs)).not.toContain(settings.LICENCE);
  });
});
