// Secret d8-system/registry-state is what operators read to watch a switch: it carries the mode,
// the target mode, the conditions, the hash and a state WITHOUT keys, passwords, password hashes,
// licences or the HTTP secret. Those stay in registry-pki, registry-user-*, the component config
// secrets and registry-bashible-config; when values are lost (operator restart), the state comes
// back from registry-state plus those secrets, and the cluster converges again without a new
// certificate, password or config version.
import { createPublicKey, X509Certificate } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { hooksWithReusedKeys } from "../support/reused-keys";
import * as settings from "../support/settings";

const fromB64 = (s: unknown) => Buffer.from(String(s), "base64").toString("utf8");
const globalValues = exampleGlobalValues();

const moduleHooks = hooksWithReusedKeys();

const PASSWORD = "upstream-Pa55word";
const MODES: [string, Record<string, unknown>][] = [
  ["Direct", settings.direct()],
  ["Direct anonymous", settings.direct({ imagesRepo: "registry.deckhouse.io/deckhouse/ce" })],
  ["Proxy", settings.proxy(settings.withPassword(PASSWORD))],
  ["Local", settings.LOCAL],
  ["configurable Unmanaged", settings.unmanaged()],
];

async function converged(registry: Record<string, unknown>): Promise<Simulation> {
  const sim = await Simulation.start({
    objects: cluster({ nodes: 4, masters: 2 }),
    globalValues,
    hooks: moduleHooks,
    openapiDir: "openapi",
  });
  sim.apply([moduleConfig(registry, 2)]);
  const result = await sim.converge(60);
  expect(result.converged, JSON.stringify(result.stuck)).toBe(true);
  return sim;
}

/** Every string under a key that names secret material, anywhere in the module's values. */
function secretMaterial(value: unknown, out = new Set<string>(), key = ""): Set<string> {
  if (typeof value === "string") {
    if (
      value.length >= 8 &&
      /key|password|passwordhash|password_hash|secret|license|licence|token|auth$/i.test(key) &&
      !/cert|crt/i.test(key)
    ) {
      out.add(value);
    }
  } else if (Array.isArray(value)) {
    for (const v of value) secretMaterial(v, out, key);
  } else if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) secretMaterial(v, out, k);
  }
  return out;
}

function registryState(sim: Simulation): Record<string, string> {
  const secret = [...sim.world.values()].find(o => o.metadata.name === "registry-state");
  if (!secret) throw new Error("no Secret registry-state");
  const data = secret.data as Record<string, string>;
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, fromB64(v)]));
}

/** The objects whose content must survive a restore unchanged. */
function keyed(objects: Iterable<KubeObject>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of objects) {
    const name = o.metadata.name;
    if (
      (o.kind === "Secret" &&
        (name === "registry-pki" ||
          name.startsWith("registry-user-") ||
          name.startsWith("registry-node-config-") ||
          name === "registry-incluster-proxy-config" ||
          name === "registry-bashible-config" ||
          name === "deckhouse-registry")) ||
      (o.kind === "Deployment" && name === "registry-incluster-proxy")
    ) {
      out[`${o.kind}/${name}`] = o.kind === "Secret" ? o.data : o.metadata.annotations;
    }
  }
  return out;
}

describe("Secret registry-state", () => {
  it.each(MODES)(
    "in %s carries no secret material in any data key",
    async (_, registry) => {
      const sim = await converged(registry);
      const data = registryState(sim);
      expect(Object.keys(data).sort()).toEqual([
        "conditions",
        "hash",
        "mode",
        "state",
        "target_mode",
      ]);
      const secrets = secretMaterial(sim.values().registry);
      secrets.add(settings.LICENCE);
      secrets.add(PASSWORD);
      expect(secrets.size).toBeGreaterThan(2);
      for (const [key, text] of Object.entries(data)) {
        for (const s of secrets) {
          expect(text.includes(s), `registry-state ${key} carries ${s.slice(0, 12)}…`).toBe(false);
        }
        expect(text).not.toMatch(/PRIVATE KEY|password|http_secret|_key:/);
      }
    },
    60_000,
  );

  it.each(MODES)(
    "in %s: after values are lost, the state comes back and nothing is re-issued",
    async (_, registry) => {
      const sim = await converged(registry);
      const before = keyed(sim.world.values());
      const mode = registryState(sim).mode;
      // an operator restart: values are empty, the cluster stays as it is
      const restarted = await Simulation.start({
        objects: [...sim.world.values()],
        globalValues,
        hooks: moduleHooks,
        openapiDir: "openapi",
      });
      const result = await restarted.converge(20);
      expect(result.converged, JSON.stringify(result.stuck)).toBe(true);
      expect(registryState(restarted).mode).toBe(mode);
      expect(keyed(restarted.world.values())).toEqual(before);
      // the mode never left: the restored state is the state the cluster is in
      expect(new Set(result.runs.map(r => r.mode))).toEqual(new Set([mode]));
    },
    60_000,
  );

  it("after values are lost, a CA whose key does not match its certificate is not trusted", async () => {
    const sim = await converged(settings.direct());
    const pki = [...sim.world.values()].find(o => o.metadata.name === "registry-pki");
    const data = pki?.data as Record<string, string>;
    // damaged while values were gone: the CA key is now another key (the token's)
    data["ca.key"] = data["token.key"] as string;
    const restarted = await Simulation.start({
      objects: [...sim.world.values()],
      globalValues,
      hooks: moduleHooks,
      openapiDir: "openapi",
    });
    const result = await restarted.converge(30);
    expect(result.converged, JSON.stringify(result.stuck)).toBe(true);
    const after = [...restarted.world.values()].find(o => o.metadata.name === "registry-pki");
    const pair = after?.data as Record<string, string>;
    const publicOf = (pem: string) =>
      createPublicKey(pem).export({ type: "spki", format: "der" }).toString("base64");
    expect(publicOf(fromB64(pair["ca.key"]))).toBe(
      publicOf(
        new X509Certificate(fromB64(pair["ca.crt"])).publicKey.export({
          type: "spki",
          format: "pem",
        }) as string,
      ),
    );
  }, 60_000);
});
