// Observed behaviours of the original module (docs/architecture.md#state-machine; numbers in the
// test names): the switcher (8–14), preflight (15–20), bashible config building and stage results
// (21–27), the checker gate (44) and the state machine (49–60) — the pure parts directly, the state
// machine through `reconcile` with real PKI on reused key pairs. PKI (28–31) and users (32–36):
// test/domain; params (1–7): test/settings; checker (37–43): test/checker; admission (61):
// admission-policy.test.ts.
import { describe, expect, it } from "vitest";
import type {
  DeckhouseRegistrySnapshot,
  MasterNodeSnapshot,
  NodeSnapshot,
  StaticPodSnapshot,
} from "../../lib/orchestrator/model";
import type { RegistryParams } from "../../lib/domain/settings";
import type { ModeParams } from "../../lib/orchestrator/bashible";
import {
  finalConfig,
  nodesReadiness,
  preflight,
  transitionConfig,
} from "../../lib/orchestrator/bashible";
import { checkerReadiness, upstreamCheckerParams } from "../../lib/orchestrator/checker-gate";
import { setCondition } from "../../lib/orchestrator/conditions";
import type { OrchestratorInputs } from "../../lib/orchestrator/reconcile";
import { reconcile } from "../../lib/orchestrator/reconcile";
import type { State } from "../../lib/orchestrator/state";
import {
  desiredRegistrySecret,
  registrySecretHash,
  switchReadiness,
} from "../../lib/orchestrator/switcher";
import { depsWithReusedKeys } from "../support/reused-keys";

const managed = { managed: { ca: "CA-PEM", username: "ro", password: "secret" } };

describe("registry switcher", () => {
  const desired = desiredRegistrySecret(managed);
  const current: DeckhouseRegistrySnapshot = {
    address: desired.address,
    path: desired.path,
    scheme: desired.scheme,
    ca: "CA-PEM",
    dockerConfigJson: desired.dockerConfigJson,
  };
  const pod = (registryVersion: string | undefined, ready = true) => ({
    ready,
    readyMessage: "",
    registryVersion,
  });

  it("8. secret differs → Updating registry for deckhouse components", () => {
    const old = { ...current, address: "old-registry.deckhouse.io" };
    expect(switchReadiness(desired, old, pod(registrySecretHash(desired)))).toEqual({
      ready: false,
      message: "Updating registry for deckhouse components",
    });
  });
  it.each([undefined, "", "stale"])("9. pod hash %j differs → Applying new registry", v => {
    expect(switchReadiness(desired, current, pod(v)).message).toBe(
      "Applying new registry to deckhouse-controller",
    );
  });
  it("10. pod not ready → Waiting for deckhouse-controller to become ready", () => {
    expect(switchReadiness(desired, current, pod(registrySecretHash(desired), false))).toEqual({
      ready: false,
      message: "Waiting for deckhouse-controller to become ready",
    });
  });
  it("11. pod absent → Waiting for deckhouse-controller pod", () => {
    expect(switchReadiness(desired, current, undefined).message).toBe(
      "Waiting for deckhouse-controller pod",
    );
  });
  it("12. all equal, pod ready → ready, empty message", () => {
    expect(switchReadiness(desired, current, pod(registrySecretHash(desired)))).toEqual({
      ready: true,
      message: "",
    });
  });
  it("14. managed and unmanaged desired secrets", () => {
    expect(desired).toMatchObject({
      address: "registry.d8-system.svc:5001",
      path: "/system/deckhouse",
      scheme: "https",
      ca: "CA-PEM",
    });
    expect(JSON.parse(desired.dockerConfigJson)).toEqual({
      auths: {
        "registry.d8-system.svc:5001": {
          username: "ro",
          password: "secret",
          auth: Buffer.from("ro:secret").toString("base64"),
        },
      },
    });
    expect(
      desiredRegistrySecret({
        unmanaged: { imagesRepo: "my-registry.com/my-project", scheme: "HTTPS" },
      }),
    ).toMatchObject({ address: "my-registry.com", path: "/my-project", scheme: "https" });
  });
});

const node = (name: string, label?: string, version = "unknown"): NodeSnapshot => ({
  name,
  isMaster: false,
  version,
  internalIP: undefined,
  containerdConfigMode: label,
});

