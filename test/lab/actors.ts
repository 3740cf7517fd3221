// The other actors of a cluster, against the lab API server: what bashible on the nodes,
// deckhouse-controller, the Deployment controller and nodeservices-manager + kubelet do in
// response to what the module wrote. Each round reads the cluster, lets lib/simulate's actors
// (the same pure functions the in-memory simulator runs) edit a copy, and writes back the
// difference the way the real actor would: labels and annotations by a metadata patch, status
// through the status subresource, static pods as mirror pods, removed pods deleted.
//
//   const actors = new ClusterActors(cp);
//   await actors.round();              // one response; returns how many writes it made
//   const loop = actors.loop(500);     // rounds every 500 ms until loop.stop()
//
// The checker's answers are not played here: under addon-operator the module's own checker hook
// asks a real registry (see switch.test.ts).
import { isDeepStrictEqual } from "node:util";
import {
  deckhouseFollowsRegistry,
  deploymentsRollOut,
  keyOf,
  mastersRunNodeServices,
  nodesApplyBashible,
} from "../../lib/simulate/actors";
import type { KubeObject } from "../../lib/runtime/types";
import type { ControlPlane } from "./control-plane";
import { resourceRef, type LabObject } from "./cluster";

const NS = "d8-system";
const FIELD_MANAGER = "registry-lab-actors";
/** The node services image the static pod names (what the manager's manifest would say). */
const NODE_SERVICES_IMAGE = "registry.d8-system.svc:5001/system/deckhouse:node-services";

type World = Map<string, KubeObject>;

function relevant(o: KubeObject): boolean {
  if (o.kind === "Node") return true;
  return (o.metadata.namespace ?? "") === NS && ["Secret", "Pod", "Deployment"].includes(o.kind);
}

export class ClusterActors {
  /** Writes made over all rounds. */
  writes = 0;

  /**
   * `nodes: false` leaves bashible out and `nodeServices: false` the masters' manager + kubelet:
   * the sandbox (test/sandbox) runs those for real.
   */
  constructor(
    private readonly cp: Pick<ControlPlane, "kubectl">,
    private readonly options: {
      nodes?: boolean;
      nodeServices?: boolean;
      /** d8-system Deployments whose status someone else writes (the sandbox's pods) */
      ownDeployments?: readonly string[];
    } = {},
  ) {}

  async read(): Promise<World> {
    const r = await this.cp.kubectl(["get", "nodes,secrets,pods,deployments", "-A", "-o", "json"]);
    const list = JSON.parse(r.stdout) as { items: KubeObject[] };
    const world: World = new Map();
    for (const o of list.items) if (relevant(o)) world.set(keyOf(o), o);
    return world;
  }

  /** One response of every actor to the cluster as it is now. */
  async round(): Promise<number> {
    const before = await this.read();
    const after: World = new Map([...before].map(([k, o]) => [k, structuredClone(o)]));
    if (this.options.nodes !== false) nodesApplyBashible(after);
    deckhouseFollowsRegistry(after);
    deploymentsRollOut(after);
    for (const name of this.options.ownDeployments ?? []) {
      const key = `apps|Deployment|${NS}|${name}`;
      const was = before.get(key);
      const now = after.get(key);
      if (was && now) now.status = was.status;
    }
    if (this.options.nodeServices !== false) mastersRunNodeServices(after);
    let writes = 0;
    for (const [key, o] of after) {
      const was = before.get(key);
      if (!was) writes += await this.#createPod(o, before);
      else writes += await this.#update(was, o);
    }
    for (const [key, o] of before) {
      if (after.has(key)) continue;
      // kubelet removes a mirror pod at once (grace period 0): no kubelet here to confirm a
      // graceful deletion, which would leave the pod Terminating for ever
      await this.cp.kubectl([
        "delete",
        "-n",
        NS,
        "pod",
        o.metadata.name,
        "--grace-period=0",
        "--force",
      ]);
      writes++;
    }
    this.writes += writes;
    return writes;
  }

