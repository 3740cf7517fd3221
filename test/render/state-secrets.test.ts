// Secrets rendered from state.pki and state.users (registry-pki, registry-user-<name>) by the
// renderer the module ships (lib/render/manifests.ts, templates/state/), validated against the
// Kubernetes schema by kubernetes-models. These assertions were on a second renderer that nothing
// shipped used (lib/domain/module-secrets.ts, removed: docs/adr/0135).
import { Secret } from "kubernetes-models/v1/Secret";
import { describe, expect, it } from "vitest";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { globalValues } from "../support/mode-states";

const PKI = {
  ca: { cert: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", key: "ca-key" },
  token: { cert: "token-cert", key: "token-key" },
};
const user = (name: string) => ({
  name,
  password: `${name}-password`,
  password_hash: `$2a$10$${name}`,
});

function secrets(state: Record<string, unknown>, hash = "hash-1"): Secret[] {
  const objects = renderManifests({
    global: globalValues(),
    registry: {
      internal: {
        orchestrator: { hash, state: { mode: "Local", target_mode: "Local", ...state } },
      },
    },
  });
  return objects
    .filter((o: KubeObject) => o.kind === "Secret")
    .filter(o => o.metadata.name === "registry-pki" || o.metadata.name.startsWith("registry-user-"))
    .map(o => new Secret(o as never));
}
const byName = (list: Secret[], name: string): Secret => {
  const found = list.find(s => s.metadata?.name === name);
  if (!found) throw new Error(`no Secret ${name} among ${list.map(s => s.metadata?.name).join()}`);
  return found;
};
const decode = (data: Record<string, string> | undefined) =>
  Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
  );

describe("registry-pki", () => {
  it("is a valid Secret of type registry/pki with the four keys", () => {
    const secret = byName(secrets({ pki: PKI }, "hash-1"), "registry-pki");
    expect(() => secret.validate()).not.toThrow();
    expect(secret.metadata).toEqual({
      name: "registry-pki",
      namespace: "d8-system",
      labels: { heritage: "deckhouse", module: "registry" },
      annotations: { "registry.deckhouse.io/config-hash": "hash-1" },
    });
    expect(secret.type).toBe("registry/pki");
    expect(decode(secret.data)).toEqual({
      "ca.crt": PKI.ca.cert,
      "ca.key": "ca-key",
      "token.crt": "token-cert",
      "token.key": "token-key",
    });
  });

  it("is not rendered without both the CA and the token pair", () => {
    expect(secrets({}).map(s => s.metadata?.name)).toEqual([]);
    expect(secrets({ pki: { ca: PKI.ca } }).map(s => s.metadata?.name)).toEqual([]);
  });
});

describe("registry-user-<name>", () => {
  it("is a valid Secret of type registry/user with name, password, passwordHash", () => {
    const rendered = secrets({ users: { mirror_puller: user("mirror-puller") } }, "hash-2");
    const secret = byName(rendered, "registry-user-mirror-puller");
    expect(() => secret.validate()).not.toThrow();
    expect(secret.metadata).toEqual({
      name: "registry-user-mirror-puller",
      namespace: "d8-system",
      labels: { heritage: "deckhouse", module: "registry" },
      annotations: { "registry.deckhouse.io/config-hash": "hash-2" },
    });
    expect(secret.type).toBe("registry/user");
    expect(decode(secret.data)).toEqual({
      name: "mirror-puller",
      password: "mirror-puller-password",
      passwordHash: "$2a$10$mirror-puller",
    });
  });

  it("one per user present in state.users, none without users", () => {
    const rendered = secrets({
      users: {
        mirror_pusher: user("mirror-pusher"),
        ro: user("ro"),
        mirror_puller: user("mirror-puller"),
      },
    });
    expect(rendered.map(s => s.metadata?.name).sort()).toEqual([
      "registry-user-mirror-puller",
      "registry-user-mirror-pusher",
      "registry-user-ro",
    ]);
    for (const s of rendered) expect(() => s.validate()).not.toThrow();
    expect(secrets({ pki: PKI }).map(s => s.metadata?.name)).toEqual(["registry-pki"]);
  });

  it("kubernetes-models would refuse a malformed Secret (the check can fail)", () => {
    const [secret] = secrets({ users: { ro: user("ro") } });
    const broken = new Secret({ ...secret, data: { name: 42 } } as never);
    expect(() => broken.validate()).toThrow();
  });
});
