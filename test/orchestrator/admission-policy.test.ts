// The ValidatingAdmissionPolicies the module renders for ModuleConfig/deckhouse, evaluated with a
// real CEL implementation over the old and new objects, through their bindings as the API server
// would on UPDATE (a binding whose parameter object is absent follows parameterNotFoundAction).
// test/lab/admission-policy.test.ts checks the same against the real kube-apiserver.
import { describe, expect, it } from "vitest";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { moduleConfig } from "../fixtures/clusters/generate";
import { admitWithBindings } from "../support/vap";

function policy(global: Record<string, unknown>): KubeObject[] {
  const objects = renderManifests({ global, registry: {} }).filter(o =>
    o.kind.startsWith("ValidatingAdmissionPolicy"),
  );
  if (objects.length === 0) throw new Error("no ValidatingAdmissionPolicy rendered");
  return objects;
}

/** One UPDATE of ModuleConfig/deckhouse; `params` is ModuleConfig/registry (null: absent). */
function admit(
  objects: KubeObject[],
  request: {
    oldObject: unknown;
    object: unknown;
    params: ReturnType<typeof registryModule> | null;
  },
) {
  return admitWithBindings(objects, {
    oldObject: request.oldObject,
    object: request.object,
    paramObjects: request.params ? [request.params] : [],
  });
}

const staticCluster = {
  clusterIsBootstrapped: true,
  clusterConfiguration: { clusterType: "Static" },
};
const cloudCluster = {
  clusterIsBootstrapped: true,
  clusterConfiguration: { clusterType: "Cloud" },
};
const bootstrapping = {
  clusterIsBootstrapped: false,
  clusterConfiguration: { clusterType: "Static" },
};

const direct = { mode: "Direct", direct: { imagesRepo: "r.example/deckhouse/ee" } };
const proxy = { mode: "Proxy", proxy: { imagesRepo: "r.example/deckhouse/ee" } };
const local = { mode: "Local" };
const configurableUnmanaged = { mode: "Unmanaged", unmanaged: { imagesRepo: "r.example/d/ee" } };
const mc = (registry?: Record<string, unknown>) => moduleConfig(registry);
const registryModule = (enabled?: boolean) => ({
  apiVersion: "deckhouse.io/v1alpha1",
  kind: "ModuleConfig",
  metadata: { name: "registry" },
  spec: enabled === undefined ? { version: 1 } : { version: 1, enabled },
});

describe("ValidatingAdmissionPolicy on ModuleConfig/deckhouse", () => {
  it.each([
    ["legacy → Direct on a static cluster", staticCluster, undefined, direct],
    ["Direct → Proxy", staticCluster, direct, proxy],
    ["Proxy → Direct", staticCluster, proxy, direct],
    ["Local → Direct", staticCluster, local, direct],
    ["Local → configurable Unmanaged", staticCluster, local, configurableUnmanaged],
    [
      "Direct → Direct (new credentials) on a cloud cluster",
      cloudCluster,
      direct,
      { ...direct, direct: { ...direct.direct, password: "x", username: "u" } },
    ],
    ["no registry change during bootstrap", bootstrapping, direct, direct],
  ])("allows %s", (_, global, before, after) => {
    for (const params of [registryModule(true), null]) {
      const verdict = admit(policy(global), { oldObject: mc(before), object: mc(after), params });
      expect({ allowed: verdict.allowed, messages: verdict.messages }).toEqual({
        allowed: true,
        messages: [],
      });
    }
  });

  it.each([
    [
      "a change while the module is disabled",
      staticCluster,
      undefined,
      direct,
      registryModule(false),
      "forbidden when the registry module is disabled",
    ],
    [
      "a change during bootstrap",
      bootstrapping,
      undefined,
      direct,
      registryModule(),
      "forbidden during cluster bootstrap",
    ],
    [
      "Proxy on a cloud cluster",
      cloudCluster,
      direct,
      proxy,
      null,
      "Proxy and Local are unsupported for non-static clusters",
    ],
    [
      "Local on a cloud cluster",
      cloudCluster,
      undefined,
      local,
      null,
      "cannot be set to Proxy or Local",
    ],
    [
      "Local → Proxy",
      staticCluster,
      local,
      proxy,
      null,
      "Mode transition from Local to Proxy is not supported",
    ],
    [
      "Proxy → Local",
      staticCluster,
      proxy,
      local,
      null,
      "Mode transition from Proxy to Local is not supported",
    ],
    [
      "Local → legacy Unmanaged",
      staticCluster,
      local,
      undefined,
      null,
      "Local to Unmanaged without the `unmanaged` section",
    ],
  ])("refuses %s with its message", (_, global, before, after, params, message) => {
    const verdict = admit(policy(global), { oldObject: mc(before), object: mc(after), params });
    expect(verdict.allowed).toBe(false);
    expect(verdict.messages.join("\n")).toContain(message);
  });

  // Found against the real kube-apiserver (test/lab/admission-policy.test.ts): a binding whose
  // paramRef finds no object ALLOWS the request without evaluating its policy, so rules bound
  // through ModuleConfig/registry did nothing in a cluster without that object.
  it.each([
    ["Proxy → Local", staticCluster, proxy, local, "Mode transition from Proxy to Local"],
    ["a change during bootstrap", bootstrapping, undefined, direct, "during cluster bootstrap"],
    ["Proxy on a cloud cluster", cloudCluster, direct, proxy, "unsupported for non-static"],
  ])(
    "refuses %s also when ModuleConfig/registry does not exist",
    (_, global, before, after, message) => {
      const verdict = admit(policy(global), {
        oldObject: mc(before),
        object: mc(after),
        params: null,
      });
      expect(verdict.allowed).toBe(false);
      expect(verdict.messages.join("\n")).toContain(message);
    },
  );

  it("leaves other ModuleConfigs alone", () => {
    const other = { ...registryModule(true), metadata: { name: "prometheus" } };
    expect(
      admit(policy(cloudCluster), { oldObject: other, object: other, params: null }).matched,
    ).toBe(false);
  });

  it("allows changes outside spec.settings.registry even while the module is disabled", () => {
    const before = mc(direct);
    const after = {
      ...mc(direct),
      spec: { ...(mc(direct).spec as object), settings: { registry: direct, logLevel: "Debug" } },
    };
    const verdict = admit(policy(bootstrapping), {
      oldObject: before,
      object: after,
      params: registryModule(false),
    });
    expect(verdict.allowed).toBe(true);
  });
});
