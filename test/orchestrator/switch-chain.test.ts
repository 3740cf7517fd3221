// The switch chain of issue 3 through the simulator: a 3-master + 2-worker static cluster goes
// legacy Unmanaged → Direct → Direct (new credentials) → Proxy → Direct → Local → Direct →
// configurable Unmanaged → legacy Unmanaged, with the module's real hooks, Helm apply/prune and
// the other actors. Each switch is checked for its condition sequence, when `mode` flips, the
// bashible configs of both stages, the Service selector and what is created and removed.
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import type { BashibleConfig } from "../../lib/orchestrator/bashible";
import type { RunRecord } from "../../lib/simulate/simulate";
import { Simulation } from "../../lib/simulate/simulate";
import type { KubeObject } from "../../lib/runtime/types";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { validateKubernetesObject } from "../support/kubernetes-schemas";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { hooksWithReusedKeys } from "../support/reused-keys";
import { parseGatewayConfig } from "../../lib/dataplane/gateway-config";
import { parseNodeConfig } from "../../lib/dataplane/node-config";
import * as settings from "../support/settings";

const globalValues = exampleGlobalValues();

const OTHER = "mirror.example.org:5000/dkp/ee";

interface Step {
  runs: RunRecord[];
  configs: BashibleConfig[];
  objects: KubeObject[];
  /** what the module rendered (registry.internal.manifests) at the end of the step */
  manifests: KubeObject[];
}

const fromB64 = (s: unknown) => Buffer.from(String(s), "base64").toString("utf8");

function find(objects: KubeObject[], kind: string, name: string): KubeObject | undefined {
  return objects.find(o => o.kind === kind && o.metadata.name === name);
}

function bashibleConfig(objects: KubeObject[]): BashibleConfig | undefined {
  const secret = find(objects, "Secret", "registry-bashible-config");
  const data = secret?.data as Record<string, string> | undefined;
  return data ? (parse(fromB64(data.config)) as BashibleConfig) : undefined;
}

const types = (r: RunRecord | undefined) => (r?.conditions ?? []).map(c => c.type);

