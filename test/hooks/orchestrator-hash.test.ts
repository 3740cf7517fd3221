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

async function hashWith(deployment: object): Promise<string> {
  const f = await createHookTest({ hook: orchestrator, openapiDir: "openapi" });
  f.kubeStateSet([...cluster({ nodes: 5, masters: 3, registry: direct }), deployment]);
  const r = await f.runHook(f.generateBeforeHelmContext());
  expect(r.error).toBeUndefined();
  return f.valuesGet("registry.internal.orchestrator.hash") as string;
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
});
