// Synthetic clusters: N nodes (the first `masters` of them control-plane), the deckhouse
// ModuleConfig with the given registry settings, the deckhouse-registry secret and the deckhouse
// leader pod, as a real cluster would show them. The build warms the hooks executable's snapshot
// up on one (docs/adr/0118), so it lives beside the simulator rather than under test/; tests and
// benchmarks use it too.
import { MODULE_NAMESPACE } from "../domain/names";
import type { KubeObject } from "../runtime/types";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

export interface ClusterOptions {
  nodes: number;
  masters: number;
  registry?: Record<string, unknown>;
  generation?: number;
}

export function node(name: string, index: number, master: boolean): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      labels: {
        "kubernetes.io/hostname": name,
        ...(master
          ? { "node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": "" }
          : {}),
      },
      annotations: { "registry.deckhouse.io/version": "unknown" },
    },
    status: {
      addresses: [
        {
          type: "InternalIP",
          address: `10.${Math.floor(index / 65536) % 256}.${Math.floor(index / 256) % 256}.${index % 256}`,
        },
        { type: "Hostname", address: name },
      ],
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
}

export function moduleConfig(
  registry: Record<string, unknown> | undefined,
  generation = 1,
): KubeObject {
  return {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "ModuleConfig",
    metadata: { name: "deckhouse", generation },
    spec: { version: 1, enabled: true, settings: registry === undefined ? {} : { registry } },
  };
}

export function deckhouseRegistrySecret(): KubeObject {
  const auth = b64("license-token:secret-licence");
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/dockerconfigjson",
    metadata: { name: "deckhouse-registry", namespace: MODULE_NAMESPACE },
    data: {
      address: b64("registry.deckhouse.io"),
      path: b64("/deckhouse/ee"),
      scheme: b64("https"),
      ".dockerconfigjson": b64(JSON.stringify({ auths: { "registry.deckhouse.io": { auth } } })),
    },
  };
}

export function deckhouseLeaderPod(): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "deckhouse-5d8f7c9b6-abcde",
      namespace: MODULE_NAMESPACE,
      labels: { app: "deckhouse", leader: "true" },
      annotations: { "checksum/registry-version": "0" },
    },
    spec: { nodeName: "master-0" },
    status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
  };
}

export function cluster(options: ClusterOptions): KubeObject[] {
  const objects: KubeObject[] = [];
  for (let i = 0; i < options.nodes; i++) {
    const master = i < options.masters;
    objects.push(node(master ? `master-${i}` : `worker-${i - options.masters}`, i, master));
  }
  objects.push(moduleConfig(options.registry, options.generation));
  objects.push(deckhouseRegistrySecret());
  objects.push(deckhouseLeaderPod());
  return objects;
}
