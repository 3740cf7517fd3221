// nodeservices-manager against the REAL kube-apiserver, with its real informers, as the service
// account the module renders for it (the rendered ServiceAccount, Role, ClusterRole and bindings;
// a token the API server issued): its node config secret — the module's own template — created,
// changed and deleted in the API turns into files and a static pod manifest written, rewritten
// and removed; the Node losing its master label and the manager's Pod going unready are seen too.
// test/dataplane/manager-watch.test.ts covers the same loop against an in-process API double.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { KubeConfig } from "@kubernetes/client-node";
import { createLog } from "../../images/common/src/log";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { type RunningManager, runManager } from "../../images/nodeservices-manager/src/manager";
import { PATHS } from "../../images/nodeservices-manager/src/render";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { nodeConfigYaml, nodePki, type NodePki, user } from "../dataplane/support/node-config";
import {
  createCa,
  createLab,
  type Lab,
  until as untilEvent,
  pathExists,
  pathGone,
} from "../e2e-lab";
import { namespaceObjects, seedObjects, type LabObject } from "./cluster";
import { startControlPlane, type ControlPlane } from "./control-plane";
import { installLabCrds } from "./crds";
import { EXAMPLE_GLOBAL_VALUES } from "./stages";

const NODE = "master-0";
const HOST_IP = "10.0.0.0";
const NS = "d8-system";
const POD = "registry-nodeservices-manager-x7k2p";
const ro = user("ro");

let cp: ControlPlane;
let lab: Lab;
let pki: NodePki;
let manager: RunningManager | undefined;
const logLines: string[] = [];

/** What the module renders in Proxy mode for this node: its node services, at `version`. */
function moduleObjects(password: string | undefined, version: string): KubeObject[] {
  const nodes =
    password === undefined
      ? {}
      : {
          [NODE]: {
            version,
            config: parse(
              nodeConfigYaml(pki, ro, {
                proxy: {
                  scheme: "https",
                  host: "up.example",
                  path: "/deckhouse/ee",
                  user: "license-token",
                  password,
                },
              }),
            ) as unknown,
          },
        };
  return renderManifests({
    global: EXAMPLE_GLOBAL_VALUES,
    registry: {
      internal: {
        orchestrator: {
          hash: "lab",
          state: {
            mode: "Proxy",
            target_mode: "Proxy",
            conditions: [],
            node_services: { run: true, nodes },
          },
        },
      },
    },
  } as Parameters<typeof renderManifests>[0]);
}

const configSecret = (objects: KubeObject[]) =>
  objects.filter(o => o.kind === "Secret" && o.metadata.name === `registry-node-config-${NODE}`);

const master = (labels: Record<string, string>): LabObject => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: NODE, labels },
  status: { addresses: [{ type: "InternalIP", address: HOST_IP }] },
});

const managerPod = (ready: boolean): LabObject => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: POD, namespace: NS, labels: { app: "registry-nodeservices-manager" } },
  spec: {
    nodeName: NODE,
    serviceAccountName: "registry-nodeservices",
    containers: [{ name: "manager", image: "example/manager:1" }],
  },
  status: {
    phase: "Running",
    conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
  },
});

/** Waits for an event of the manager under test; a timeout shows its last log lines. */
const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
) => untilEvent(what, probe, { context: () => logLines.slice(-10).join("") });
const exists = pathExists;
const gone = pathGone;
const manifestVersion = async (path: string) =>
  (parse(await readFile(path, "utf8")) as { metadata: { annotations: Record<string, string> } })
    .metadata.annotations["registry.deckhouse.io/config-version"];

beforeAll(async () => {
  lab = await createLab("lab-manager");
  pki = await nodePki(await createCa(lab.path("pki")), HOST_IP);
  cp = await startControlPlane();
  await installLabCrds(cp);
  await seedObjects(cp, namespaceObjects());
  // the module's node-services objects without any node config yet: RBAC, DaemonSet, alerts
  const objects = moduleObjects(undefined, "none");
  expect(objects.map(o => o.kind)).toEqual(
    expect.arrayContaining(["ServiceAccount", "Role", "RoleBinding", "ClusterRole", "DaemonSet"]),
  );
  await cp.apply(objects, { fieldManager: "registry-module" });
  await seedObjects(cp, [
    master({ "node-role.kubernetes.io/control-plane": "" }),
    managerPod(true),
  ]);
}, 120_000);

afterAll(async () => {
  await manager?.stop();
  await cp?.stop();
  await lab?.close();
});

