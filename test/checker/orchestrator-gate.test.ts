// The meeting point with the orchestrator, end to end: the orchestrator (Direct to a real
// registry) writes `registry.internal.checker.params`; the checker loop hook checks that registry
// and reports `state.{version, ready, message}`; the orchestrator then sets
// RegistryContainsRequiredImages True with the checker's message. Both hooks run in process
// through the harness; values travel between them as the operator's values store would carry them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCheckerLoopHook } from "../../hooks/checker-loop";
import orchestrator from "../../hooks/orchestrator";
import { createHookTest, type HookTest } from "../../lib/harness/index";
import {
  createLab,
  pushImage,
  startRegistry,
  writeOciLayout,
  type Lab,
  type Registry,
} from "../e2e-lab";
import { cluster } from "../fixtures/clusters/generate";
import { deckhouseDeployment, moduleObject, SCHEDULE, testClock } from "./fixtures";

let lab: Lab;
let reg: Registry;
let digest: string;

beforeAll(async () => {
  lab = await createLab("checker-gate");
  reg = await startRegistry({ dir: lab.path("reg") });
  const img = await writeOciLayout(lab.path("img"), { seed: "gate", tags: ["v1"] });
  digest = (await pushImage(img, reg, "deckhouse/ee", { tag: "v1.70.0" })).digest;
});

afterAll(async () => {
  await lab?.close();
});

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

describe("orchestrator ↔ checker", () => {
  it("RegistryContainsRequiredImages goes True with the checker's message once it is ready for the version", async () => {
    const direct = {
      mode: "Direct",
      direct: { imagesRepo: `${reg.hostPort}/deckhouse/ee`, scheme: "HTTP" },
    };
    const orch: HookTest = await createHookTest({ hook: orchestrator, openapiDir: "openapi" });
    const clock = testClock();
    const loop: HookTest = await createHookTest({
      hook: createCheckerLoopHook({ budgetMs: 5_000, deps: { now: clock.now } }),
      openapiDir: "openapi",
      globalValues: { modulesImages: { digests: { registry: { gateway: digest } } } },
    });
    orch.kubeStateSet(cluster({ nodes: 2, masters: 1, registry: direct }));
    loop.kubeStateSet([
      moduleObject("registry", { critical: true, embedded: true }),
      deckhouseDeployment({ deckhouse: "dev-registry.deckhouse.io/sys/deckhouse-oss:v1.70.0" }),
    ]);
    const condition = () =>
      (
        (orch.valuesGet("registry.internal.orchestrator.state.conditions") ?? []) as Condition[]
      ).find(c => c.type === "RegistryContainsRequiredImages");
    const orchestratorRun = async () => {
      const r = await orch.runHook(orch.generateBeforeHelmContext());
      expect(r.error).toBeUndefined();
    };
    const checkerTick = async () => {
      loop.valuesSet("registry.internal.checker", orch.valuesGet("registry.internal.checker"));
      loop.valuesSet("registry.internal.checker.initialized", true);
      const r = await loop.runHook(loop.generateScheduleContext(SCHEDULE));
      expect(r.error).toBeUndefined();
      orch.valuesSet(
        "registry.internal.checker.state",
        loop.valuesGet("registry.internal.checker.state"),
      );
      clock.advance(10_000);
    };

    await orchestratorRun();
    const params = orch.valuesGet("registry.internal.checker.params") as {
      version: string;
      registries: Record<string, { address: string; scheme: string }>;
    };
    expect(params.registries[reg.hostPort]).toMatchObject({
      address: `${reg.hostPort}/deckhouse/ee`,
      scheme: "HTTP",
    });
    expect(condition()).toMatchObject({ status: "False", message: "Initializing" });

    await checkerTick(); // first tick of the version: Initializing, nothing checked
    await orchestratorRun();
    expect(condition()).toMatchObject({ status: "False", message: "Initializing" });

    await checkerTick();
    expect(loop.valuesGet("registry.internal.checker.state")).toMatchObject({
      version: params.version,
      ready: true,
    });
    await orchestratorRun();
    expect(condition()).toMatchObject({
      status: "True",
      reason: "Ready",
      message: `Mode: Default\n${reg.hostPort}: all 2 items are checked`,
    });
  });
});
