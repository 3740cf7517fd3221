// Secrets rendered from state.pki and state.users (spec §9), validated against the Kubernetes
// schemas by kubernetes-models.
import { Secret } from "kubernetes-models/v1/Secret";
import { describe, expect, it } from "vitest";
import { pkiSecret, userSecret, userSecrets } from "../../lib/domain/module-secrets";
import type { Pki } from "../../lib/domain/pki";
import type { RegistryUser } from "../../lib/domain/users";

const PKI: Pki = {
  ca: { cert: "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n", key: "ca-key" },
  token: { cert: "token-cert", key: "token-key" },
};
const user = (name: string): RegistryUser => ({
  name,
  password: `${name}-password`,
  password_hash: `$2a$10$${name}`,
});

const decode = (data: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]),
  );

describe("registry-pki", () => {
  it("is a valid Secret of type registry/pki with the four keys", () => {
    const secret = pkiSecret(PKI, "hash-1");
    expect(() => new Secret(secret).validate()).not.toThrow();
    expect(secret.metadata).toEqual({
      name: "registry-pki",
      namespace: "d8-system",
      labels: { heritage: "deckhouse", module: "registry", app: "registry", type: "registry-pki" },
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
});

describe("registry-user-<name>", () => {
  it("is a valid Secret of type registry/user with name, password, passwordHash", () => {
    const secret = userSecret("mirror-puller", user("mirror-puller"), "hash-2");
    expect(() => new Secret(secret).validate()).not.toThrow();
    expect(secret.metadata.name).toBe("registry-user-mirror-puller");
    expect(secret.metadata.labels).toEqual({
      heritage: "deckhouse",
      module: "registry",
      app: "registry",
      type: "registry-user",
    });
    expect(secret.type).toBe("registry/user");
    expect(decode(secret.data)).toEqual({
      name: "mirror-puller",
      password: "mirror-puller-password",
      passwordHash: "$2a$10$mirror-puller",
    });
  });

  it("one per user present, in the order ro, rw, mirror-puller, mirror-pusher", () => {
    const secrets = userSecrets(
      {
        mirror_pusher: user("mirror-pusher"),
        ro: user("ro"),
        mirror_puller: user("mirror-puller"),
      },
      "h",
    );
    expect(secrets.map(s => s.metadata.name)).toEqual([
      "registry-user-ro",
      "registry-user-mirror-puller",
      "registry-user-mirror-pusher",
    ]);
    for (const s of secrets) expect(() => new Secret(s).validate()).not.toThrow();
    expect(userSecrets(undefined, "h")).toEqual([]);
  });

  it("kubernetes-models would refuse a malformed Secret (the check can fail)", () => {
    const secret = userSecret("ro", user("ro"), "h");
    const broken = { ...secret, data: { name: 42 } } as unknown as Secret;
    expect(() => new Secret(broken).validate()).toThrow();
  });
});
