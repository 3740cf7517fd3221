// check-data-devices (docs/architecture.md#restrictions, #data-devices scenarios 45–48) through the
// harness from cluster objects.
import { describe, expect, it } from "vitest";
import hook from "../../hooks/check-data-devices";
import { createHookTest } from "../../lib/harness/index";
import { moduleConfig, node } from "../fixtures/clusters/generate";

async function run(clusterType: string | undefined, mode: string, labelled: boolean[]) {
  const f = await createHookTest({
    hook,
    openapiDir: "openapi",
    globalValues: clusterType === undefined ? {} : { clusterConfiguration: { clusterType } },
  });
  const nodes = labelled.map((l, i) => {
    const n = node(`node-${i}`, i, false);
    if (l)
      n.metadata.labels = {
        ...n.metadata.labels,
        "node.deckhouse.io/registry-data-device-ready": "true",
      };
    return n;
  });
  const registry =
    mode === "Local"
      ? { mode }
      : mode === "Unmanaged"
        ? undefined
        : { mode, [mode.toLowerCase()]: { imagesRepo: "r.example/d" } };
  f.kubeStateSet([moduleConfig(registry), ...nodes]);
  return f.runHook(f.generateBeforeHelmContext());
}

describe("check-data-devices", () => {
  it("45. cloud cluster, target Local, a node with a data device → passes", async () => {
    expect((await run("Cloud", "Local", [false, true])).ok).toBe(true);
  });
  it.each([[[false]], [[]]])(
    "46. cloud cluster, target Local, nodes %j without data devices → fails",
    async nodes => {
      const r = await run("Cloud", "Local", nodes);
      expect(r.ok).toBe(false);
      expect(r.error).toContain("No nodes with registry data devices found in the cloud cluster");
    },
  );
  it("46. cloud cluster, target Proxy, none → fails, saying what is supported and what is missing", async () => {
    const error = (await run("Cloud", "Proxy", [false])).error;
    expect(error).toContain("No nodes with registry data devices");
    // the same words as the admission policy, and the way out
    expect(error).toContain("Proxy and Local are unsupported for non-static clusters");
    expect(error).toContain("node.deckhouse.io/registry-data-device-ready=true");
  });
  it.each([[[]], [[false]]])("47. static cluster, nodes %j, target Local → passes", async nodes => {
    expect((await run("Static", "Local", nodes)).ok).toBe(true);
  });
  it.each(["Direct", "Unmanaged"])(
    "48. cloud cluster, target %s, no labels → passes",
    async mode => {
      expect((await run("Cloud", mode, [false])).ok).toBe(true);
    },
  );
  it("no cluster type at all with Proxy/Local → fails naming the value", async () => {
    expect((await run(undefined, "Local", [true])).error).toContain(
      "Cluster type 'global.clusterConfiguration.clusterType' not found",
    );
  });
});
