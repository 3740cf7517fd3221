// Every object the module renders, at every stage of every mode (the simulator's switch chain,
// test/lab/stages.ts), taken by the REAL kube-apiserver: server-side apply with kubectl's strict
// field validation, then read back — nothing pruned, nothing changed. And the pass-through chart
// (chart/templates/manifests.yaml, docs/adr/0004) installed and upgraded by the REAL helm across
// the mode changes, with what a later render drops pruned and what is marked keep kept.
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseBashibleConfig } from "../../lib/domain/bashible-config";
import { renderNodeDeliveryObjects } from "../node/steps/node-group-configuration";
import type { KubeObject } from "../../lib/runtime/types";
import { run } from "../e2e-lab/process";
import { namespaceObjects, seedObjects } from "./cluster";
import { startControlPlane, type ControlPlane } from "./control-plane";
import { installLabCrds } from "./crds";
import { differences, objectKey, objectsOf, storedObjects, type AnyObject } from "./objects";
import { switchChainStages, type Stage } from "./stages";
import { labTool } from "./tools";

const REPO = new URL("../..", import.meta.url).pathname;
let stages: Stage[] = [];

async function freshCluster(): Promise<ControlPlane> {
  const cp = await startControlPlane();
  await installLabCrds(cp);
  await seedObjects(cp, namespaceObjects());
  return cp;
}

const keeps = (o: AnyObject) => o.metadata.annotations?.["helm.sh/resource-policy"] === "keep";

function bashibleConfigOf(stage: Stage) {
  const secret = stage.manifests.find(
    o => o.kind === "Secret" && o.metadata.name === "registry-bashible-config",
  );
  const data = secret?.data as Record<string, string> | undefined;
  if (!data?.config) return undefined;
  return parseBashibleConfig(parse(Buffer.from(data.config, "base64").toString("utf8")));
}

beforeAll(async () => {
  stages = await switchChainStages();
}, 240_000);

describe("every rendered object is taken by the real API server (server-side apply)", () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await freshCluster();
  }, 120_000);
  afterAll(async () => cp?.stop());

  it("covers every mode, transition and final stages", () => {
    const modes = new Set(stages.map(s => `${s.mode}→${s.targetMode}${s.final ? " final" : ""}`));
    for (const m of [
      "Unmanaged→Unmanaged final",
      "Unmanaged→Direct",
      "Direct→Direct final",
      "Direct→Proxy",
      "Proxy→Proxy final",
      "Proxy→Direct",
      "Direct→Local",
      "Local→Local final",
      "Local→Direct",
      "Direct→Unmanaged",
    ])
      expect(modes, m).toContain(m);
    const kinds = new Set(stages.flatMap(s => s.manifests.map(o => o.kind)));
    expect([...kinds].sort()).toEqual(
      [
        "Certificate",
        "ClusterRole",
        "ClusterRoleBinding",
        "DaemonSet",
        "Deployment",
        "Ingress",
        "PodDisruptionBudget",
        "PodMonitor",
        "PrometheusRule",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
      ].sort(),
    );
  });

  it("applies each stage in order; the server stores every field as rendered", async () => {
    let checked = 0;
    for (const stage of stages) {
      const label = `${stage.step}, run ${stage.run} (${stage.mode}→${stage.targetMode})`;
      // a refusal rejects with kubectl's stderr: the server's message names object and field
      const applied = await cp
        .apply(stage.manifests, { fieldManager: "registry-module", printObjects: true })
        .catch((e: Error) => {
          throw new Error(`${label}: ${e.message}`);
        });
      // the server answers an apply with the objects as it stored them
      const stored = objectsOf(applied.stdout);
      for (const sent of stage.manifests) {
        const copy = stored.get(objectKey(sent));
        expect(copy, `${label}: ${objectKey(sent)} not stored`).toBeDefined();
        expect(differences(sent, copy), `${label}: ${objectKey(sent)}`).toEqual([]);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(300);
  }, 300_000);

  it("the node steps of every stage, as NodeGroupConfiguration objects, are taken too", async () => {
    const seen = new Set<string>();
    for (const stage of stages) {
      const config = bashibleConfigOf(stage);
      const key = JSON.stringify(config ?? null);
      if (seen.has(key)) continue;
      seen.add(key);
      const objects = renderNodeDeliveryObjects(config, {
        delivery: "NodeGroupConfiguration",
        containerd: "platform",
      });
      expect(objects.length).toBeGreaterThan(0);
      await cp.apply(objects, { fieldManager: "registry-module" });
      const stored = await storedObjects(cp, objects);
      for (const o of objects) expect(differences(o, stored.get(objectKey(o)))).toEqual([]);
    }
    expect(seen.size).toBeGreaterThan(5);
  }, 120_000);

  it("a field the server did not store is a difference", async () => {
    // the last stage applied: the server holds exactly what it rendered
    const secret = stages.at(-1)?.manifests.find(o => o.kind === "Secret") as KubeObject;
    const stored = (await storedObjects(cp, [secret])).get(objectKey(secret));
    expect(differences(secret, stored)).toEqual([]);
    expect(differences({ ...secret, extra: { a: 1 } }, stored)).toEqual([
      '.extra: sent {"a":1}, not stored',
    ]);
    expect(differences({ ...secret, type: "Other" }, stored)).toEqual([
      `.type: sent "Other", stored ${JSON.stringify(secret.type)}`,
    ]);
  });

  it("a rendered object the server refuses fails with the server's message", async () => {
    const service = stages.flatMap(s => s.manifests).find(o => o.kind === "Service") as KubeObject;
    const broken = structuredClone(service) as KubeObject & {
      spec: { ports: { port: unknown }[] };
    };
    broken.metadata.name = "registry-broken";
    (broken.spec.ports[0] as { port: unknown }).port = 70000;
    await expect(cp.apply([broken])).rejects.toThrow(
      /spec\.ports\[0\]\.port: Invalid value: 70000: must be between 1 and 65535/,
    );
    const unknownField = structuredClone(service) as KubeObject & { spec: Record<string, unknown> };
    unknownField.spec.selectorr = { a: "b" };
    await expect(cp.apply([unknownField])).rejects.toThrow(
      /\.spec\.selectorr: field not declared in schema/,
    );
    // custom resources too: the lab CRDs are structural, unknown fields are refused, not pruned
    const podMonitor = stages
      .flatMap(s => s.manifests)
      .find(o => o.kind === "PodMonitor") as KubeObject & { spec: Record<string, unknown> };
    const misspelt = structuredClone(podMonitor);
    misspelt.spec.podMetricEndpoints = misspelt.spec.podMetricsEndpoints;
    await expect(cp.apply([misspelt])).rejects.toThrow(
      /\.spec\.podMetricEndpoints: field not declared in schema/,
    );
  });
});

