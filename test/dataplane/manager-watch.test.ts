// nodeservices-manager's watch loop: the real @kubernetes/client-node informers against an
// in-process API double (support/api-double.ts), which can do what a real server will not do on
// demand: close every watch, expire resource versions. test/lab/nodeservices-manager.test.ts runs
// the same loop against the lab's real kube-apiserver.
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createLog } from "../../images/common/src/log";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { type RunningManager, runManager } from "../../images/nodeservices-manager/src/manager";
import { PATHS } from "../../images/nodeservices-manager/src/render";
import {
  createCa,
  createLab,
  type Lab,
  until as untilEvent,
  pathExists,
  pathGone,
} from "../e2e-lab";
import { ApiDouble } from "./support/api-double";
import {
  nodeConfigSecret,
  nodeConfigYaml,
  type NodePki,
  nodePki,
  user,
} from "./support/node-config";

const NODE = "master-0";
const HOST_IP = "10.0.0.1";
const NS = "d8-system";
const POD = "registry-nodeservices-manager-abcde";
let lab: Lab;
let pki: NodePki;
let api: ApiDouble;
let manager: RunningManager | undefined;
const logLines: string[] = [];
const ro = user("ro");

const master = (labels: Record<string, string> = { "node-role.kubernetes.io/master": "" }) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: NODE, labels },
});
const pod = (ready: boolean) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name: POD, namespace: NS },
  status: { conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
});
const config = (password = "licence") =>
  nodeConfigYaml(pki, ro, {
    proxy: {
      scheme: "https",
      host: "up.example",
      path: "/deckhouse/ee",
      user: "license-token",
      password,
    },
  });

/** Waits for an event of the manager under test; a timeout shows its last log lines. */
const until = <T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
) => untilEvent(what, probe, { context: () => logLines.slice(-10).join("") });
const exists = pathExists;
const gone = pathGone;

async function start(root: string, env: Record<string, string> = {}) {
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
    ...env,
  });
  manager = await runManager(
    settings,
    api.kubeConfig(),
    createLog("manager", l => logLines.push(l), "debug"),
  );
  return manager;
}
const health = async (path: string) => {
  if (!manager) throw new Error("manager not running");
  const r = await fetch(`http://127.0.0.1:${manager.health.port}${path}`);
  return r.status;
};

beforeAll(async () => {
  lab = await createLab("manager-watch");
  pki = await nodePki(await createCa(lab.path("pki")), HOST_IP);
});
afterEach(async () => {
  await manager?.stop();
  manager = undefined;
  await api?.stop();
});
afterAll(async () => lab?.close());