describe("preflight", () => {
  it("15. nodes labelled default, no secret → ready", () => {
    const r = preflight(false, [node("node-1", "default"), node("node-2", "default")]);
    expect(r.ready).toBe(true);
    expect(r.message).toContain("All 2 node(s) Ready to configure.");
  });
  it("16. secret exists → ready whatever the labels", () => {
    const r = preflight(true, [node("node-1", "custom"), node("node-2")]);
    expect(r.ready).toBe(true);
    expect(r.message).toContain("Configuration from registry module already exists.");
  });
  it("17. one custom node of three → not ready, named", () => {
    const r = preflight(false, [
      node("node-1", "default"),
      node("node-2", "custom"),
      node("node-3", "default"),
    ]);
    expect(r.ready).toBe(false);
    expect(r.message).toContain("1/3 node(s) Unready:");
    expect(r.message).toContain("- node-2: has custom toml merge containerd configuration");
  });
  it("18. empty label → unknown configuration", () => {
    expect(preflight(false, [node("node-1", "")]).message).toContain(
      "- node-1: unknown containerd configuration, waiting...",
    );
  });
  it("19. no nodes → ready", () => {
    expect(preflight(false, [])).toMatchObject({ ready: true });
    expect(preflight(false, []).message).toContain("All 0 node(s) Ready to configure.");
  });
  it("20. twelve unready nodes → ten listed, then ...and 2 more", () => {
    const nodes = Array.from({ length: 12 }, (_, i) => node(`node-${String(i).padStart(2, "0")}`));
    const lines = preflight(false, nodes).message.split("\n");
    expect(lines.filter(l => l.startsWith("- "))).toHaveLength(10);
    expect(lines.at(-1)).toBe("\t...and 2 more");
  });
});

const unmanagedOld: ModeParams = {
  mode: "Unmanaged",
  unmanaged: { imagesRepo: "old.example.com/path", scheme: "HTTPS" },
};
const directNew: ModeParams = {
  mode: "Direct",
  direct: {
    imagesRepo: "new.example.com/deckhouse/ee",
    scheme: "HTTPS",
    username: "u",
    password: "p1",
  },
};

describe("bashible config", () => {
  it("21. Unmanaged → Direct: transition has both hosts, final only the virtual one", () => {
    const t = transitionConfig(unmanagedOld, directNew, []);
    expect(Object.keys(t.hosts).sort()).toEqual(["old.example.com", "registry.d8-system.svc:5001"]);
    expect(t.hosts["registry.d8-system.svc:5001"]?.mirrors).toEqual([
      {
        host: "new.example.com",
        scheme: "https",
        auth: { username: "u", password: "p1", auth: Buffer.from("u:p1").toString("base64") },
        rewrites: [{ from: "^system/deckhouse", to: "deckhouse/ee" }],
      },
    ]);
    expect(t.imagesBase).toBe("registry.d8-system.svc:5001/system/deckhouse");
    expect(Object.keys(finalConfig(directNew, []).hosts)).toEqual(["registry.d8-system.svc:5001"]);
  });
  it("22. Direct → Direct, same host, new password: one mirror with the new credentials", () => {
    const next: ModeParams = {
      mode: "Direct",
      direct: { ...(directNew as { direct: object }).direct, password: "p2" } as never,
    };
    const mirrors = transitionConfig(directNew, next, []).hosts["registry.d8-system.svc:5001"]
      ?.mirrors;
    expect(mirrors).toHaveLength(1);
    expect(mirrors?.[0]?.auth?.password).toBe("p2");
  });
  it("23. Direct → Direct, other host: both mirrors under the virtual host", () => {
    const next: ModeParams = {
      mode: "Direct",
      direct: { imagesRepo: "other.example.com/d/ee", scheme: "HTTPS" },
    };
    const mirrors = transitionConfig(directNew, next, []).hosts["registry.d8-system.svc:5001"]
      ?.mirrors;
    expect(mirrors?.map(m => m.host)).toEqual(["new.example.com", "other.example.com"]);
  });
  it("25. secret missing, old versions, all updated: the three stage messages", () => {
    const config = finalConfig(directNew, []);
    const nodes = ["master-1", "master-2", "master-3"];
    expect(
      nodesReadiness(
        config,
        false,
        nodes.map(n => node(n)),
      ).message,
    ).toContain("Creating Managed configuration...");
    const mixed = nodesReadiness(config, true, [
      node("master-1", undefined, "old-version-0123456789"),
      node("master-2", undefined, config.version),
      node("master-3", undefined, config.version),
    ]);
    expect(mixed.ready).toBe(false);
    expect(mixed.message).toContain("2/3 node(s) ready. Waiting:");
    expect(mixed.message).toContain(
      `- master-1: "old-version-012…" → "${config.version.slice(0, 15)}…"`,
    );
    const done = nodesReadiness(
      config,
      true,
      nodes.map(n => node(n, undefined, config.version)),
    );
    expect(done).toEqual({
      ready: true,
      message: `All 3 node(s) updated to version ${config.version.slice(0, 15)}….`,
    });
  });
  it("26. Proxy params: proxy endpoints sorted, mirror the local balancer", () => {
    const proxy: ModeParams = { mode: "Proxy", proxy: { ca: "CA", username: "ro", password: "x" } };
    const c = finalConfig(proxy, ["10.0.0.2", "10.0.0.1"]);
    expect(c.proxyEndpoints).toEqual(["10.0.0.1:5001", "10.0.0.2:5001"]);
    expect(c.hosts["registry.d8-system.svc:5001"]?.mirrors[0]).toMatchObject({
      host: "127.0.0.1:5001",
      scheme: "https",
      ca: "CA",
    });
  });
});

