// The other actors of a cluster, played by the simulator between two module runs: what nodes,
// deckhouse-controller, the Deployment controller, kubelet (static pods) and the checker would do
// in response to what the module rendered. Each actor reads and edits plain objects.
import { parse } from "yaml";
import { MODULE_NAMESPACE as NS } from "../domain/names";
import { NODE_SERVICES_POD_SELECTOR } from "../domain/node-services";
import { registrySecretHash } from "../orchestrator/switcher";
import type { KubeObject } from "../runtime/types";

const fromB64 = (s: unknown): string =>
  typeof s === "string" ? Buffer.from(s, "base64").toString("utf8") : "";

type World = Map<string, KubeObject>;

export function keyOf(o: KubeObject): string {
  const group = o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "";
  return `${group}|${o.kind}|${o.metadata.namespace ?? ""}|${o.metadata.name}`;
}

function find(world: World, kind: string, namespace: string, name: string): KubeObject | undefined {
  for (const o of world.values()) {
    if (o.kind === kind && (o.metadata.namespace ?? "") === namespace && o.metadata.name === name) {
      return o;
    }
  }
  return undefined;
}

function secretData(o: KubeObject | undefined): Record<string, string> {
  return ((o?.data ?? {}) as Record<string, string>) ?? {};
}

/**
 * bashible on every node: apply the registry config and report its version
 * (docs/architecture.md#node-side).
 */
export function nodesApplyBashible(world: World): void {
  const secret = find(world, "Secret", NS, "registry-bashible-config");
  const config = secret
    ? (parse(fromB64(secretData(secret).config)) as { version?: string })
    : undefined;
  for (const node of world.values()) {
    if (node.kind !== "Node") continue;
    const labels = (node.metadata.labels ??= {});
    labels["node.deckhouse.io/containerd-config-registry"] ??= "default";
    if (config?.version) {
      (node.metadata.annotations ??= {})["registry.deckhouse.io/version"] = config.version;
    }
  }
}

/** deckhouse-controller restarts with the registry of `deckhouse-registry` and stamps its hash. */
export function deckhouseFollowsRegistry(world: World): void {
  const secret = find(world, "Secret", NS, "deckhouse-registry");
  if (!secret) return;
  const d = secretData(secret);
  const ca = fromB64(d.ca);
  const hash = registrySecretHash({
    address: fromB64(d.address),
    path: fromB64(d.path),
    scheme: fromB64(d.scheme),
    ...(ca ? { ca } : {}),
    dockerConfigJson: fromB64(d[".dockerconfigjson"]),
  });
  for (const pod of world.values()) {
    if (pod.kind !== "Pod" || pod.metadata.labels?.app !== "deckhouse") continue;
    if (pod.metadata.labels.leader !== "true") continue;
    (pod.metadata.annotations ??= {})["checksum/registry-version"] = hash;
    pod.status = { phase: "Running", conditions: [{ type: "Ready", status: "True" }] };
  }
}

/** The Deployment controller: every rendered Deployment rolls out completely. */
export function deploymentsRollOut(world: World): void {
  for (const d of world.values()) {
    if (d.kind !== "Deployment" || d.metadata.namespace !== NS) continue;
    d.metadata.generation ??= 1;
    const replicas = ((d.spec as { replicas?: number } | undefined)?.replicas ?? 1) as number;
    d.status = {
      observedGeneration: d.metadata.generation,
      replicas,
      updatedReplicas: replicas,
      availableReplicas: replicas,
      readyReplicas: replicas,
    };
  }
}

/**
 * nodeservices-manager + kubelet on each master: a node config secret becomes a Ready mirror pod
 * stamped with the config version; a removed secret removes the pod.
 */
export function mastersRunNodeServices(world: World): void {
  const wanted = new Map<string, string>();
  for (const s of world.values()) {
    if (s.kind !== "Secret" || s.metadata.namespace !== NS) continue;
    if (!s.metadata.name.startsWith("registry-node-config-")) continue;
    wanted.set(
      s.metadata.name.slice("registry-node-config-".length),
      fromB64(secretData(s).version),
    );
  }
  for (const [key, pod] of [...world.entries()]) {
    if (pod.kind !== "Pod" || pod.metadata.labels?.type !== "node-services") continue;
    const node = (pod.spec as { nodeName?: string } | undefined)?.nodeName ?? "";
    if (!wanted.has(node)) world.delete(key);
  }
  for (const [node, version] of wanted) {
    const pod: KubeObject = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `registry-nodeservices-${node}`,
        namespace: NS,
        // what the orchestrator watches for (hooks/orchestrator/bindings.ts), as the manager writes
        labels: { ...NODE_SERVICES_POD_SELECTOR, tier: "control-plane" },
        annotations: { "registry.deckhouse.io/config-version": version },
        ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid: `uid-${node}` }],
      },
      spec: { nodeName: node },
      status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
    };
    world.set(keyOf(pod), pod);
  }
}

export interface CheckerReport {
  version: string;
  ready: boolean;
  message: string;
}

/** The checker: reports the required images present in every registry of the params. */
export function checkerReportsReady(params: unknown): CheckerReport | undefined {
  if (params === null || typeof params !== "object") return undefined;
  const p = params as {
    version?: string;
    checkMode?: string;
    registries?: Record<string, unknown>;
  };
  if (!p.version) return undefined;
  const names = Object.keys(p.registries ?? {}).sort();
  if (names.length === 0) return { version: p.version, ready: true, message: "Stopped" };
  const lines = names.map(n => `${n}: all 42 items are checked`);
  return {
    version: p.version,
    ready: true,
    message: [`Mode: ${p.checkMode ?? "Default"}`, ...lines].join("\n"),
  };
}