describe("watch loop against the API double", () => {
  it("writes on secret creation, rewrites on change, removes on deletion; health endpoints", async () => {
    api = new ApiDouble();
    await api.start();
    api.put("nodes", master());
    api.put("pods", pod(true));
    const root = lab.path("lifecycle");
    const manifest = join(root, PATHS.manifest);
    await start(root);
    // listed, nothing to do yet: ready, and no files
    await until("readyz", async () => (await health("/readyz")) === 200);
    expect(await health("/healthz")).toBe(200);
    await until("decision stop", () => manager?.reconciler.status.decision === "stop");
    expect(await gone(join(root, "etc"))).toBe(true);

    api.put("secrets", nodeConfigSecret(NODE, config(), "v-1"));
    await until("manifest", () => exists(manifest));
    const pod1 = parse(await readFile(manifest, "utf8"));
    expect(pod1.metadata.annotations["registry.deckhouse.io/config-version"]).toBe("v-1");

    api.put("secrets", nodeConfigSecret(NODE, config("new-licence"), "v-2"));
    await until(
      "version v-2",
      async () =>
        parse(await readFile(manifest, "utf8")).metadata.annotations[
          "registry.deckhouse.io/config-version"
        ] === "v-2",
    );
    const gw = await readFile(join(root, PATHS.gatewayDir, "config.yaml"), "utf8");
    expect(gw).toContain("new-licence");

    api.delete("secrets", NS, `registry-node-config-${NODE}`);
    await until("manifest removed", () => gone(manifest));
    // the manifest goes first (the pod stops), the rest right after it
    await until("pki removed", () => gone(join(root, PATHS.pkiDir)));

    // the metrics count what happened, and carry no secret
    const metrics = await (await fetch(`http://127.0.0.1:${manager?.health.port}/metrics`)).text();
    expect(metrics).toMatch(
      /registry_nodeservices_manager_reconciles_total\{outcome="apply"\} \d+/,
    );
    expect(metrics).not.toContain("licence");
    // nor do the logs
    expect(logLines.join("")).not.toContain("new-licence");
  });

  it("stops the services when the node loses the master label or is deleted", async () => {
    api = new ApiDouble();
    await api.start();
    api.put("nodes", master());
    api.put("pods", pod(true));
    api.put("secrets", nodeConfigSecret(NODE, config(), "v-1"));
    const root = lab.path("not-master");
    const manifest = join(root, PATHS.manifest);
    await start(root);
    await until("manifest", () => exists(manifest));

    api.put("nodes", master({ "node-role.kubernetes.io/worker": "" }));
    await until("removed when not master", () => gone(manifest));

    api.put("nodes", master({ "node-role.kubernetes.io/control-plane": "" }));
    await until("back as control-plane", () => exists(manifest));

    api.delete("nodes", undefined, NODE);
    await until("removed when node deleted", () => gone(manifest));
    await until(
      "status after removal",
      () => manager?.reconciler.status.reason === `node ${NODE} does not exist`,
    );
  });

  it("waits while its own pod is not Ready; an invalid config leaves running services alone", async () => {
    api = new ApiDouble();
    await api.start();
    api.put("nodes", master());
    api.put("pods", pod(false));
    api.put("secrets", nodeConfigSecret(NODE, config(), "v-1"));
    const root = lab.path("gates");
    const manifest = join(root, PATHS.manifest);
    await start(root);
    await until(
      "decision wait",
      () =>
        manager?.reconciler.status.decision === "wait" &&
        manager.reconciler.status.reason?.includes("not Ready"),
    );
    expect(await gone(manifest)).toBe(true);

    api.put("pods", pod(true));
    await until("manifest", () => exists(manifest));

    const bad = nodeConfigSecret(NODE, "ca: nope\n", "v-2");
    api.put("secrets", bad);
    await until("decision invalid", () => manager?.reconciler.status.decision === "invalid");
    expect(manager?.reconciler.status.reason).toContain("ca: must be PEM");
    expect(
      parse(await readFile(manifest, "utf8")).metadata.annotations[
        "registry.deckhouse.io/config-version"
      ],
    ).toBe("v-1");
  });

  it("waits while its own pod does not exist at all (issue 15: absent is not Ready either)", async () => {
    api = new ApiDouble();
    await api.start();
    api.put("nodes", master());
    api.put("secrets", nodeConfigSecret(NODE, config(), "v-1"));
    const root = lab.path("no-pod");
    const manifest = join(root, PATHS.manifest);
    await start(root);
    await until(
      "decision wait",
      () =>
        manager?.reconciler.status.decision === "wait" &&
        manager.reconciler.status.reason?.includes(POD),
    );
    // a resync later it still waits: nothing was written for a pod that is not there
    await new Promise(r => setTimeout(r, 1_500));
    expect(manager?.reconciler.status.decision).toBe("wait");
    expect(await gone(manifest)).toBe(true);
    api.put("pods", pod(true));
    await until("manifest once the pod is Ready", () => exists(manifest));
  });

  it("survives watches closed by the server and expired resource versions; repairs drift on resync", async () => {
    api = new ApiDouble();
    await api.start();
    api.put("nodes", master());
    api.put("pods", pod(true));
    const root = lab.path("reconnect");
    const manifest = join(root, PATHS.manifest);
    await start(root);
    await until("three watches", () => api.openWatches === 3);

    api.closeWatches();
    await until("watches re-opened", () => api.openWatches === 3);
    api.put("secrets", nodeConfigSecret(NODE, config(), "v-1"));
    await until("manifest after reconnect", () => exists(manifest));

    // history compacted while disconnected: the informer gets 410 Gone and lists again
    const listsBefore = api.requests.filter(
      r => r.path.endsWith("/secrets") && r.query.watch !== "true",
    ).length;
    api.compact();
    api.closeWatches();
    await until(
      "relisted",
      () =>
        api.requests.filter(r => r.path.endsWith("/secrets") && r.query.watch !== "true").length >
        listsBefore,
    );
    api.put("secrets", nodeConfigSecret(NODE, config(), "v-3"));
    await until(
      "v-3 after relist",
      async () =>
        parse(await readFile(manifest, "utf8")).metadata.annotations[
          "registry.deckhouse.io/config-version"
        ] === "v-3",
    );

    // someone removed a config file: the periodic resync writes it back
    await rm(join(root, PATHS.gatewayDir, "config.yaml"));
    await until("gateway config restored", () =>
      exists(join(root, PATHS.gatewayDir, "config.yaml")),
    );

    // every list and watch asked for exactly one object by name
    const selectors = new Set(api.requests.map(r => r.query.fieldSelector));
    expect(selectors).toEqual(
      new Set([
        `metadata.name=registry-node-config-${NODE}`,
        `metadata.name=${NODE}`,
        `metadata.name=${POD}`,
      ]),
    );
  });

  it("is not ready and does nothing while the API refuses it", async () => {
    api = new ApiDouble();
    await api.start();
    const root = lab.path("refused");
    const settings = parseManagerSettings({
      NODE_NAME: NODE,
      HOST_IP,
      IMAGE_GATEWAY: "g:1",
      IMAGE_DISTRIBUTION: "d:1",
      IMAGE_MIRRORER: "m:1",
      ROOT_DIR: root,
      HEALTH_ADDRESS: "127.0.0.1:0",
    });
    const kc = api.kubeConfig();
    const cluster = kc.getCurrentCluster();
    const user_ = kc.getCurrentUser();
    if (!cluster || !user_) throw new Error("kubeconfig");
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ ...user_, token: "wrong" }],
      contexts: [{ name: "c", cluster: cluster.name, user: user_.name }],
      currentContext: "c",
    });
    manager = await runManager(
      settings,
      kc,
      createLog("manager", l => logLines.push(l)),
    );
    await until("401s", () => api.requests.length >= 2);
    await new Promise(r => setTimeout(r, 300));
    expect(await health("/readyz")).toBe(503);
    expect(manager.reconciler.status.decision).toBe("wait");
    expect(await gone(join(root, "etc"))).toBe(true);
  });
});
