// Issue 12 item 4: objects of optional Deckhouse modules (Ingress: ingress-nginx; Certificate:
// cert-manager; PodMonitor and PrometheusRule: operator-prometheus) render only while their module
// is in `global.enabledModules`: Helm refuses a manifest whose CRD is not installed, which would
// fail every release of the module. Every managed mode, with and without each module, through the
// renderer; each object is validated against its Kubernetes/CRD schema.
import { describe, expect, it } from "vitest";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { validateKubernetesObject } from "../support/kubernetes-schemas";
import { globalValues, MANAGED_MODES, moduleValues } from "../support/mode-states";

const OPTIONAL = {
  "ingress-nginx": ["Ingress"],
  "cert-manager": ["Certificate"],
  "operator-prometheus": ["PodMonitor", "PrometheusRule"],
} as const;
type Optional = keyof typeof OPTIONAL;
const ALL = Object.keys(OPTIONAL) as Optional[];

function render(mode: (typeof MANAGED_MODES)[number], enabled: readonly string[]): KubeObject[] {
  const objects = renderManifests(
    moduleValues(mode, globalValues({ enabledModules: [...enabled, "registry"] })),
  );
  objects.forEach(validateKubernetesObject);
  return objects;
}
const kinds = (objects: KubeObject[]) => new Set(objects.map(o => o.kind));

/** What each mode renders with no optional module enabled. */
const POLICIES = [
  "ValidatingAdmissionPolicy/deckhouse-module-registry-validation",
  "ValidatingAdmissionPolicyBinding/deckhouse-module-registry-validation",
  "ValidatingAdmissionPolicy/deckhouse-module-registry-disabled",
  "ValidatingAdmissionPolicyBinding/deckhouse-module-registry-disabled",
  "Secret/registry-state",
];
const NODE_SERVICES = [
  "Secret/registry-node-config-master-0",
  "ServiceAccount/registry-nodeservices",
  "Role/registry-nodeservices",
  "RoleBinding/registry-nodeservices",
  "ClusterRole/d8:registry:nodeservices",
  "ClusterRoleBinding/d8:registry:nodeservices",
  "DaemonSet/registry-nodeservices-manager",
];
const OWN_OBJECTS = {
  Direct: [
    ...POLICIES,
    "Secret/registry-incluster-proxy-config",
    "Deployment/registry-incluster-proxy",
    "PodDisruptionBudget/registry-incluster-proxy",
  ],
  Proxy: [...POLICIES, ...NODE_SERVICES],
  Local: [...POLICIES, ...NODE_SERVICES],
};

describe.each(MANAGED_MODES)("%s", mode => {
  // what the mode renders with every optional module on
  const full = kinds(render(mode, ALL));

  it.each(ALL)("without %s: none of its kinds, everything else unchanged", missing => {
    const objects = render(
      mode,
      ALL.filter(m => m !== missing),
    );
    for (const kind of OPTIONAL[missing]) expect(kinds(objects).has(kind)).toBe(false);
    for (const other of ALL.filter(m => m !== missing)) {
      for (const kind of OPTIONAL[other]) {
        // cert-manager's Certificate goes with the Ingress: without ingress-nginx there is none
        if (kind === "Certificate" && missing === "ingress-nginx") continue;
        expect(kinds(objects).has(kind)).toBe(full.has(kind));
      }
    }
  });

  it("no enabledModules at all: only the module's own kinds", () => {
    const objects = render(mode, []);
    for (const kind of ALL.flatMap(m => OPTIONAL[m])) expect(kinds(objects).has(kind)).toBe(false);
    expect(objects.map(o => `${o.kind}/${o.metadata.name}`)).toEqual(OWN_OBJECTS[mode]);
  });
});

describe("what each mode renders with every module on", () => {
  it("Local: Ingress + Certificate + monitoring; Proxy: monitoring; Direct: only the switch alerts", () => {
    expect([...kinds(render("Local", ALL))]).toEqual(
      expect.arrayContaining(["Ingress", "Certificate", "PodMonitor", "PrometheusRule"]),
    );
    const proxy = kinds(render("Proxy", ALL));
    expect(proxy.has("PodMonitor") && proxy.has("PrometheusRule")).toBe(true);
    expect(proxy.has("Ingress")).toBe(false);
    const direct = render("Direct", ALL);
    expect(["Ingress", "Certificate", "PodMonitor"].some(k => kinds(direct).has(k))).toBe(false);
    expect(direct.filter(o => o.kind === "PrometheusRule").map(o => o.metadata.name)).toEqual([
      "registry-switch",
    ]);
  });

  it("Local with https.mode CertManager but no cert-manager: the Ingress without a TLS secret nobody issues", () => {
    const objects = render("Local", ["ingress-nginx", "operator-prometheus"]);
    const ingress = objects.find(o => o.kind === "Ingress");
    expect(ingress?.metadata).toMatchObject({ name: "registry", namespace: "d8-system" });
    expect((ingress?.spec as { tls?: unknown }).tls).toBeUndefined();
  });

  it("legacy Unmanaged: the switch alerts only while a switch away from it runs", () => {
    const rules = (state: Record<string, unknown>) =>
      renderManifests({
        global: globalValues({ enabledModules: [...ALL, "registry"] }),
        registry: { internal: { orchestrator: { hash: "h", state } } },
      })
        .filter(o => o.kind === "PrometheusRule")
        .map(o => o.metadata.name);
    expect(rules({ mode: "Unmanaged", target_mode: "Unmanaged" })).toEqual([]);
    expect(rules({ mode: "Unmanaged", target_mode: "Direct" })).toEqual(["registry-switch"]);
  });

  it("the older operator-prometheus-crd module name counts too", () => {
    expect(kinds(render("Proxy", ["operator-prometheus-crd"])).has("PrometheusRule")).toBe(true);
  });
});
