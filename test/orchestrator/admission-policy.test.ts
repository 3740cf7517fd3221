// The ValidatingAdmissionPolicy the module renders for ModuleConfig/deckhouse, evaluated with a
// real CEL implementation over the old and new objects, as the API server would on UPDATE.
import { describe, expect, it } from "vitest";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { moduleConfig } from "../fixtures/clusters/generate";
import { admit } from "../support/vap";

function policy(global: Record<string, unknown>) {
  const objects = renderManifests({ global, registry: {} });
  const vap = objects.find(o => o.kind === "ValidatingAdmissionPolicy");
  if (!vap) throw new Error("no ValidatingAdmissionPolicy rendered");
  return vap as KubeObject & Parameters<typeof admit>[0];
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
    const verdict = admit(policy(global), {
      oldObject: mc(before),
      object: mc(after),
      params: registryModule(true),
    });
    expect(verdict).toEqual({ matched: true, allowed: true, messages: [] });
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
