// The inputs hash the orchestrator stamps on every object (`registry.deckhouse.io/hash`, and
// `config-hash`) must not follow the in-cluster proxy Deployment's own generation. Kubernetes
// bumps a Deployment's metadata.generation when its annotations change, so a hash over the
// generation feeds itself: each module run re-annotates the Deployment, the bump changes the
// snapshot, the next run computes a new hash, Helm re-annotates… a module run every few seconds
// for as long as the Deployment exists (seen in the sandbox: generation 23 → 29 in 30 s of a
// converged Direct mode), and InClusterProxyReady flapping to "not yet observed" meanwhile.
import { describe, expect, it } from "vitest";
import orchestrator from "../../hooks/orchestrator";
import { createHookTest } from "../../lib/harness/index";
import { cluster } from "../fixtures/clusters/generate";
import * as settings from "../support/settings";

const direct = settings.direct();

function inClusterProxy(generation: number, observed: number, available = 3) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "registry-incluster-proxy",
      namespace: "d8-system",
      generation,
      annotations: { "registry.deckhouse.io/version": "v1" },
    },
    spec: { replicas: 3 },
    status: {
      observedGeneration: observed,
      replicas: 3,
      updatedReplicas: 3,
      availableReplicas: available,
    },
  };
}

async function hashOf(objects: object[]): Promise<string> {
  const f = await createHookTest({ hook: orchestrator, openapiDir: "openapi" });
  f.kubeStateSet(objects);
  const r = await f.runHook(f.generateBeforeHelmContext());
  expect(r.error).toBeUndefined();
  return f.valuesGet("registry.internal.orchestrator.hash") as string;
}

const hashWith = (deployment: object) =>
  hashOf([...cluster({ nodes: 5, masters: 3, registry: direct }), deployment]);

interface NodeObject {
  kind: string;
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  status: { addresses: { type: string; address: string }[] };
}

/** A cluster of 40 Nodes with `change` applied to worker-17 only. */
function nodesWith(change: (node: NodeObject) => void): object[] {
  const objects = cluster({ nodes: 40, masters: 3, registry: direct }) as unknown as NodeObject[];
  const node = objects.find(o => o.kind === "Node" && o.metadata.name === "worker-17");
  if (!node) throw new Error("the generated cluster has no worker-17");
  change(node);
  return objects;
}

describe("orchestrator inputs hash", () => {
  it("stays the same when only the in-cluster proxy Deployment's generation moved", async () => {
    expect(await hashWith(inClusterProxy(6, 6))).toBe(await hashWith(inClusterProxy(5, 5)));
  });

  it("still changes with what the rollout reports (an input of the conditions)", async () => {
    expect(await hashWith(inClusterProxy(5, 5, 2))).not.toBe(
      await hashWith(inClusterProxy(5, 5, 3)),
    );
  });

  // Thousands of Nodes are narrowed on every run, through a path without per-field guards
  // (docs/adr/0145): the hash must still follow each field of each Node, and only those.
  it.each([
    [
      "its version annotation",
      (n: NodeObject) => {
        n.metadata.annotations["registry.deckhouse.io/version"] = "v2";
      },
    ],
    [
      "its InternalIP",
      (n: NodeObject) => {
        n.status.addresses = [{ type: "InternalIP", address: "10.9.9.9" }];
      },
    ],
    [
      "its containerd config label",
      (n: NodeObject) => {
        n.metadata.labels["node.deckhouse.io/containerd-config-registry"] = "custom";
      },
    ],
    [
      "its control-plane label",
      (n: NodeObject) => {
        n.metadata.labels["node-role.kubernetes.io/control-plane"] = "";
      },
    ],
  ])("changes when one Node of 40 changes %s", async (_, change) => {
    expect(await hashOf(nodesWith(change))).not.toBe(await hashOf(nodesWith(() => undefined)));
  });

  it("stays the same for the same Nodes, and when a Node changes outside its projection", async () => {
    const same = await hashOf(nodesWith(() => undefined));
    expect(await hashOf(nodesWith(() => undefined))).toBe(same);
    expect(
      await hashOf(
        nodesWith(n => {
          n.metadata.labels["topology.kubernetes.io/zone"] = "b";
        }),
      ),
    ).toBe(same);
  });
});
