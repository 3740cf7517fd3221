// In-cluster pulls in the sandbox: the in-cluster proxy Deployment's pods and a client.
//
// Pods: no kubelet or scheduler runs, so the sandbox plays the Deployment controller and kubelet
// for `d8-system/registry-incluster-proxy`: each replica is a network namespace of its own on the
// bridge (its pod IP) where the Deployment's gateway container runs with its exact args and its
// Secret volume's items as files under /config (test/dataplane/support/kubelet.ts). A changed pod
// template replaces the pods one at a time (the Deployment's maxUnavailable 1, maxSurge 0), and
// the Deployment's status says what really runs.
//
// Client: one more namespace, pulling `registry.d8-system.svc:5001/...` with skopeo and the
// credentials and CA of `d8-system/deckhouse-registry`, as an in-cluster workload does. Its
// /etc/hosts plays the cluster DNS for the headless Service `registry`: the name resolves to the
// addresses of the ready pods its selector picks (the in-cluster proxy's, or the masters' node
// services, host network). /etc/hosts rather than a containerd hosts entry: the client is not a
// containerd, and a hosts entry would bypass the name resolution the Service exists for.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { KubeObject } from "../../lib/runtime/types";
import { type RunningPod, runStaticPod, type FakeImage } from "../dataplane/support/kubelet";
import { run } from "../e2e-lab";
import { roundLoop, type RoundLoop } from "../lab/actors";
import type { ControlPlane } from "../lab/control-plane";
import type { Masters } from "./masters";
import type { Nodes } from "./nodes";

const NS = "d8-system";
const DEPLOYMENT = "registry-incluster-proxy";
const VERSION = "registry.deckhouse.io/version";
export const REGISTRY_SERVICE_NAME = "registry.d8-system.svc";
const FIELD_MANAGER = "registry-sandbox-deployment-controller";

interface Replica {
  netns: string;
  ip: string;
  pod: RunningPod | undefined;
  version: string | undefined;
}

/** What deckhouse-registry says about one registry address. */
export interface RegistryAccess {
  /** `user:password`, when the registry wants one */
  creds?: string;
  ca?: string;
}

export interface InCluster {
  /**
   * Pulls `image` in the client namespace (skopeo copy: manifest and every blob) with the
   * credentials and CA deckhouse-registry gave for the image's registry.
   */
  pull(image: string, access: RegistryAccess): Promise<void>;
  /** The addresses registry.d8-system.svc resolves to now. */
  endpoints(): string[];
  /**
   * Brings the client's /etc/hosts up to date with Service `registry` as read now (after every
   * API write the caller has seen), as cluster DNS has done by the time a client is sent there.
   */
  syncEndpoints(): Promise<void>;
  errors(): string[];
  stop(): Promise<void>;
}

type Get = (args: string[]) => Promise<KubeObject | undefined>;

