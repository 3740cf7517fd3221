// The ValidatingAdmissionPolicies the module renders for ModuleConfig/deckhouse, evaluated with a
// real CEL implementation over the old and new objects as the API server would on UPDATE: every
// binding with its policy, the param (ModuleConfig/registry) resolved by the binding's paramRef.
import { describe, expect, it } from "vitest";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { admit } from "../../lib/simulate/admission";
import { moduleConfig } from "../fixtures/clusters/generate";
import * as settings from "../support/settings";

function policies(global: Record<string, unknown>, actualMode?: string): KubeObject[] {
  const registry = actualMode
    ? { internal: { orchestrator: { hash: "h", state: { mode: actualMode } } } }
    : {};
  return renderManifests({ global, registry }).filter(o =>
    o.kind.startsWith("ValidatingAdmissionPolicy"),
  );
}

const { staticCluster, cloudCluster, bootstrapping } = settings.CLUSTER_FACTS;
const anonymous = { imagesRepo: settings.UPSTREAM_REPO };
const direct = settings.direct(anonymous);
const proxy = settings.proxy(anonymous);
const local = settings.LOCAL;
const configurableUnmanaged = settings.unmanaged(anonymous);
const mc = (registry?: Record<string, unknown>) => moduleConfig(registry);
const registryModule = (enabled?: boolean) => ({
  apiVersion: "deckhouse.io/v1alpha1",
  kind: "ModuleConfig",
  metadata: { name: "registry" },
  spec: enabled === undefined ? { version: 1 } : { version: 1, enabled },
});
/** ModuleConfig/registry as the cluster has it: absent (null) or this object. */
const lookupOf = (registryMc: KubeObject | null) => (kind: string, name: string) =>
  registryMc && kind === "ModuleConfig" && name === registryMc.metadata.name
    ? registryMc
    : undefined;

/** The mode the cluster is in, as the orchestrator state says: the old settings' mode here. */
const modeOf = (registry?: Record<string, unknown>) =>
  typeof registry?.mode === "string" ? registry.mode : "Unmanaged";

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
      settings.direct(settings.withPassword("x")),
    ],
    ["no registry change during bootstrap", bootstrapping, direct, direct],
  ])("allows %s", (_, global, before, after) => {
    const messages = admit(
      policies(global, modeOf(before)),
      mc(after),
      mc(before),
      lookupOf(registryModule(true) as KubeObject),
    );
    expect(messages).toEqual([]);
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
    const messages = admit(
      policies(global, modeOf(before)),
      mc(after),
      mc(before),
      lookupOf(params as KubeObject | null),
    );
    expect(messages.join("\n")).toContain(message);
  });

  it("is named deckhouse-module-registry-validation, as the original", () => {
    const names = policies(staticCluster).map(o => `${o.kind}/${o.metadata.name}`);
    expect(names).toContain("ValidatingAdmissionPolicy/deckhouse-module-registry-validation");
    expect(names).toContain(
      "ValidatingAdmissionPolicyBinding/deckhouse-module-registry-validation",
    );
  });

  it("applies the cluster rules when ModuleConfig/registry is absent (the module runs by default)", () => {
    const none = lookupOf(null);
    expect(admit(policies(cloudCluster), mc(proxy), mc(direct), none).join("\n")).toContain(
      "Proxy and Local are unsupported for non-static clusters",
    );
    expect(admit(policies(bootstrapping), mc(direct), mc(), none).join("\n")).toContain(
      "forbidden during cluster bootstrap",
    );
    expect(admit(policies(staticCluster), mc(direct), mc(), none)).toEqual([]);
  });

  it("judges Proxy → Local by the mode the cluster is in, not by the old settings", () => {
    const enabled = lookupOf(registryModule(true) as KubeObject);
    // settings said Proxy, but the cluster is still in Direct: Local is reachable from there
    expect(admit(policies(staticCluster, "Direct"), mc(local), mc(proxy), enabled)).toEqual([]);
    // settings say Direct, but the cluster is still in Proxy: Local is not reachable yet
    expect(
      admit(policies(staticCluster, "Proxy"), mc(local), mc(direct), enabled).join("\n"),
    ).toContain("Mode transition from Proxy to Local is not supported");
  });

  it("leaves other ModuleConfigs alone", () => {
    const other = {
      ...registryModule(true),
      metadata: { name: "prometheus" },
      spec: { settings: { registry: proxy } },
    } as KubeObject;
    expect(admit(policies(cloudCluster), other, other, lookupOf(null))).toEqual([]);
  });

  it("allows changes outside spec.settings.registry even while the module is disabled", () => {
    const before = mc(direct);
    const after = {
      ...mc(direct),
      spec: { ...(mc(direct).spec as object), settings: { registry: direct, logLevel: "Debug" } },
    };
    const messages = admit(
      policies(bootstrapping, "Direct"),
      after as KubeObject,
      before,
      lookupOf(registryModule(false) as KubeObject),
    );
    expect(messages).toEqual([]);
  });
});