describe("nodeservices-manager on the real API server", () => {
  let root: string;

  it("lists and watches as the rendered service account", async () => {
    const token = (
      await cp.kubectl(["create", "token", "registry-nodeservices", "-n", NS])
    ).stdout.trim();
    const kc = new KubeConfig();
    kc.loadFromFile(await cp.kubeconfigForToken(token));
    root = lab.path("node-root");
    const settings = parseManagerSettings({
      NODE_NAME: NODE,
      HOST_IP,
      POD_NAMESPACE: NS,
      POD_NAME: POD,
      IMAGE_GATEWAY: "example/gateway:1",
      IMAGE_DISTRIBUTION: "registry:2.8.3",
      IMAGE_MIRRORER: "example/mirrorer:1",
      ROOT_DIR: root,
      HEALTH_ADDRESS: "127.0.0.1:0",
      RESYNC_PERIOD: "1s",
    });
    manager = await runManager(
      settings,
      kc,
      createLog("manager", l => logLines.push(l), "debug"),
    );
    const health = manager.health;
    await until("readyz", async () => {
      const r = await fetch(`http://127.0.0.1:${health.port}/readyz`);
      return r.status === 200;
    });
    // listed as the service account: nothing refused, no config yet, nothing written
    await until("decision stop", () => manager?.reconciler.status.decision === "stop");
    expect(logLines.join("")).not.toMatch(/forbidden|watch failed/i);
    expect(await gone(join(root, "etc"))).toBe(true);
  });

  it("writes the files and the static pod when the module's node config secret appears", async () => {
    await cp.apply(configSecret(moduleObjects("licence-1", "v-1")), {
      fieldManager: "registry-module",
    });
    const manifest = join(root, PATHS.manifest);
    await until("manifest", () => exists(manifest));
    expect(await manifestVersion(manifest)).toBe("v-1");
    const gateway = await readFile(join(root, PATHS.gatewayDir, "config.yaml"), "utf8");
    expect(gateway).toContain("licence-1");
  });

  it("rewrites them when the secret changes", async () => {
    await cp.apply(configSecret(moduleObjects("licence-2", "v-2")), {
      fieldManager: "registry-module",
    });
    const manifest = join(root, PATHS.manifest);
    await until("version v-2", async () => (await manifestVersion(manifest)) === "v-2");
    const gateway = await readFile(join(root, PATHS.gatewayDir, "config.yaml"), "utf8");
    expect(gateway).toContain("licence-2");
    expect(gateway).not.toContain("licence-1");
  });

  it("stops the services while the node is not a master, starts them again when it is", async () => {
    const manifest = join(root, PATHS.manifest);
    await cp.kubectl(["label", "node", NODE, "node-role.kubernetes.io/control-plane-"]);
    await until("removed when not master", () => gone(manifest));
    await cp.kubectl(["label", "node", NODE, "node-role.kubernetes.io/control-plane="]);
    await until("back as control-plane", () => exists(manifest));
  });

  it("waits while its own Pod is not Ready", async () => {
    await seedObjects(cp, [managerPod(false)]);
    await until(
      "decision wait",
      () =>
        manager?.reconciler.status.decision === "wait" &&
        manager.reconciler.status.reason?.includes("not Ready"),
    );
    await seedObjects(cp, [managerPod(true)]);
    await until("applied again", () => manager?.reconciler.status.decision === "apply");
  });

  it("removes the static pod and the files when the secret is deleted", async () => {
    await cp.kubectl(["delete", "secret", `registry-node-config-${NODE}`, "-n", NS]);
    const manifest = join(root, PATHS.manifest);
    await until("manifest removed", () => gone(manifest));
    // the manager removes the manifest first (kubelet stops the pod), then the files: not atomic,
    // so the pki directory is awaited too (seen still present right after the manifest under load)
    await until("pki directory removed", () => gone(join(root, PATHS.pkiDir)));
    // what it logged carries no secret
    expect(logLines.join("")).not.toContain("licence-");
  });

  it("the rendered RBAC lets it read only what it watches", async () => {
    const token = (
      await cp.kubectl(["create", "token", "registry-nodeservices", "-n", NS])
    ).stdout.trim();
    const kubeconfig = await cp.kubeconfigForToken(token);
    const can = async (...args: string[]) =>
      (await cp.kubectl(["auth", "can-i", ...args], { kubeconfig }).catch(e => e)).stdout?.trim();
    expect(await can("watch", "secrets", "-n", NS)).toBe("yes");
    expect(await can("watch", "nodes")).toBe("yes");
    expect(await can("list", "secrets", "-n", "default")).toBe("no");
    expect(await can("update", "secrets", "-n", NS)).toBe("no");
  });
});