export async function startInCluster(
  cp: Pick<ControlPlane, "kubectl">,
  nodes: Nodes,
  masters: Masters,
  dir: string,
  gatewayBundle: string,
): Promise<InCluster> {
  const replicas: Replica[] = [];
  const client = await nodes.addNamespace("client", 31, "");
  let endpoints: string[] = [];
  const get: Get = async args => {
    const r = await cp.kubectl(["get", "-n", NS, ...args, "-o", "json"]).catch((e: Error) => {
      if (/NotFound/.test(e.message)) return undefined;
      throw e;
    });
    return r ? (JSON.parse(r.stdout) as KubeObject) : undefined;
  };

  const deploymentRound = async () => {
    const d = await get(["deployment", DEPLOYMENT]);
    if (!d) {
      for (const r of replicas) {
        await r.pod?.stop();
        r.pod = undefined;
        r.version = undefined;
      }
      return;
    }
    const spec = d.spec as {
      replicas?: number;
      template: {
        metadata?: { annotations?: Record<string, string> };
        spec: {
          containers: PodContainer[];
          volumes?: {
            name: string;
            secret?: { secretName: string; items?: { key: string; path: string }[] };
          }[];
        };
      };
    };
    const want = spec.replicas ?? 1;
    const version = spec.template.metadata?.annotations?.[VERSION] ?? "";
    while (replicas.length < want) {
      const i = replicas.length;
      const ns = await nodes.addNamespace(`icp-${i}`, 21 + i);
      replicas.push({ netns: ns.netns, ip: ns.ip, pod: undefined, version: undefined });
    }
    for (const [i, r] of replicas.entries()) {
      if (i >= want) {
        await r.pod?.stop();
        r.pod = undefined;
        r.version = undefined;
        continue;
      }
      const crashed = r.pod && Object.values(r.pod.containers).some(c => !c.running);
      if (r.pod && r.version === version && !crashed) continue;
      // one pod at a time: maxUnavailable 1, maxSurge 0
      await r.pod?.stop();
      r.pod = undefined;
      r.pod = await startReplica(get, spec.template.spec, join(dir, `icp-${i}`), r, gatewayBundle);
      r.version = version;
      return;
    }
  };

  // the Deployment controller observes every generation at once, also while pods start
  let lastStatus = "";
  const statusRound = async () => {
    const d = await get(["deployment", DEPLOYMENT]);
    if (!d) return;
    const spec = d.spec as {
      replicas?: number;
      template: { metadata?: { annotations?: Record<string, string> } };
    };
    const status = statusOf(
      d,
      replicas,
      spec.template.metadata?.annotations?.[VERSION] ?? "",
      spec.replicas ?? 1,
    );
    const text = JSON.stringify(status);
    const current = JSON.stringify(d.status ?? {});
    if (text === lastStatus && text === current) return;
    await cp.kubectl([
      "patch", "-n", NS, "deployment", DEPLOYMENT, "--subresource=status", "--type=merge",
      `--field-manager=${FIELD_MANAGER}`, "-p", JSON.stringify({ status }),
    ]); // prettier-ignore
    lastStatus = text;
  };

  const serviceRound = async () => {
    const svc = await get(["service", "registry"]);
    const type = (svc?.spec as { selector?: Record<string, string> } | undefined)?.selector?.type;
    let ips: string[] = [];
    if (type === "incluster-proxy") ips = replicas.filter(r => r.pod).map(r => r.ip);
    else if (type === "node-services") ips = masters.list.filter(m => m.pod).map(m => m.node.ip);
    if (ips.join() !== endpoints.join()) {
      endpoints = ips;
      await nodes.setHosts(
        client.netns,
        ips.map(ip => `${ip} ${REGISTRY_SERVICE_NAME}\n`).join(""),
      );
    }
  };

  // one round at a time, in the order asked: a round that read the Service later writes later
  let serviceTurn: Promise<void> = Promise.resolve();
  const serviceRoundInTurn = (): Promise<void> => {
    const turn = serviceTurn.then(serviceRound);
    serviceTurn = turn.catch(() => undefined);
    return turn;
  };

  const loops: RoundLoop[] = [
    roundLoop(deploymentRound, 500),
    roundLoop(statusRound, 200),
    roundLoop(serviceRoundInTurn, 300),
  ];

  return {
    endpoints: () => endpoints,
    syncEndpoints: serviceRoundInTurn,
    errors: () => loops.flatMap(l => l.errors),
    async pull(image, access) {
      const work = await mkdtemp(join(dir, "client-"));
      try {
        const certs = join(work, "certs");
        await mkdir(certs);
        if (access.ca) await writeFile(join(certs, "ca.crt"), access.ca);
        const args = ["--insecure-policy", "copy", "--retry-times", "0", "--src-cert-dir", certs];
        if (access.creds) args.push("--src-creds", access.creds);
        args.push(`docker://${image}`, `dir:${join(work, "image")}`);
        await run("ip", ["netns", "exec", client.netns, "skopeo", ...args], {
          env: { HOME: work, XDG_RUNTIME_DIR: work },
          timeoutMs: 30_000,
        });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
    async stop() {
      await Promise.all(loops.map(l => l.stop()));
      await Promise.all(replicas.map(r => r.pod?.stop()));
    },
  };
}

async function startReplica(
  get: Get,
  podSpec: {
    containers: PodContainer[];
    volumes?: {
      name: string;
      secret?: { secretName: string; items?: { key: string; path: string }[] };
    }[];
  },
  dir: string,
  replica: Replica,
  gatewayBundle: string,
): Promise<RunningPod> {
  await rm(dir, { recursive: true, force: true });
  const root = join(dir, "root");
  // Secret volumes become files: the volume's items, as kubelet projects them
  const volumes: { name: string; hostPath: { path: string; type: string } }[] = [];
  for (const v of podSpec.volumes ?? []) {
    if (!v.secret) continue;
    const secret = await get(["secret", v.secret.secretName]);
    if (!secret) throw new Error(`in-cluster proxy: Secret ${v.secret.secretName} is missing`);
    const data = (secret as unknown as { data: Record<string, string> }).data;
    const path = `/volumes/${v.name}`;
    await mkdir(join(root, path), { recursive: true });
    for (const item of v.secret.items ?? Object.keys(data).map(k => ({ key: k, path: k }))) {
      await writeFile(join(root, path, item.path), Buffer.from(data[item.key] ?? "", "base64"), {
        mode: 0o644,
      });
    }
    volumes.push({ name: v.name, hostPath: { path, type: "Directory" } });
  }
  const manifest = {
    metadata: { name: "registry-incluster-proxy" },
    spec: { hostNetwork: true, containers: podSpec.containers.map(withNumericProbePort), volumes },
  };
  await mkdir(join(root, "manifests"), { recursive: true });
  await writeFile(join(root, "manifests/pod.yaml"), JSON.stringify(manifest));
  const images: Record<string, FakeImage> = {};
  for (const c of podSpec.containers)
    images[c.image] = { entrypoint: [process.execPath, gatewayBundle] };
  // hostNetwork inside the replica's own namespace: that namespace IS the pod's network
  return runStaticPod(root, "manifests/pod.yaml", images, join(dir, "kubelet"), {
    netns: replica.netns,
    readyTimeoutMs: 30_000,
  });
}

type PodContainer = {
  name: string;
  image: string;
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { port: number | string; path: string } };
};

/** kubelet resolves a probe's named port against the container's ports. */
function withNumericProbePort(c: PodContainer): PodContainer {
  const http = c.readinessProbe?.httpGet;
  if (!http || typeof http.port === "number") return c;
  const port = c.ports?.find(p => p.name === http.port)?.containerPort;
  if (port === undefined) throw new Error(`container ${c.name}: no port named ${http.port}`);
  return { ...c, readinessProbe: { ...c.readinessProbe, httpGet: { ...http, port } } };
}

function statusOf(d: KubeObject, replicas: readonly Replica[], version: string, want: number) {
  const live = replicas.slice(0, want).filter(r => r.pod);
  const updated = live.filter(r => r.version === version).length;
  return {
    observedGeneration: d.metadata.generation ?? 1,
    replicas: live.length,
    updatedReplicas: updated,
    readyReplicas: live.length,
    availableReplicas: live.length,
  };
}