  /** Rounds every `intervalMs` until stop(); a failed round is retried on the next tick. */
  loop(intervalMs = 500): RoundLoop {
    return roundLoop(() => this.round(), intervalMs);
  }

  async #update(was: KubeObject, now: KubeObject): Promise<number> {
    const ns = now.metadata.namespace ? ["-n", now.metadata.namespace] : [];
    const ref = resourceRef(now as LabObject);
    let writes = 0;
    const meta: Record<string, unknown> = {};
    for (const field of ["labels", "annotations"] as const) {
      if (!isDeepStrictEqual(was.metadata[field] ?? {}, now.metadata[field] ?? {}))
        meta[field] = now.metadata[field];
    }
    if (Object.keys(meta).length > 0) {
      await this.cp.kubectl([
        "patch",
        ...ns,
        ref,
        "--type=merge",
        `--field-manager=${FIELD_MANAGER}`,
        "-p",
        JSON.stringify({ metadata: meta }),
      ]);
      writes++;
    }
    if (!isDeepStrictEqual(was.status ?? {}, now.status ?? {})) {
      await this.#patchStatus(now);
      writes++;
    }
    return writes;
  }

  async #patchStatus(o: KubeObject): Promise<void> {
    const ns = o.metadata.namespace ? ["-n", o.metadata.namespace] : [];
    await this.cp.kubectl([
      "patch",
      ...ns,
      resourceRef(o as LabObject),
      "--subresource=status",
      "--type=merge",
      `--field-manager=${FIELD_MANAGER}`,
      "-p",
      JSON.stringify({ status: o.status }),
    ]);
  }

  /**
   * A static pod of nodeservices-manager, as kubelet mirrors it: the mirror annotation (the API
   * server then skips service-account admission, as for every mirror pod), owned by its Node.
   */
  async #createPod(o: KubeObject, before: World): Promise<number> {
    if (o.kind !== "Pod") throw new Error(`actors created a ${o.kind}: only pods are expected`);
    const nodeName = (o.spec as { nodeName?: string } | undefined)?.nodeName ?? "";
    const node = before.get(`|Node||${nodeName}`);
    if (!node) throw new Error(`static pod ${o.metadata.name} for an unknown node ${nodeName}`);
    const { status, ...rest } = o;
    const pod = {
      ...rest,
      metadata: {
        ...o.metadata,
        annotations: {
          ...o.metadata.annotations,
          "kubernetes.io/config.mirror": o.metadata.annotations?.[
            "registry.deckhouse.io/config-version"
          ] as string,
        },
        ownerReferences: [
          {
            apiVersion: "v1",
            kind: "Node",
            name: nodeName,
            uid: node.metadata.uid as string,
            controller: true,
          },
        ],
      },
      spec: {
        nodeName,
        containers: [{ name: "node-services", image: NODE_SERVICES_IMAGE }],
      },
    };
    await this.cp.kubectl(["create", "-f", "-", `--field-manager=${FIELD_MANAGER}`], {
      input: JSON.stringify(pod),
    });
    await this.#patchStatus({ ...pod, status } as KubeObject);
    return 2;
  }
}

export interface RoundLoop {
  stop(): Promise<void>;
  /** the latest failures, newest last */
  errors: string[];
}

/** Runs `round` every `intervalMs` until stop(); a failure is kept and retried on the next tick. */
export function roundLoop(round: () => Promise<unknown>, intervalMs: number): RoundLoop {
  let running = true;
  const errors: string[] = [];
  const done = (async () => {
    while (running) {
      try {
        await round();
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
        if (errors.length > 50) errors.shift();
      }
      await new Promise(r => setTimeout(r, intervalMs));
    }
  })();
  return {
    errors,
    stop: async () => {
      running = false;
      await done;
    },
  };
}