// ---- the state machine ----------------------------------------------------------------------

const b64 = (s: string) => Buffer.from(s).toString("base64");
const legacyRegistry: DeckhouseRegistrySnapshot = {
  address: "registry.deckhouse.io",
  path: "/deckhouse/ee",
  scheme: "https",
  dockerConfigJson: JSON.stringify({
    auths: { "registry.deckhouse.io": { auth: b64("license-token:lic") } },
  }),
};
const masters: MasterNodeSnapshot[] = [
  { name: "master-0", ip: "10.0.0.10", ready: true },
  { name: "master-1", ip: "10.0.0.11", ready: true },
];
const directParams = (password = "p1", generation = 2): RegistryParams => ({
  mode: "Direct",
  generation,
  upstream: {
    imagesRepo: "registry.example.com/deckhouse/ee",
    scheme: "HTTPS",
    username: "u",
    password,
    checkMode: "Default",
  },
});

function inputs(
  params: RegistryParams,
  over: Partial<OrchestratorInputs> = {},
): OrchestratorInputs {
  return {
    params,
    currentRegistry: legacyRegistry,
    userSecrets: [],
    nodes: masters.map(m => node(m.name, "default")),
    bashibleSecretExists: false,
    masters,
    staticPods: [],
    checker: {},
    ...over,
  };
}

const clock = (iso: string) => () => new Date(iso);

