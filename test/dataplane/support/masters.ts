// Masters on one machine: each gets its own loopback address (its "InternalIP"), its own root
// directory, a nodeservices-manager watching the API double, and — through the fake kubelet — the
// static pod the manager writes.
import { createServer } from "node:net";
import { join } from "node:path";
import { buildImageBundles, type Program } from "../../../images/build";
import { createLog } from "../../../images/common/src/log";
import { parseManagerSettings } from "../../../images/nodeservices-manager/src/config";
import { type RunningManager, runManager } from "../../../images/nodeservices-manager/src/manager";
import { PATHS, PORTS } from "../../../images/nodeservices-manager/src/render";
import type { ApiDouble } from "./api-double";
import { type FakeImage, type RunningPod, runStaticPod } from "./kubelet";

export const IMAGES = {
  gateway: "registry.test/deckhouse/registry-dataplane:test",
  distribution: "registry.test/library/registry:2.8.3",
  mirrorer: "registry.test/deckhouse/registry-dataplane:test",
} as const;

export function fakeImages(bundles: Record<Program, string>): Record<string, FakeImage> {
  return {
    [IMAGES.gateway]: {
      programs: {
        "/usr/local/bin/gateway": [process.execPath, bundles.gateway],
        "/usr/local/bin/mirrorer": [process.execPath, bundles.mirrorer],
        // the image carries Debian's nginx (images/oci-image.ts): the host's is the same package
        "/usr/bin/nginx": ["nginx"],
      },
    },
    // the stock image's ENTRYPOINT is `registry`: the binary Debian ships as docker-registry
    [IMAGES.distribution]: { entrypoint: ["docker-registry"] },
  };
}

export async function bundles(dir: string): Promise<Record<Program, string>> {
  return buildImageBundles(dir);
}

/** `n` distinct addresses in 127.0.0.0/8 whose node-service ports are all free. */
export async function pickLoopbackIPs(n: number): Promise<string[]> {
  const ports = Object.values(PORTS);
  const out: string[] = [];
  for (let attempt = 0; out.length < n && attempt < 50; attempt++) {
    const ip = `127.${100 + Math.floor(Math.random() * 100)}.${Math.floor(Math.random() * 250)}.${2 + Math.floor(Math.random() * 250)}`;
    if (out.includes(ip)) continue;
    const free = await Promise.all(ports.map(p => portFree(ip, p)));
    if (free.every(Boolean)) out.push(ip);
  }
  if (out.length < n)
    throw new Error(`could not find ${n} loopback addresses with free ports ${ports.join(",")}`);
  return out;
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

export interface Master {
  name: string;
  ip: string;
  root: string;
  manager: RunningManager;
  logs: string[];
  pod?: RunningPod;
  /** starts (or restarts) the static pod from the manifest on disk */
  startPod(): Promise<RunningPod>;
  stop(): Promise<void>;
}

export async function startMaster(
  api: ApiDouble,
  name: string,
  ip: string,
  dir: string,
  images: Record<string, FakeImage>,
  env: Record<string, string> = {},
): Promise<Master> {
  const root = join(dir, "root");
  const logs: string[] = [];
  const settings = parseManagerSettings({
    NODE_NAME: name,
    HOST_IP: ip,
    LOOPBACK_ADDRESS: ip,
    IMAGE_GATEWAY: IMAGES.gateway,
    IMAGE_DISTRIBUTION: IMAGES.distribution,
    IMAGE_MIRRORER: IMAGES.mirrorer,
    ROOT_DIR: root,
    HEALTH_ADDRESS: `${ip}:0`,
    RESYNC_PERIOD: "5s",
    ...env,
  });
  const manager = await runManager(
    settings,
    api.kubeConfig(),
    createLog(`manager/${name}`, l => logs.push(l)),
  );
  const master: Master = {
    name,
    ip,
    root,
    manager,
    logs,
    async startPod() {
      await master.pod?.stop();
      master.pod = await runStaticPod(root, PATHS.manifest, images, join(dir, "kubelet"));
      return master.pod;
    },
    async stop() {
      await master.pod?.stop();
      await manager.stop();
    },
  };
  return master;
}

/** A Node object labelled as a master. */
export function masterNode(name: string, ip: string) {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "node-role.kubernetes.io/master": "" } },
    status: { addresses: [{ type: "InternalIP", address: ip }] },
  };
}
