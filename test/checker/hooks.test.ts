// Both checker hooks driven like addon-operator drives them (harness: real jq filters, values
// validated against openapi/values.yaml, kubernetes operations applied), with fake registries.
import { parse } from "yaml";
import { beforeEach, describe, expect, it } from "vitest";
import checkerInit from "../../hooks/checker-init";
import { createCheckerLoopHook } from "../../hooks/checker-loop";
import { CheckFailure, type RegistrySession } from "../../lib/checker";
import { createHookTest, type HookTest } from "../../lib/harness/index";
import {
  checkerStateSecret,
  deckhouseDeployment,
  moduleObject,
  SCHEDULE,
  testClock,
} from "./fixtures";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const DIGESTS = {
  controlPlaneManager: { kubeApiserver: d("a"), etcd: d("b") },
  nodeManager: { agent: d("c") },
  prometheus: { main: d("f") },
};
const CLUSTER = [
  moduleObject("control-plane-manager", { critical: true, embedded: true }),
  moduleObject("node-manager", { critical: true, embedded: true }),
  moduleObject("prometheus", { critical: false, embedded: true }),
  moduleObject("some-external", { critical: true, embedded: false }),
  deckhouseDeployment(
    { deckhouse: "dev.example.com/sys/deckhouse:v1.70.0" },
    { init: `dev.example.com/sys/deckhouse@${d("b")}` },
  ),
];
const PARAMS = {
  version: "v1",
  checkMode: "Default",
  registries: {
    "reg.example.com": {
      address: "reg.example.com/deckhouse/ee",
      scheme: "HTTPS",
      username: "u",
      password: "S3cret-pass",
    },
  },
};

function fakeOpen(present: Set<string>, seen: string[]) {
  return (): RegistrySession => ({
    async check(image) {
      seen.push(image);
      const ref = image.includes("@") ? image.split("@")[1]! : image.split(":").pop()!;
      if (!present.has(ref)) throw new CheckFailure("not found (HTTP 404)");
    },
    close: async () => undefined,
  });
}

describe("checker-init", () => {
  let f: HookTest;
  beforeEach(async () => {
    f = await createHookTest({ hook: checkerInit, openapiDir: "openapi" });
  });

  it("binds the state secret for Synchronization only, in its own queue", () => {
    expect(checkerInit.config()).toEqual({
      configVersion: "v1",
      kubernetes: [
        expect.objectContaining({
          name: "state",
          kind: "Secret",
          nameSelector: { matchNames: ["registry-checker-state"] },
          namespace: { nameSelector: { matchNames: ["d8-system"] } },
          executeHookOnEvent: [],
          queue: "/modules/registry/checker/init",
        }),
      ],
    });
  });

  it("a run without the secret's snapshot (not its binding) restores nothing", async () => {
    const r = await f.runHook([{ binding: "beforeHelm" }]);
    expect(r.ok).toBe(true);
    expect(r.valuesPatch).toEqual([]);
  });

  it("without a secret: empty state and params, initialized", async () => {
    f.kubeStateSet([]);
    const r = await f.runHook();
    expect(r.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.checker")).toEqual({
      initialized: true,
      params: { registries: {}, checkMode: "Default" },
      state: { ready: false },
    });
  });

  it("restores state and params from the secret once", async () => {
    const state =
      'version: v1\nready: true\nmessage: "Mode: Default\\nr: all 3 items are checked"\nqueues:\n  r:\n    processed: 3\n    params_hash: h\n';
    f.kubeStateSet([
      checkerStateSecret({
        state,
        params: `version: v1\nregistries:\n  r:\n    address: r.io/x\n`,
      }),
    ]);
    expect((await f.runHook()).error).toBeUndefined();
    expect(f.valuesGet("registry.internal.checker.state")).toEqual({
      version: "v1",
      ready: true,
      message: "Mode: Default\nr: all 3 items are checked",
      queues: { r: { processed: 3, params_hash: "h" } },
    });
    expect(f.valuesGet("registry.internal.checker.params")).toEqual({
      version: "v1",
      checkMode: "Default",
      registries: { r: { address: "r.io/x", scheme: "HTTPS" } },
    });
    // once initialized, a later Synchronization (hook restart) restores nothing
    const g = await createHookTest({ hook: checkerInit, openapiDir: "openapi" });
    g.valuesSet("registry.internal.checker.initialized", true);
    g.kubeStateSet([checkerStateSecret({ state: "version: other\n" })]);
    expect(g.bindingContexts[0]).toMatchObject({ binding: "state", type: "Synchronization" });
    const again = await g.runHook();
    expect(again.ok).toBe(true);
    expect(again.valuesPatch).toEqual([]);
  });

  it("invalid params are reset and logged without their password; damaged state starts empty", async () => {
    f.kubeStateSet([
      checkerStateSecret({
        state: "queues: [not, a, map\n  password: Pa55-in-state",
        params:
          "registries:\n  r:\n    address: r.io/x\n    scheme: FTP\n    username: u\n    password: Pa55word-leak\n",
      }),
    ]);
    const r = await f.runHook();
    expect(r.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.checker.params")).toEqual({
      registries: {},
      checkMode: "Default",
    });
    expect(f.valuesGet("registry.internal.checker.state")).toEqual({ ready: false });
    expect(f.valuesGet("registry.internal.checker.initialized")).toBe(true);
    const warnings = r.logs
      .filter(l => l.level === "warn")
      .map(l => `${l.msg}: ${String(l.error)}`);
    expect(warnings).toEqual([
      expect.stringMatching(
        /^Cannot restore checker state from the secret: starting empty: invalid YAML \(\w+ at line \d+, column \d+\)$/,
      ),
      'Checker params from the secret failed validation: reset to empty: secret params.registries.r.scheme: must be one of HTTP, HTTPS (got "FTP")',
    ]);
    expect(JSON.stringify(r.logs)).not.toMatch(/Pa55/);
  });
});

