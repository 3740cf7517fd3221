// The masters' node services in the sandbox: per master a real nodeservices-manager (in this
// process, as in test/lab/nodeservices-manager.test.ts) watching the lab API server and writing
// files and the static pod manifest under the master's root, and a kubelet stand-in that runs
// that static pod with its exact command, args and volumes INSIDE the master's network namespace
// (test/dataplane/support/kubelet.ts, ADR 0036) and reports it as kubelet does: a mirror pod in
// the API, Ready once the containers' readiness probes pass.
//
// The manager itself runs in the host's network namespace: the lab API server listens on the
// host's loopback only. It reads the master's address from its Node (HOST_IP = InternalIP).
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import type { Program } from "../../images/build";
import { createLog } from "../../images/common/src/log";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { type RunningManager, runManager } from "../../images/nodeservices-manager/src/manager";
import { PATHS } from "../../images/nodeservices-manager/src/render";
import { type PodManifest, type RunningPod, runStaticPod } from "../dataplane/support/kubelet";
import { fakeImages, IMAGES } from "../dataplane/support/masters";
import type { ControlPlane } from "../lab/control-plane";
import { roundLoop, type RoundLoop } from "../lab/actors";
import type { SandboxNode } from "./nodes";

const NS = "d8-system";
const FIELD_MANAGER = "registry-sandbox-kubelet";
const VERSION_ANNOTATION = "registry.deckhouse.io/config-version";

export interface SandboxMaster {
  node: SandboxNode;
  manager: RunningManager;
  logs: string[];
  pod: RunningPod | undefined;
  /** the config version of the running static pod */
  runningVersion: string | undefined;
  /** kills the static pod's containers (a master going down); the kubelet loop pauses */
  killPod(): Promise<void>;
  /** lets the kubelet loop start the pod again */
  resume(): void;
}

export interface Masters {
  list: SandboxMaster[];
  kubeletErrors(): string[];
  stop(): Promise<void>;
}

export async function startMasters(
  cp: Pick<ControlPlane, "kubectl" | "kubeConfig">,
  nodes: readonly SandboxNode[],
  dir: string,
  bundles: Record<Program, string>,
): Promise<Masters> {
  const images = fakeImages(bundles);
  const list: SandboxMaster[] = [];
  const loops: RoundLoop[] = [];
  for (const node of nodes.filter(n => n.role === "master")) {
    const logs: string[] = [];
    const settings = parseManagerSettings({
      NODE_NAME: node.name,
      HOST_IP: node.ip,
      IMAGE_GATEWAY: IMAGES.gateway,
      IMAGE_DISTRIBUTION: IMAGES.distribution,
      IMAGE_MIRRORER: IMAGES.mirrorer,
      ROOT_DIR: node.root,
      HEALTH_ADDRESS: "127.0.0.1:0",
      RESYNC_PERIOD: "5s",
    });
    const manager = await runManager(
      settings,
      cp.kubeConfig(),
      createLog(`manager/${node.name}`, l => {
        logs.push(l);
        if (logs.length > 2000) logs.shift();
      }),
    );
    let paused = false;
    const master: SandboxMaster = {
      node,
      manager,
      logs,
      pod: undefined,
      runningVersion: undefined,
      async killPod() {
        paused = true;
        for (const c of Object.values(master.pod?.containers ?? {})) c.kill("SIGKILL");
        await master.pod?.stop();
        master.pod = undefined;
        master.runningVersion = undefined;
        await deleteMirrorPod(cp, node.name);
      },
      resume() {
        paused = false;
      },
    };
    list.push(master);
    loops.push(
      roundLoop(async () => {
        if (!paused) await kubeletRound(cp, master, images, join(dir, "kubelet", node.name));
      }, 500),
    );
  }
  return {
    list,
    kubeletErrors: () => loops.flatMap(l => l.errors),
    async stop() {
      await Promise.all(loops.map(l => l.stop()));
      await Promise.all(list.map(m => m.pod?.stop()));
      await Promise.all(list.map(m => m.manager.stop()));
    },
  };
}

/** One look at the manifest directory, as kubelet's file source does. */
async function kubeletRound(
  cp: Pick<ControlPlane, "kubectl">,
  master: SandboxMaster,
  images: ReturnType<typeof fakeImages>,
  workDir: string,
): Promise<void> {
  const path = join(master.node.root, PATHS.manifest);
  if (!existsSync(path)) {
    if (master.pod) {
      await master.pod.stop();
      master.pod = undefined;
      master.runningVersion = undefined;
      await deleteMirrorPod(cp, master.node.name);
    }
    return;
  }
  const text = await readFile(path, "utf8");
  const manifest = parse(text) as PodManifest & {
    metadata: { labels?: Record<string, string> };
  };
  const version = manifest.metadata.annotations?.[VERSION_ANNOTATION];
  const crashed = master.pod && Object.values(master.pod.containers).some(c => !c.running);
  if (master.pod && version === master.runningVersion && !crashed) return;
  // a changed manifest: kubelet stops the old pod and starts the new one
  await master.pod?.stop();
  master.pod = undefined;
  master.pod = await runStaticPod(master.node.root, PATHS.manifest, images, workDir, {
    netns: master.node.netns,
    readyTimeoutMs: 30_000,
  });
  master.runningVersion = version;
  await writeMirrorPod(cp, master.node.name, manifest);
}

function mirrorPodName(node: string): string {
  return `registry-nodeservices-${node}`;
}

async function deleteMirrorPod(cp: Pick<ControlPlane, "kubectl">, node: string): Promise<void> {
  await cp.kubectl([
    "delete", "-n", NS, "pod", mirrorPodName(node), "--grace-period=0", "--force",
    "--ignore-not-found",
  ]); // prettier-ignore
}

/** The mirror pod kubelet keeps for a static pod: annotated as such, owned by its Node, Ready. */
async function writeMirrorPod(
  cp: Pick<ControlPlane, "kubectl">,
  node: string,
  manifest: PodManifest & { metadata: { labels?: Record<string, string> } },
): Promise<void> {
  await deleteMirrorPod(cp, node);
  const nodeObj = JSON.parse((await cp.kubectl(["get", "node", node, "-o", "json"])).stdout) as {
    metadata: { uid: string };
  };
  const annotations = manifest.metadata.annotations ?? {};
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: mirrorPodName(node),
      namespace: NS,
      labels: manifest.metadata.labels ?? {},
      annotations: {
        ...annotations,
        "kubernetes.io/config.mirror": annotations[VERSION_ANNOTATION] ?? "mirror",
      },
      ownerReferences: [
        { apiVersion: "v1", kind: "Node", name: node, uid: nodeObj.metadata.uid, controller: true },
      ],
    },
    spec: {
      nodeName: node,
      hostNetwork: true,
      containers: manifest.spec.containers.map(c => ({ name: c.name, image: c.image })),
    },
  };
  await cp.kubectl(["create", "-f", "-", `--field-manager=${FIELD_MANAGER}`], {
    input: JSON.stringify(pod),
  });
  await cp.kubectl([
    "patch", "-n", NS, "pod", mirrorPodName(node), "--subresource=status", "--type=merge",
    `--field-manager=${FIELD_MANAGER}`, "-p",
    JSON.stringify({
      status: { phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
    }),
  ]); // prettier-ignore
}
