// Cluster objects and values the checker hooks read: Modules (critical embedded or not), the
// deckhouse Deployment, module image digests, and the checker state secret.
import type { KubeObject } from "../../lib/runtime/types";

export function moduleObject(
  name: string,
  opts: { critical: boolean; embedded: boolean },
): KubeObject {
  return {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "Module",
    metadata: { name },
    properties: {
      source: opts.embedded ? "Embedded" : "deckhouse",
      critical: opts.critical,
      weight: 10,
    },
  };
}

export function deckhouseDeployment(
  containers: Record<string, string>,
  initContainers: Record<string, string> = {},
): KubeObject {
  const list = (m: Record<string, string>) =>
    Object.entries(m).map(([name, image]) => ({ name, image }));
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "deckhouse", namespace: "d8-system" },
    spec: {
      selector: { matchLabels: { app: "deckhouse" } },
      template: {
        metadata: { labels: { app: "deckhouse" } },
        spec: { containers: list(containers), initContainers: list(initContainers) },
      },
    },
  };
}

export function checkerStateSecret(data: { state?: string; params?: string }): KubeObject {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "registry-checker/state",
    metadata: { name: "registry-checker-state", namespace: "d8-system" },
    data: {
      ...(data.state === undefined ? {} : { state: b64(data.state) }),
      ...(data.params === undefined ? {} : { params: b64(data.params) }),
    },
  };
}

/** A controllable clock for the loop hook. */
export function testClock(start = Date.parse("2026-11-26T10:00:00Z")) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms) };
}

export const SCHEDULE = "checker loop every 10 sec";