describe("state machine", () => {
  it("44/52. checker not ready → RegistryContainsRequiredImages Initializing; nothing else happens", async () => {
    const r = await reconcile({ mode: "Unmanaged" }, inputs(directParams()), depsWithReusedKeys());
    expect(r.state.conditions?.map(c => [c.type, c.status, c.message])).toEqual([
      ["RegistryContainsRequiredImages", "False", "Initializing"],
      ["Ready", "False", "Transitioning to Direct"],
    ]);
    expect(r.state.bashible).toBeUndefined();
    expect(r.state.in_cluster_proxy).toBeUndefined();
    expect(r.registrySecretPatch).toBeUndefined();
    expect(r.checkerParams.registries).toHaveProperty("registry.example.com");
    const ok = checkerReadiness(r.checkerParams, {
      version: r.checkerParams.version,
      ready: true,
      message: "Mode: Default\nregistry.example.com: all 3 items are checked",
    });
    expect(ok).toEqual({
      ready: true,
      message: "Mode: Default\nregistry.example.com: all 3 items are checked",
    });
  });

  it("51. target changes → all conditions cleared; then RegistryContainsRequiredImages is True with reason Ready", async () => {
    const checker = upstreamCheckerParams(
      {
        imagesRepo: "registry.example.com/deckhouse/ee",
        scheme: "HTTPS",
        username: "u",
        password: "p1",
      },
      "Direct",
      "Default",
    );
    const previous: State = {
      mode: "Unmanaged",
      target_mode: "Unmanaged",
      conditions: [
        {
          type: "CleanupInClusterProxy",
          status: "True",
          lastTransitionTime: "2026-01-01T00:00:00.000Z",
          observedGeneration: 1,
        },
      ],
    };
    const r = await reconcile(
      previous,
      inputs(directParams(), { checker: { version: checker.version, ready: true, message: "ok" } }),
      depsWithReusedKeys(),
    );
    expect(r.state.conditions?.[0]).toMatchObject({
      type: "RegistryContainsRequiredImages",
      status: "True",
      reason: "Ready",
      message: "ok",
      observedGeneration: 2,
    });
    expect(r.state.conditions?.some(c => c.type === "CleanupInClusterProxy")).toBe(false);
    expect(r.state.mode).toBe("Unmanaged");
  });

  it("53. Direct → Direct with new credentials: conditions kept, new checker version", async () => {
    const first = await reconcile(
      { mode: "Direct", target_mode: "Direct", conditions: [] },
      inputs(directParams("p1")),
      depsWithReusedKeys(),
    );
    const second = await reconcile(
      first.state,
      inputs(directParams("p2", 3)),
      depsWithReusedKeys(),
    );
    expect(second.checkerParams.version).not.toBe(first.checkerParams.version);
    expect(second.state.target_mode).toBe("Direct");
    expect(second.state.conditions?.map(c => c.type)).toEqual([
      "RegistryContainsRequiredImages",
      "Ready",
    ]);
    expect(second.state.conditions?.[0]?.observedGeneration).toBe(3);
  });

  it.each([
    [
      "Local",
      "Proxy",
      {
        mode: "Proxy",
        generation: 2,
        upstream: { imagesRepo: "r.example/d", scheme: "HTTPS", checkMode: "Default" },
      },
    ],
    ["Proxy", "Local", { mode: "Local", generation: 2 }],
    ["Local", "Unmanaged", { mode: "Unmanaged", generation: 2 }],
  ] as const)(
    "55. %s → %s is not supported: condition, nothing else changes",
    async (from, to, params) => {
      const previous: State = { mode: from, target_mode: from, registry_service: "node-services" };
      const r = await reconcile(previous, inputs(params as RegistryParams), depsWithReusedKeys());
      expect(r.state.conditions?.[0]).toMatchObject({
        type: "ErrTransitionNotSupported",
        status: "True",
        reason: "Error",
        message: `mode transition from ${from} to ${to} not supported`,
      });
      expect(r.state.mode).toBe(from);
      expect(r.state.registry_service).toBe("node-services");
      expect(r.ready).toBe(false);
    },
  );

  it("56. Proxy: NodeServicesReady lists the masters until their pods report the config version", async () => {
    const params: RegistryParams = {
      mode: "Proxy",
      generation: 2,
      upstream: { imagesRepo: "r.example/d/ee", scheme: "HTTPS", checkMode: "Default" },
    };
    const checker = upstreamCheckerParams(
      { imagesRepo: "r.example/d/ee", scheme: "HTTPS" },
      "Proxy",
      "Default",
    );
    const deps = depsWithReusedKeys();
    let state: State = { mode: "Direct", target_mode: "Direct" };
    const run = async (over: Partial<OrchestratorInputs>) =>
      reconcile(
        state,
        inputs(params, {
          checker: { version: checker.version, ready: true },
          bashibleSecretExists: true,
          ...over,
        }),
        deps,
      );
    // make the nodes run whatever transition config comes out, so NodeServicesReady is reached
    let r = await run({});
    const version = r.state.bashible?.config?.version ?? "";
    state = r.state;
    r = await run({ nodes: masters.map(m => node(m.name, "default", version)) });
    const ns = r.state.conditions?.find(c => c.type === "NodeServicesReady");
    expect(ns?.status).toBe("False");
    expect(ns?.message).toContain("0/2 node(s) ready. Waiting:");
    expect(ns?.message).toContain(
      "- master-0: services pod(s) is not Ready or config version mismatch",
    );
    const nodeVersion = r.state.node_services?.nodes?.["master-0"]?.version ?? "";
    const pods: StaticPodSnapshot[] = [
      {
        name: "registry-nodeservices-master-0",
        node: "master-0",
        ready: true,
        version: nodeVersion,
      },
    ];
    state = r.state;
    r = await run({ nodes: masters.map(m => node(m.name, "default", version)), staticPods: pods });
    expect(r.state.conditions?.find(c => c.type === "NodeServicesReady")?.message).toContain(
      "1/2 node(s) ready. Waiting:\n- master-1:",
    );
  });

  it("58. leaving Proxy: config secrets go first, CleanupNodeServices waits for the static pods", async () => {
    const pods: StaticPodSnapshot[] = [
      { name: "registry-nodeservices-master-0", node: "master-0", ready: true, version: "v" },
    ];
    const previous: State = {
      mode: "Proxy",
      target_mode: "Direct",
      node_services: { run: true, nodes: {} },
      bashible: {
        actual_params: {
          mode: "Direct",
          direct: {
            imagesRepo: "registry.example.com/deckhouse/ee",
            scheme: "HTTPS",
            username: "u",
            password: "p1",
          },
        },
      },
    };
    const checker = upstreamCheckerParams(
      {
        imagesRepo: "registry.example.com/deckhouse/ee",
        scheme: "HTTPS",
        username: "u",
        password: "p1",
      },
      "Direct",
      "Default",
    );
    const deps = depsWithReusedKeys();
    // everything before the cleanup is ready: run until the final stage, then report all done
    let r = await reconcile(
      previous,
      inputs(directParams(), {
        checker: { version: checker.version, ready: true },
        bashibleSecretExists: true,
        staticPods: pods,
      }),
      deps,
    );
    for (
      let i = 0;
      i < 4 && !r.state.conditions?.some(c => c.type === "CleanupNodeServices");
      i++
    ) {
      const version = r.state.bashible?.config?.version ?? "";
      const proxyVersion = r.state.in_cluster_proxy?.config?.version;
      const desired = desiredRegistrySecret({
        managed: { ca: r.state.pki?.ca?.cert ?? "", username: "u", password: "p1" },
      });
      r = await reconcile(
        r.state,
        inputs(directParams(), {
          checker: { version: checker.version, ready: true },
          bashibleSecretExists: true,
          staticPods: pods,
          nodes: masters.map(m => node(m.name, "default", version)),
          inClusterProxy: {
            generation: 1,
            observedGeneration: 1,
            desired: 1,
            replicas: 1,
            updated: 1,
            available: 1,
            version: proxyVersion,
          },
          registryService: { selects: "incluster-proxy" },
          currentRegistry: {
            address: desired.address,
            path: desired.path,
            scheme: desired.scheme,
            ca: desired.ca,
            dockerConfigJson: desired.dockerConfigJson,
          },
          switcherPod: {
            ready: true,
            readyMessage: "",
            registryVersion: registrySecretHash(desired),
          },
        }),
        deps,
      );
    }
    const cleanup = r.state.conditions?.find(c => c.type === "CleanupNodeServices");
    expect(cleanup).toMatchObject({
      status: "False",
      message: "Waiting for nodes cleanup:\n- master-0",
    });
    expect(r.state.node_services).toEqual({ run: true, nodes: {} });
    expect(r.state.mode).toBe("Proxy");
  });

  it("59. an unchanged status keeps lastTransitionTime, a flip updates it, re-setting moves to the end", () => {
    const t0 = new Date("2026-01-01T00:00:00Z");
    const t1 = new Date("2026-01-01T01:00:00Z");
    let c = setCondition(
      [],
      {
        type: "ContainerdConfigPreflightReady",
        status: "False",
        reason: "Processing",
        message: "a",
      },
      1,
      t0,
    );
    c = setCondition(c, { type: "Ready", status: "False" }, 1, t0);
    c = setCondition(
      c,
      {
        type: "ContainerdConfigPreflightReady",
        status: "False",
        reason: "Processing",
        message: "b",
      },
      1,
      t1,
    );
    expect(c.map(x => x.type)).toEqual(["Ready", "ContainerdConfigPreflightReady"]);
    const seconds = (d: Date) => d.toISOString().replace(/\.\d+Z$/, "Z");
    expect(c[1]).toMatchObject({ message: "b", lastTransitionTime: seconds(t0) });
    c = setCondition(c, { type: "ContainerdConfigPreflightReady", status: "True" }, 1, t1);
    expect(c[1]?.lastTransitionTime).toBe(seconds(t1));
  });

  it("60. an init secret seeds the CA and is marked applied; Direct needs no transition stage", async () => {
    const deps = depsWithReusedKeys({ now: clock("2026-11-26T12:00:00Z") });
    const seed = await deps.ensurePki({});
    const r = await reconcile({}, inputs(directParams(), { init: { ca: seed.ca } }), deps);
    expect(r.initApplied).toBe(true);
    expect(r.state.pki?.ca?.cert).toBe(seed.ca.cert);
    expect(r.state.bashible?.actual_params?.mode).toBe("Direct");
    expect(r.state.bashible?.unmanaged_params?.imagesRepo).toBe(
      "registry.example.com/deckhouse/ee",
    );
    const again = await reconcile(r.state, inputs(directParams()), deps);
    expect(again.initApplied).toBe(false);
  });
});
