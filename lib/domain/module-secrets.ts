// Secrets rendered from `state.pki` and `state.users` (spec §9): `registry-pki` (type
// `registry/pki`) and `registry-user-<name>` (type `registry/user`), labelled as the original
// chart labels them (module labels `heritage`/`module` plus `app: registry` and the `type`) and
// annotated with the orchestrator hash so any input change re-renders them.
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { Pki } from "./pki";
import {
  REGISTRY_USER_NAMES,
  USER_VALUES_KEY,
  userSecretName,
  type RegistryUser,
  type RegistryUserName,
  type UsersState,
} from "./users";

export const MODULE_NAMESPACE = "d8-system";
export const CONFIG_HASH_ANNOTATION = "registry.deckhouse.io/config-hash";
export const PKI_SECRET_NAME = "registry-pki";

/** A Secret whose metadata is always set (what these renderers return). */
export type ModuleSecret = ISecret & {
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  type: string;
  data: Record<string, string>;
};

function moduleSecret(
  name: string,
  type: "registry-pki" | "registry-user",
  secretType: string,
  configHash: string,
  data: Record<string, string>,
): ModuleSecret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name,
      namespace: MODULE_NAMESPACE,
      labels: { heritage: "deckhouse", module: "registry", app: "registry", type },
      annotations: { [CONFIG_HASH_ANNOTATION]: configHash },
    },
    type: secretType,
    data: Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "utf8").toString("base64")]),
    ),
  };
}

/** Secret `d8-system/registry-pki`: `ca.crt`, `ca.key`, `token.crt`, `token.key`. */
export function pkiSecret(pki: Pki, configHash: string): ModuleSecret {
  return moduleSecret(PKI_SECRET_NAME, "registry-pki", "registry/pki", configHash, {
    "ca.crt": pki.ca.cert,
    "ca.key": pki.ca.key,
    "token.crt": pki.token.cert,
    "token.key": pki.token.key,
  });
}

/** Secret `d8-system/registry-user-<name>`: `name`, `password`, `passwordHash`. */
export function userSecret(
  name: RegistryUserName,
  user: RegistryUser,
  configHash: string,
): ModuleSecret {
  return moduleSecret(userSecretName(name), "registry-user", "registry/user", configHash, {
    name: user.name,
    password: user.password,
    passwordHash: user.password_hash,
  });
}

/** One Secret per user present in `state.users`, in the order ro, rw, mirror-puller, mirror-pusher. */
export function userSecrets(users: UsersState | undefined, configHash: string): ModuleSecret[] {
  const out: ModuleSecret[] = [];
  for (const name of REGISTRY_USER_NAMES) {
    const user = users?.[USER_VALUES_KEY[name]];
    if (user !== undefined) out.push(userSecret(name, user, configHash));
  }
  return out;
}