describe("the pass-through chart under the real helm", () => {
  let cp: ControlPlane;
  let dir: string;
  let helmEnv: NodeJS.ProcessEnv;

  const helm = (args: string[]) =>
    run(labTool("helm"), [...args, "--kubeconfig", cp.kubeconfigPath], {
      env: helmEnv,
      timeoutMs: 120_000,
    });

  async function release(stage: Stage, n: number, install: boolean) {
    const values = join(dir, `values-${n}.json`);
    writeFileSync(
      values,
      JSON.stringify({ registry: { internal: { manifests: stage.manifests } } }),
    );
    const verb = install ? ["install"] : ["upgrade"];
    await helm([...verb, "registry", join(dir, "chart"), "-n", "d8-system", "-f", values]).catch(
      (e: Error) => {
        throw new Error(`${stage.step}, run ${stage.run}: helm ${verb[0]}: ${e.message}`);
      },
    );
  }

  beforeAll(async () => {
    cp = await freshCluster();
    dir = join(cp.dir, "helm");
    // the chart as the module ships it: Chart.yaml and the one pass-through template
    mkdirSync(join(dir, "chart"), { recursive: true });
    cpSync(join(REPO, "Chart.yaml"), join(dir, "chart", "Chart.yaml"));
    cpSync(join(REPO, "chart", "templates"), join(dir, "chart", "templates"), { recursive: true });
    helmEnv = {
      HELM_CACHE_HOME: join(dir, "cache"),
      HELM_CONFIG_HOME: join(dir, "config"),
      HELM_DATA_HOME: join(dir, "data"),
    };
  }, 120_000);
  afterAll(async () => cp?.stop());

  it("installs in Direct, upgrades through Proxy, Direct, Local, Direct and Unmanaged; prunes and keeps", async () => {
    // the final stage of each switch, and every stage where the set of objects changes
    const ids = (s: Stage) =>
      s.manifests
        .map(o => objectKey(o))
        .sort()
        .join(",");
    const firstDirect = stages.findIndex(s => s.mode === "Direct" && s.final);
    const path = stages
      .slice(firstDirect)
      .filter((s, i, all) => i === 0 || s.final || ids(s) !== ids(all[i - 1] as Stage));
    expect(path.length).toBeGreaterThan(10);
    let previous: AnyObject[] = [];
    let n = 0;
    for (const stage of path) {
      await release(stage, n, n === 0);
      n += 1;
      const label = `${stage.step}, run ${stage.run}`;
      const now = stage.manifests as AnyObject[];
      const stored = await storedObjects(cp, [...now, ...previous]);
      for (const o of now) {
        expect(stored.has(objectKey(o)), `${label}: ${objectKey(o)} applied`).toBe(true);
        expect(differences(o, stored.get(objectKey(o))), `${label}: ${objectKey(o)}`).toEqual([]);
      }
      const wanted = new Set(now.map(objectKey));
      for (const o of previous.filter(p => !wanted.has(objectKey(p)))) {
        expect(stored.has(objectKey(o)), `${label}: ${objectKey(o)} pruned`).toBe(keeps(o));
      }
      previous = now;
    }
    // the modes the release went through, in order
    const modes = path
      .filter(s => s.final)
      .map(s => s.mode)
      .filter((m, i, all) => m !== all[i - 1]);
    expect(modes).toEqual(["Direct", "Proxy", "Direct", "Local", "Direct", "Unmanaged"]);
    const { stdout } = await helm(["status", "registry", "-n", "d8-system", "-o", "json"]);
    expect(JSON.parse(stdout)).toMatchObject({
      version: path.length,
      info: { status: "deployed" },
    });
  }, 600_000);

  it("uninstall removes the release's objects except those marked keep", async () => {
    const last = stages.at(-1) as Stage;
    await helm(["uninstall", "registry", "-n", "d8-system"]);
    const stored = await storedObjects(cp, last.manifests);
    const left = [...stored.values()].map(o => `${o.kind}/${o.metadata.name}`).sort();
    // nodes keep using registry-bashible-config; the policy's "module is disabled" rule must
    // outlive the release (docs/adr/0004)
    expect(left).toEqual([
      "Secret/registry-bashible-config",
      "ValidatingAdmissionPolicy/deckhouse-module-registry-disabled",
      "ValidatingAdmissionPolicy/deckhouse-module-registry-validation",
      "ValidatingAdmissionPolicyBinding/deckhouse-module-registry-disabled",
      "ValidatingAdmissionPolicyBinding/deckhouse-module-registry-validation",
    ]);
    expect(last.manifests.length).toBeGreaterThan(left.length);
  }, 120_000);
});
