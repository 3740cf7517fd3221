// Putting a cluster's objects into the lab API server as the actors that own them would: the
// object by server-side apply, then its status through the status subresource (what kubelet, a
// controller or an operator writes). Fields only the server sets are dropped first.
//
//   await seedObjects(cp, objects)              objects as YAML fixtures describe them
//   await seedStaticCluster(cp)                 CRDs, namespaces, examples/cluster.yaml
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseAllDocuments } from "yaml";
import type { ControlPlane } from "./control-plane";
import { installLabCrds } from "./crds";

export interface LabObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  status?: unknown;
  [k: string]: unknown;
}

/** Namespaces the module's objects live in (d8-monitoring: its PodMonitor and PrometheusRule). */
export const LAB_NAMESPACES = ["d8-system", "d8-monitoring"] as const;

export const EXAMPLE_CLUSTER = resolve(import.meta.dirname, "../../examples/cluster.yaml");

const SERVER_SET = ["generation", "resourceVersion", "uid", "creationTimestamp", "managedFields"];

function withoutServerFields(o: LabObject): LabObject {
  const { status: _status, ...rest } = structuredClone(o);
  for (const f of SERVER_SET) delete (rest.metadata as Record<string, unknown>)[f];
  return rest as LabObject;
}

/** The `kubectl` resource argument of an object: `Kind/name`, `Kind.version.group/name`. */
export function resourceRef(o: LabObject): string {
  const slash = o.apiVersion.indexOf("/");
  const kind =
    slash < 0
      ? o.kind
      : `${o.kind}.${o.apiVersion.slice(slash + 1)}.${o.apiVersion.slice(0, slash)}`;
  return `${kind}/${o.metadata.name}`;
}

/**
 * Creates or updates the objects (server-side apply), then writes the status of those that carry
 * one through the status subresource. Rejects with the server's message.
 */
export async function seedObjects(
  cp: ControlPlane,
  objects: readonly LabObject[],
  fieldManager = "registry-lab-seed",
): Promise<void> {
  if (objects.length === 0) return;
  await cp.apply(objects.map(withoutServerFields), { fieldManager });
  for (const o of objects.filter(x => x.status !== undefined)) {
    const ns = o.metadata.namespace ? ["-n", o.metadata.namespace] : [];
    await cp.kubectl([
      "patch",
      ...ns,
      resourceRef(o),
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({ status: o.status }),
    ]);
  }
}

export function namespaceObjects(names: readonly string[] = LAB_NAMESPACES): LabObject[] {
  return names.map(name => ({ apiVersion: "v1", kind: "Namespace", metadata: { name } }));
}

/**
 * The objects of examples/cluster.yaml as the real API takes them. The example's deckhouse Pod is
 * written for the simulator, which does not validate pods: it gets the container and service
 * account a real Pod has (no controller manager runs here to create `default` accounts).
 */
export function exampleClusterObjects(path = EXAMPLE_CLUSTER): LabObject[] {
  const objects = parseAllDocuments(readFileSync(path, "utf8"))
    .map(d => d.toJS() as LabObject | null)
    .filter((o): o is LabObject => o !== null);
  const out: LabObject[] = [];
  for (const o of objects) {
    if (
      o.kind === "Pod" &&
      o.metadata.labels &&
      (o.metadata.labels as Record<string, string>).app === "deckhouse"
    ) {
      const spec = (o.spec ?? {}) as Record<string, unknown>;
      out.push({
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "deckhouse", namespace: o.metadata.namespace ?? "d8-system" },
      });
      const image = "registry.deckhouse.io/deckhouse/ee:lab";
      const status = (o.status ?? {}) as Record<string, unknown>;
      out.push({
        ...o,
        spec: {
          serviceAccountName: "deckhouse",
          containers: [{ name: "deckhouse", image }],
          ...spec,
        },
        status: {
          ...status,
          containerStatuses: [
            {
              name: "deckhouse",
              image,
              imageID: "",
              ready: status.phase === "Running",
              restartCount: 0,
              state: { running: { startedAt: "2026-01-01T00:00:00Z" } },
            },
          ],
        },
      });
    } else out.push(o);
  }
  return out;
}

/**
 * A 3-master + 2-worker static cluster in the lab: the CRDs, the module's namespaces, and the
 * objects of examples/cluster.yaml (Nodes with their status, ModuleConfig/deckhouse in legacy
 * Unmanaged, the deckhouse-registry Secret, the deckhouse Pod), or those objects as a caller
 * changed them (the switch lab gives the masters loopback addresses).
 */
export async function seedStaticCluster(
  cp: ControlPlane,
  objects: readonly LabObject[] = exampleClusterObjects(),
): Promise<void> {
  await installLabCrds(cp);
  await seedObjects(cp, namespaceObjects());
  await seedObjects(cp, objects);
}

/**
 * The objects with each named Node's InternalIP replaced (`ips`: node name → address); a name
 * that matches no Node is an error, so a renamed example node cannot go unnoticed.
 */
export function withInternalIPs(
  objects: readonly LabObject[],
  ips: Readonly<Record<string, string>>,
): LabObject[] {
  const left = new Set(Object.keys(ips));
  const out = objects.map(o => {
    const ip = o.kind === "Node" ? ips[o.metadata.name] : undefined;
    if (ip === undefined) return o;
    left.delete(o.metadata.name);
    const status = structuredClone(
      (o.status ?? {}) as { addresses?: { type: string; address: string }[] },
    );
    status.addresses = [
      { type: "InternalIP", address: ip },
      ...(status.addresses ?? []).filter(a => a.type !== "InternalIP"),
    ];
    return { ...o, status };
  });
  if (left.size > 0) throw new Error(`withInternalIPs: no Node named ${[...left].join(", ")}`);
  return out;
}
