// The error paths of the original, in its words (docs/architecture.md#in-cluster-proxy,
// #bashible-config, #node-services): a failing in-cluster proxy config or bashible config fails the
// run with the original's message first (the cause after it); an upstream CA the node services
// cannot decode is a NodeServicesReady condition with reason Error, not a failing run.
import bcrypt from "bcryptjs";
import { describe, expect, it } from "vitest";
import type { DeckhouseRegistrySnapshot } from "../../lib/orchestrator/model";
import type { RegistryParams } from "../../lib/domain/settings";
import type { OrchestratorInputs } from "../../lib/orchestrator/reconcile";
import { reconcile } from "../../lib/orchestrator/reconcile";
import type { State } from "../../lib/orchestrator/state";
import { depsWithReusedKeys } from "../support/reused-keys";

const registry: DeckhouseRegistrySnapshot = {
  address: "registry.deckhouse.io",
  path: "/deckhouse/ee",
  scheme: "https",
};
const masters = [{ name: "master-0", ip: "10.0.0.10", ready: true }];
const upstream = {
  imagesRepo: "registry.example.com/deckhouse/ee",
  scheme: "HTTPS" as const,
  username: "u",
  password: "p",
  checkMode: "Default" as const,
};

function inputs(params: RegistryParams, over: Partial<OrchestratorInputs> = {}) {
  return {
    params,
    currentRegistry: registry,
    userSecrets: [],
    nodes: [
      {
        name: "master-0",
        isMaster: true,
        version: "unknown",
        internalIP: "10.0.0.10",
        containerdConfigMode: "default",
      },
    ],
    bashibleSecretExists: true,
    masters,
    staticPods: [],
    checker: {},
    ...over,
  } satisfies OrchestratorInputs;
}

/** Runs twice: the second time with the checker reporting ready for the params of the first. */
async function withCheckerReady(state: State, i: OrchestratorInputs, deps = depsWithReusedKeys()) {
  const first = await reconcile(state, i, deps);
  const checker = { version: first.checkerParams.version, ready: true, message: "ok" };
  return reconcile(state, { ...i, checker }, deps);
}

describe("error paths in the original's words", () => {
  it("in-cluster proxy config: 'Configuration processing for incluster-proxy failed.'", async () => {
    const params: RegistryParams = { mode: "Direct", generation: 2, upstream };
    const { imagesRepo, scheme, username, password } = upstream;
    const state: State = {
      mode: "Unmanaged",
      bashible: {
        actual_params: { mode: "Direct", direct: { imagesRepo, scheme, username, password } },
      },
    };
    const deps = depsWithReusedKeys({
      ensureLeaves: () => Promise.reject(new Error("no key pair available")),
    });
    await expect(withCheckerReady(state, inputs(params), deps)).rejects.toThrow(
      /^Configuration processing for incluster-proxy failed\. no key pair available$/,
    );
  });

  it("bashible config: 'Failed to process Bashible configuration.'", async () => {
    const params: RegistryParams = { mode: "Direct", generation: 2, upstream };
    await expect(
      withCheckerReady({ mode: "Unmanaged" }, inputs(params, { currentRegistry: {} })),
    ).rejects.toThrow(/^Failed to process Bashible configuration\. .*no address/);
  });

  it("Proxy upstream CA: NodeServicesReady False, reason Error, 'Cannot decode upstream CA: …'", async () => {
    const deps = depsWithReusedKeys();
    const pki = await deps.ensurePki({});
    const ro = { name: "ro", password: "ro-pass", password_hash: bcrypt.hashSync("ro-pass", 4) };
    const params: RegistryParams = {
      mode: "Proxy",
      generation: 2,
      upstream: {
        ...upstream,
        ca: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
      },
    };
    const state: State = {
      mode: "Direct",
      pki,
      users: { ro },
      bashible: {
        actual_params: {
          mode: "Proxy",
          proxy: { ca: pki.ca.cert, username: "ro", password: "ro-pass" },
        },
      },
    };
    const r = await withCheckerReady(state, inputs(params), deps);
    const condition = r.state.conditions?.find(c => c.type === "NodeServicesReady");
    expect(condition).toMatchObject({ status: "False", reason: "Error" });
    expect(condition?.message).toMatch(/^Cannot decode upstream CA: /);
    expect(r.ready).toBe(false);
    expect(r.state.node_services?.nodes ?? {}).toEqual({});
  });
});
