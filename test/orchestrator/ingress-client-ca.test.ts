// Local: the push ingress presents ingress-nginx's client certificate to the registries on the
// masters; they trust it by the kube-rbac-proxy CA Deckhouse keeps in global values
// (`global.internal.modules.kubeRBACProxyCA.cert`), which the orchestrator hands to every node's
// config as `local_mode.ingress_client_ca` (nodeservices-manager writes ingress-client-ca.crt).
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { depsWithReusedKeys, hooksWithReusedKeys } from "../support/reused-keys";

const fromB64 = (s: unknown) => Buffer.from(String(s), "base64").toString("utf8");
const examples = exampleGlobalValues();

describe("Local ingress client CA", () => {
  it("reaches every master's node services config", async () => {
    const rbacCa = (await depsWithReusedKeys().ensurePki({})).ca.cert;
    const sim = await Simulation.start({
      objects: cluster({ nodes: 3, masters: 2, registry: { mode: "Local" } }),
      globalValues: { ...examples, internal: { modules: { kubeRBACProxyCA: { cert: rbacCa } } } },
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    await sim.converge(30);
    const configs = [...sim.world.values()].filter(o =>
      o.metadata.name.startsWith("registry-node-config-"),
    );
    expect(configs).toHaveLength(2);
    for (const secret of configs) {
      const config = parse(fromB64((secret.data as Record<string, string>).config)) as {
        local_mode?: { ingress_client_ca?: string };
      };
      expect(config.local_mode?.ingress_client_ca).toBe(rbacCa);
    }
  }, 60_000);
});