describe("switch chain on a 3-master + 2-worker static cluster", () => {
  let sim: Simulation;
  let generation = 1;
  const steps: Record<string, Step> = {};

  async function switchTo(name: string, registry: Record<string, unknown> | undefined) {
    generation += 1;
    sim.apply([moduleConfig(registry, generation)]);
    const configs: BashibleConfig[] = [];
    const before = bashibleConfig([...sim.world.values()])?.version;
    const start = sim.runs.length;
    let converged = false;
    while (sim.runs.length - start < 60) {
      await sim.round();
      const c = bashibleConfig([...sim.world.values()]);
      if (c && c.version !== before && configs.at(-1)?.version !== c.version) configs.push(c);
      const last = sim.runs.at(-1);
      if (last?.ready && last.mode === last.target_mode && sim.runs.length - start > 1) {
        converged = true;
        break;
      }
    }
    expect(converged, `${name} did not converge: ${JSON.stringify(sim.runs.at(-1))}`).toBe(true);
    const moduleValues = sim.values().registry as { internal?: { manifests?: KubeObject[] } };
    steps[name] = {
      runs: sim.runs.slice(start),
      configs,
      objects: [...sim.world.values()],
      manifests: moduleValues.internal?.manifests ?? [],
    };
    return steps[name] as Step;
  }

  beforeAll(async () => {
    sim = await Simulation.start({
      objects: cluster({ nodes: 5, masters: 3, generation }),
      globalValues,
      // the module's hooks, the orchestrator on reused key pairs (test/support/reused-keys.ts)
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    const settled = await sim.converge(10);
    expect(settled.converged).toBe(true);
    for (const [i, [name, registry]] of settings.SWITCH_CHAIN.entries()) {
      await switchTo(name, registry);
      // right after the first Direct, another upstream: Direct → Direct
      if (i === 0)
        await switchTo(
          "Direct again",
          settings.direct(settings.withPassword("second-p4ss", { imagesRepo: OTHER })),
        );
    }
    await switchTo("legacy Unmanaged", settings.LEGACY);
  }, 240_000);

  it.each([
    [
      "Direct",
      [
        "RegistryContainsRequiredImages",
        "ContainerdConfigPreflightReady",
        "TransitionContainerdConfigReady",
        "InClusterProxyReady",
        "DeckhouseRegistrySwitchReady",
        "FinalContainerdConfigReady",
        "Ready",
      ],
    ],
    [
      "Proxy",
      [
        "RegistryContainsRequiredImages",
        "ContainerdConfigPreflightReady",
        "TransitionContainerdConfigReady",
        "NodeServicesReady",
        "DeckhouseRegistrySwitchReady",
        "FinalContainerdConfigReady",
        "CleanupInClusterProxy",
        "Ready",
      ],
    ],
    [
      "Direct from Proxy",
      [
        "RegistryContainsRequiredImages",
        "ContainerdConfigPreflightReady",
        "TransitionContainerdConfigReady",
        "InClusterProxyReady",
        "DeckhouseRegistrySwitchReady",
        "FinalContainerdConfigReady",
        "CleanupNodeServices",
        "Ready",
      ],
    ],
    [
      "Local",
      [
        "NodeServicesReady",
        "RegistryContainsRequiredImages",
        "ContainerdConfigPreflightReady",
        "TransitionContainerdConfigReady",
        "DeckhouseRegistrySwitchReady",
        "FinalContainerdConfigReady",
        "CleanupInClusterProxy",
        "Ready",
      ],
    ],
    [
      "configurable Unmanaged",
      [
        "RegistryContainsRequiredImages",
        "ContainerdConfigPreflightReady",
        "TransitionContainerdConfigReady",
        "DeckhouseRegistrySwitchReady",
        "FinalContainerdConfigReady",
        "CleanupInClusterProxy",
        "Ready",
      ],
    ],
    // same target mode (Unmanaged): conditions are not cleared, the steps run last move to the end
    ["legacy Unmanaged", ["FinalContainerdConfigReady", "CleanupInClusterProxy", "Ready"]],
  ])("%s: conditions in execution order, all True at the end", (name, expected) => {
    const last = steps[name]?.runs.at(-1);
    expect(types(last).slice(-expected.length)).toEqual(expected);
    if (name !== "legacy Unmanaged") expect(types(last)).toEqual(expected);
    expect(last?.conditions.every(c => c.status === "True")).toBe(true);
  });

  it.each([
    "Direct",
    "Proxy",
    "Direct from Proxy",
    "Local",
    "Direct from Local",
    "configurable Unmanaged",
  ])("%s: mode flips only when every step is done", name => {
    const runs = steps[name]?.runs ?? [];
    const target = runs.at(-1)?.target_mode;
    const firstAtTarget = runs.findIndex(r => r.mode === target);
    expect(runs.slice(0, firstAtTarget).every(r => !r.ready)).toBe(true);
    expect(runs[firstAtTarget]?.ready).toBe(true);
    expect(firstAtTarget).toBeGreaterThan(0);
  });

  it("Unmanaged → Direct: the transition config lists the old registry and the new one; the final only the new", () => {
    const { configs } = steps.Direct as Step;
    const transition = configs[0];
    expect(Object.keys(transition?.hosts ?? {}).sort()).toEqual([
      "registry.d8-system.svc:5001",
      "registry.deckhouse.io",
    ]);
    const final = configs.at(-1);
    expect(Object.keys(final?.hosts ?? {})).toEqual(["registry.d8-system.svc:5001"]);
    expect(final?.hosts["registry.d8-system.svc:5001"]?.mirrors.map(m => m.host)).toEqual([
      "registry.example.com",
    ]);
    expect(final?.imagesBase).toBe("registry.d8-system.svc:5001/system/deckhouse");
  });

  it("Direct → Direct on another host: both mirrors during the transition, the new one after", () => {
    const { configs } = steps["Direct again"] as Step;
    const mirrors = (c?: BashibleConfig) =>
      c?.hosts["registry.d8-system.svc:5001"]?.mirrors.map(m => m.host);
    expect(mirrors(configs[0])).toEqual(["registry.example.com", "mirror.example.org:5000"]);
    expect(mirrors(configs.at(-1))).toEqual(["mirror.example.org:5000"]);
    expect(configs.at(-1)?.hosts["registry.d8-system.svc:5001"]?.mirrors[0]?.rewrites).toEqual([
      { from: "^system/deckhouse", to: "dkp/ee" },
    ]);
  });

  it("Proxy: nodes reach the masters through the local balancer; proxy endpoints are the masters", () => {
    const final = (steps.Proxy as Step).configs.at(-1);
    expect(final?.proxyEndpoints).toEqual(["10.0.0.0:5001", "10.0.0.1:5001", "10.0.0.2:5001"]);
    expect(
      final?.hosts["registry.d8-system.svc:5001"]?.mirrors.map(m => `${m.scheme}://${m.host}`),
    ).toEqual(["https://127.0.0.1:5001"]);
  });

  it.each([
    ["Direct", "incluster-proxy"],
    ["Proxy", "node-services"],
    ["Direct from Proxy", "incluster-proxy"],
    ["Local", "node-services"],
    ["Direct from Local", "incluster-proxy"],
  ])("%s: Service registry selects %s", (name, type) => {
    const service = find((steps[name] as Step).objects, "Service", "registry");
    expect((service?.spec as { selector: Record<string, string> }).selector).toEqual({
      component: "registry-service",
      type,
    });
  });

  it("in-cluster proxy exists only in Direct; node services only in Proxy and Local", () => {
    const has = (name: string, kind: string, objName: string) =>
      find((steps[name] as Step).objects, kind, objName) !== undefined;
    const nodeServices = (name: string) =>
      (steps[name] as Step).objects.filter(o => o.metadata.name.startsWith("registry-node-config-"))
        .length;
    for (const name of ["Direct", "Direct again", "Direct from Proxy", "Direct from Local"]) {
      expect(has(name, "Deployment", "registry-incluster-proxy")).toBe(true);
      expect(has(name, "DaemonSet", "registry-nodeservices-manager")).toBe(false);
      expect(nodeServices(name)).toBe(0);
    }
    for (const name of ["Proxy", "Local"]) {
      expect(has(name, "Deployment", "registry-incluster-proxy")).toBe(false);
      expect(has(name, "DaemonSet", "registry-nodeservices-manager")).toBe(true);
      expect(nodeServices(name)).toBe(3);
    }
  });

  it("Local: push ingress and all four users; Direct: none", () => {
    const local = (steps.Local as Step).objects;
    // pushes reach the registry-push Service by the host the cluster publishes, over TLS
    expect(find(local, "Ingress", "registry")?.spec).toMatchObject({
      rules: [
        {
          host: "registry.example.com",
          http: { paths: [{ backend: { service: { name: "registry-push" } } }] },
        },
      ],
      tls: [{ hosts: ["registry.example.com"], secretName: "registry-ingress-tls" }],
    });
    expect(
      local
        .filter(o => o.metadata.name.startsWith("registry-user-"))
        .map(o => o.metadata.name)
        .sort(),
    ).toEqual([
      "registry-user-mirror-puller",
      "registry-user-mirror-pusher",
      "registry-user-ro",
      "registry-user-rw",
    ]);
    const afterLocal = (steps["Direct from Local"] as Step).objects;
    expect(find(afterLocal, "Ingress", "registry")).toBeUndefined();
    expect(afterLocal.filter(o => o.metadata.name.startsWith("registry-user-"))).toEqual([]);
  });

  it("Unmanaged: PKI, users, Service and in-cluster proxy are gone; deckhouse-registry points at the upstream", () => {
    for (const name of ["configurable Unmanaged", "legacy Unmanaged"]) {
      const objects = (steps[name] as Step).objects;
      for (const [kind, objName] of [
        ["Secret", "registry-pki"],
        ["Service", "registry"],
        ["Deployment", "registry-incluster-proxy"],
        ["Secret", "registry-user-ro"],
      ] as const) {
        expect(find(objects, kind, objName), `${name}: ${kind}/${objName}`).toBeUndefined();
      }
      const registry = find(objects, "Secret", "deckhouse-registry")?.data as Record<
        string,
        string
      >;
      expect(fromB64(registry.address)).toBe("registry.example.com");
      expect(fromB64(registry.path)).toBe("/deckhouse/ee");
    }
    const state = (
      sim.values().registry as { internal: { orchestrator: { state: Record<string, unknown> } } }
    ).internal.orchestrator.state;
    expect(state.pki).toBeUndefined();
    expect(state.users).toBeUndefined();
  });

  it("every rendered object validates against the Kubernetes schemas", () => {
    let count = 0;
    for (const step of Object.values(steps)) {
      for (const o of step.manifests) {
        validateKubernetesObject(o);
        count += 1;
      }
    }
    expect(count).toBeGreaterThan(50);
    // and the validation can refuse: a Service port must be a number
    const service = steps.Direct?.manifests.find(o => o.kind === "Service");
    const broken = structuredClone(service) as KubeObject & {
      spec: { ports: { port: unknown }[] };
    };
    (broken.spec.ports[0] as { port: unknown }).port = "5001";
    expect(() => validateKubernetesObject(broken)).toThrow(/port/);
  });

  it("the gateway and nodeservices-manager accept the configs rendered for them", () => {
    const secretText = (o: KubeObject | undefined, key: string) =>
      fromB64((o?.data as Record<string, string>)[key]);
    const proxySecret = find(
      (steps.Direct as Step).manifests,
      "Secret",
      "registry-incluster-proxy-config",
    );
    const gateway = parseGatewayConfig(parse(secretText(proxySecret, "gateway.yaml")));
    expect(gateway).toMatchObject({
      mode: "direct",
      upstream: { host: "registry.example.com", path: "deckhouse/ee" },
    });
    for (const [name, mode] of [
      ["Proxy", "proxy"],
      ["Local", "local"],
    ] as const) {
      const secrets = (steps[name] as Step).manifests.filter(o =>
        o.metadata.name.startsWith("registry-node-config-"),
      );
      expect(secrets).toHaveLength(3);
      for (const secret of secrets) {
        const node = secret.metadata.name.slice("registry-node-config-".length);
        const ip = `10.0.0.${node.split("-")[1]}`;
        const config = parseNodeConfig(
          secretText(secret, "config"),
          secretText(secret, "version"),
          ip,
        );
        expect(config.mode.kind).toBe(mode);
      }
    }
  });

  it("no password appears in a non-Secret object the module produces", () => {
    const passwords = [
      "first-p4ss",
      "second-p4ss",
      "third-p4ss",
      "fourth-p4ss",
      "fifth-p4ss",
      "lic3nse",
    ];
    for (const step of Object.values(steps)) {
      // ModuleConfig/deckhouse is the user's input: the credentials are written there by the user
      for (const o of step.objects.filter(x => x.kind !== "Secret" && x.kind !== "ModuleConfig")) {
        const text = JSON.stringify(o);
        for (const p of passwords) expect(text, `${o.kind}/${o.metadata.name}`).not.toContain(p);
      }
    }
  });
});
