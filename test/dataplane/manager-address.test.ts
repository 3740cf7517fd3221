// Issue 12 item 5: a master's address changes. The orchestrator re-issues the node certificate
// for the new InternalIP; the manager process (the real entry point, spawned as in the DaemonSet,
// with HOST_IP frozen at the old address as the kubelet set it at container start) must follow
// the Node's address and write the services for it, instead of refusing the new certificate for
// ever. Against the API double (support/api-double.ts): no real API server runs here.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PATHS } from "../../images/nodeservices-manager/src/render";
import { createCa, createLab, type Lab, spawnProcess, stopAll, until } from "../e2e-lab";
import { ApiDouble } from "./support/api-double";
import { nodeConfigSecret, nodeConfigYaml, nodePki, user } from "./support/node-config";

const ROOT = join(import.meta.dirname, "..", "..");
const NODE = "master-0";
const NS = "d8-system";
const POD = "registry-nodeservices-manager-xyz12";
const OLD_IP = "192.0.2.10";
const NEW_IP = "192.0.2.20";
let lab: Lab;
let api: ApiDouble;

const node = (ip: string) => ({
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: NODE, labels: { "node-role.kubernetes.io/control-plane": "" } },
  status: {
    addresses: [
      { type: "Hostname", address: NODE },
      { type: "InternalIP", address: ip },
    ],
  },
});

beforeAll(async () => {
  lab = await createLab("manager-address");
  api = new ApiDouble();
  await api.start();
});
afterAll(async () => {
  await stopAll();
  await api?.stop();
  await lab?.close();
});

describe("nodeservices-manager process: master address change", () => {
  it("follows the Node's InternalIP: the re-issued certificate is accepted and the services move to the new address", async () => {
    const ca = await createCa(lab.path("pki"));
    const ro = user("ro");
    const upstream = { scheme: "https" as const, host: "up.example", path: "/deckhouse/ee" };
    const configFor = async (ip: string) =>
      nodeConfigYaml(await nodePki(ca, ip), ro, { proxy: upstream });

    api.put("nodes", node(OLD_IP));
    api.put("pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: POD, namespace: NS },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    api.put("secrets", nodeConfigSecret(NODE, await configFor(OLD_IP), "v-old"));

    const root = lab.path("root");
    await mkdir(root, { recursive: true });
    const kubeconfig = lab.path("kubeconfig");
    await writeFile(kubeconfig, api.kubeConfig().exportConfig(), { mode: 0o600 });
    const manager = spawnProcess(
      "nodeservices-manager",
      process.execPath,
      ["--import", "tsx", join(ROOT, "images/nodeservices-manager/src/run.ts")],
      {
        cwd: ROOT,
        env: {
          KUBECONFIG: kubeconfig,
          NODE_NAME: NODE,
          // frozen at container start, as the kubelet resolves status.hostIP
          HOST_IP: OLD_IP,
          POD_NAME: POD,
          POD_NAMESPACE: NS,
          IMAGE_GATEWAY: "example/gateway:1",
          IMAGE_DISTRIBUTION: "registry:2.8.3",
          IMAGE_MIRRORER: "example/mirrorer:1",
          ROOT_DIR: root,
          HEALTH_ADDRESS: "127.0.0.1:0",
          RESYNC_PERIOD: "1s",
        },
      },
    );
    const log = () => manager.tail(30);
    const gatewayConfig = join(root, PATHS.gatewayDir, "config.yaml");
    const listenOf = async () =>
      (parse(await readFile(gatewayConfig, "utf8")) as { listen: { address: string } }).listen
        .address;
    const version = async () =>
      (
        parse(await readFile(join(root, PATHS.manifest), "utf8")) as {
          metadata: { annotations: Record<string, string> };
        }
      ).metadata.annotations["registry.deckhouse.io/config-version"];

    await until(
      "services at the old address",
      async () => ((await listenOf()) === `${OLD_IP}:5001` ? true : undefined),
      { retryErrors: true, context: log },
    );
    expect(await version()).toBe("v-old");

    // the master gets a new address; the orchestrator re-issues its certificate for it
    api.put("nodes", node(NEW_IP));
    api.put("secrets", nodeConfigSecret(NODE, await configFor(NEW_IP), "v-new"));
    await until(
      "services at the new address",
      async () => ((await version()) === "v-new" ? true : undefined),
      { retryErrors: true, context: log },
    );
    expect(await listenOf()).toBe(`${NEW_IP}:5001`);
    expect(manager.lines.join("\n")).toContain("node address changed");

    await manager.stop();
  }, 60_000);
});