describe("checker-loop", () => {
  let f: HookTest;
  let clock: ReturnType<typeof testClock>;
  let present: Set<string>;
  let seen: string[];

  beforeEach(async () => {
    clock = testClock();
    present = new Set([d("a"), d("b"), d("c"), "v1.70.0"]);
    seen = [];
    const hook = createCheckerLoopHook({
      deps: { now: clock.now, openRegistry: fakeOpen(present, seen) },
    });
    f = await createHookTest({
      hook,
      openapiDir: "openapi",
      globalValues: {
        modulesImages: {
          digests: DIGESTS,
          registry: { base: "registry.d8-system.svc:5001/system/deckhouse" },
        },
      },
    });
    f.kubeStateSet(CLUSTER);
    f.valuesSet("registry.internal.checker.initialized", true);
    f.valuesSet("registry.internal.checker.params", PARAMS);
  });

  const tick = () => f.runHook(f.generateScheduleContext(SCHEDULE));

  it("runs every 10 s in its own queue with the snapshots of its three bindings", () => {
    const config = createCheckerLoopHook().config();
    expect(config.schedule).toEqual([
      {
        name: SCHEDULE,
        crontab: "*/10 * * * * *",
        includeSnapshotsFrom: ["modules", "deckhouse", "state"],
        queue: "/modules/registry/checker/loop",
      },
    ]);
    expect(
      config.kubernetes?.map(k => [k.name, k.executeHookOnEvent, k.executeHookOnSynchronization]),
    ).toEqual([
      ["modules", [], false],
      ["deckhouse", [], false],
      ["state", [], false],
    ]);
  });

  it("only schedule runs are ticks", async () => {
    const r = await f.runHook([{ binding: "beforeHelm" }]);
    expect(r.ok).toBe(true);
    expect(r.valuesPatch).toEqual([]);
    expect(seen).toEqual([]);
  });

  it("does nothing before the init hook has run", async () => {
    f.valuesSet("registry.internal.checker.initialized", false);
    const r = await tick();
    expect(r.valuesPatch).toEqual([]);
    expect(r.kubernetesOperations).toEqual([]);
  });

  it("Initializing, then all items checked; state persisted to the secret only when it changed", async () => {
    let r = await tick();
    expect(r.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.checker.state")).toMatchObject({
      version: "v1",
      ready: false,
      message: "Initializing",
    });
    expect(seen).toEqual([]);
    const secret = f.kubernetesResource("Secret", "d8-system", "registry-checker-state");
    expect(secret).toMatchObject({
      type: "registry-checker/state",
      metadata: { labels: { heritage: "deckhouse", module: "registry" } },
    });
    const data = secret?.data as Record<string, string>;
    expect(parse(Buffer.from(data.params!, "base64").toString())).toEqual(PARAMS);
    expect(parse(Buffer.from(data.state!, "base64").toString())).toMatchObject({
      version: "v1",
      message: "Initializing",
    });

    clock.advance(10_000);
    f.observeCluster();
    r = await tick();
    // critical embedded modules only (not prometheus, not the external one); b de-duplicated
    expect(seen.sort()).toEqual([
      `reg.example.com/deckhouse/ee:v1.70.0`,
      `reg.example.com/deckhouse/ee@${d("a")}`,
      `reg.example.com/deckhouse/ee@${d("b")}`,
      `reg.example.com/deckhouse/ee@${d("c")}`,
    ]);
    expect(f.valuesGet("registry.internal.checker.state")).toMatchObject({
      version: "v1",
      ready: true,
      message: "Mode: Default\nreg.example.com: all 4 items are checked",
    });
    expect(r.kubernetesOperations).toHaveLength(1);
    f.observeCluster();
    r = await tick();
    expect(r.valuesPatch).toEqual([]);
    expect(r.kubernetesOperations).toEqual([]);
    expect(JSON.stringify(f.logs())).not.toContain("S3cret-pass");
  });

  it("missing images: error blocks, not ready; found after the retry delay once pushed", async () => {
    present.delete(d("c"));
    await tick();
    clock.advance(10_000);
    await tick();
    expect(f.valuesGet("registry.internal.checker.state.ready")).toBe(false);
    expect(f.valuesGet("registry.internal.checker.state.message")).toBe(
      [
        "Mode: Default",
        "reg.example.com: 3 of 4 items processed, 1 items with errors:",
        "- source: module/node-manager/agent",
        `  image: reg.example.com/deckhouse/ee@${d("c")}`,
        "  error: not found (HTTP 404)",
      ].join("\n"),
    );
    present.add(d("c"));
    clock.advance(10_000);
    await tick(); // retry moved back, waits 10 s
    expect(seen.filter(s => s.endsWith(d("c")))).toHaveLength(1);
    clock.advance(10_000);
    await tick();
    expect(f.valuesGet("registry.internal.checker.state")).toMatchObject({
      ready: true,
      message: "Mode: Default\nreg.example.com: all 4 items are checked",
    });
  });

  it("Relax with a digest-referenced deckhouse image fails the run with the spec's error; values stay", async () => {
    f.valuesSet("registry.internal.checker.params", { ...PARAMS, checkMode: "Relax" });
    f.kubeStateSet([
      ...CLUSTER.slice(0, 4),
      deckhouseDeployment({ deckhouse: `dev.example.com/sys/deckhouse@${d("9")}` }),
    ]);
    const before = f.values();
    const r = await tick();
    expect(r.ok).toBe(false);
    expect(r.error).toContain(
      `expected deckhouse image reference to be a tag, but got: reg.example.com/deckhouse/ee@${d("9")}`,
    );
    expect(f.values()).toEqual(before);
  });

  it("no registries: Stopped and ready, even without modules", async () => {
    f.valuesSet("registry.internal.checker.params", { version: "empty", registries: {} });
    f.kubeStateSet([]);
    await tick();
    expect(f.valuesGet("registry.internal.checker.state")).toEqual({
      version: "empty",
      ready: true,
      message: "Stopped",
    });
  });

  it("a registry to check but no Module snapshot entries is an error", async () => {
    f.kubeStateSet([CLUSTER[4]!]);
    const r = await tick();
    expect(r.ok).toBe(false);
    expect(r.error).toContain("modules snapshot contains no entries");
  });
});
