// Restoring the orchestrator state after values were lost (an operator restart, docs/architecture.md#orchestrator step
// 2). Secret registry-state carries the state without secret material (./state.ts publicState,
// docs/adr/0081); each secret part comes back from the secret that already holds it, so a
// restore issues no certificate, changes no password and rolls nothing out:
//   * CA and token            ← registry-pki
//   * module users            ← registry-user-*
//   * in-cluster proxy config ← registry-incluster-proxy-config (`config`, `version`)
//   * node services configs   ← registry-node-config-<node> (`config`, `version`)
//   * HTTP secret             ← either of those configs
//   * bashible config         ← registry-bashible-config (`config`)
//   * passwords in bashible.actual_params / unmanaged_params ← the ro user (Proxy/Local), or the
//     upstream credentials found in the settings, the bashible config, the in-cluster proxy
//     config or deckhouse-registry (Direct/Unmanaged).
// Pure: the hook parses the secrets; parts already present in the state are never replaced.
import type { RegistryParams } from "../domain/settings";
import { USER_NAME_BY_VALUES_KEY, userSecretName } from "../domain/users";
import type { BashibleConfig, UpstreamRegistryParams } from "./bashible";
import type { OrchestratorDeps } from "./deps";
import type { RegistryUser, UserValuesKey } from "../domain/users";
import type { InClusterProxyState } from "./incluster-proxy";
import type { DeckhouseRegistrySnapshot, PkiSnapshot, UserSnapshot } from "./model";
import type { NodeServicesNode } from "./node-services";
import { paramsFromRegistrySecret } from "./deckhouse-registry";
import { splitImagesRepo } from "./registry-address";
import type { ActualParams, State } from "./state";

export interface RestoreSources {
  params: RegistryParams;
  currentRegistry?: DeckhouseRegistrySnapshot | undefined;
  pki?: PkiSnapshot | undefined;
  users: readonly UserSnapshot[];
  inClusterProxy?: InClusterProxyState | undefined;
  nodes: Readonly<Record<string, NodeServicesNode>>;
  bashibleConfig?: BashibleConfig | undefined;
}

const USER_KEYS = Object.keys(USER_NAME_BY_VALUES_KEY) as UserValuesKey[];

export function restoreSecretParts(restored: State, src: RestoreSources): State {
  const state = structuredClone(restored);
  // Order matters: the HTTP secret and the passwords are found in parts restored before them.
  restorePki(state, src);
  restoreUsers(state, src);
  restoreInClusterProxy(state, src);
  restoreNodeServices(state, src);
  restoreHttpSecret(state);
  restoreBashible(state, src);
  return state;
}

function restorePki(state: State, src: RestoreSources): void {
  if (!state.pki && src.pki?.ca && src.pki.token) {
    state.pki = { ca: src.pki.ca, token: src.pki.token };
  }
}

function restoreUsers(state: State, src: RestoreSources): void {
  if (state.users) return;
  const users: Partial<Record<UserValuesKey, RegistryUser>> = {};
  for (const key of USER_KEYS) {
    const secret = src.users.find(
      u => u.secretName === userSecretName(USER_NAME_BY_VALUES_KEY[key]),
    );
    if (secret?.name && secret.password) {
      users[key] = {
        name: secret.name,
        password: secret.password,
        password_hash: secret.passwordHash,
      };
    }
  }
  if (Object.keys(users).length > 0) state.users = users;
}

function restoreInClusterProxy(state: State, src: RestoreSources): void {
  if (!state.in_cluster_proxy && src.inClusterProxy) {
    state.in_cluster_proxy = { config: src.inClusterProxy };
  }
}

function restoreNodeServices(state: State, src: RestoreSources): void {
  if (Object.keys(state.node_services?.nodes ?? {}).length === 0 && Object.keys(src.nodes).length) {
    state.node_services = { run: state.node_services?.run ?? true, nodes: { ...src.nodes } };
  }
}

function restoreHttpSecret(state: State): void {
  if (state.secrets?.http) return;
  const http =
    state.in_cluster_proxy?.config?.config.http_secret ||
    Object.values(state.node_services?.nodes ?? {}).find(n => n.config.http_secret)?.config
      .http_secret;
  if (http) state.secrets = { ...state.secrets, http };
}

function restoreBashible(state: State, src: RestoreSources): void {
  if (!state.bashible) return;
  if (!state.bashible.config && src.bashibleConfig) state.bashible.config = src.bashibleConfig;
  const { actual_params, unmanaged_params } = state.bashible;
  if (actual_params) state.bashible.actual_params = withPasswords(actual_params, state, src);
  if (unmanaged_params) {
    state.bashible.unmanaged_params = withUpstreamPassword(unmanaged_params, state, src);
  }
}

function withPasswords(a: ActualParams, state: State, src: RestoreSources): ActualParams {
  const out = { ...a };
  if (a.direct) out.direct = withUpstreamPassword(a.direct, state, src);
  if (a.unmanaged) out.unmanaged = withUpstreamPassword(a.unmanaged, state, src);
  const ro = state.users?.ro;
  for (const key of ["proxy", "local"] as const) {
    const p = a[key];
    if (p && !p.password && ro && ro.name === p.username)
      out[key] = { ...p, password: ro.password };
  }
  return out;
}

function withUpstreamPassword(
  p: UpstreamRegistryParams,
  state: State,
  src: RestoreSources,
): UpstreamRegistryParams {
  if (p.password || !p.username) return p;
  const password = upstreamPasswords(p, state, src).find(x => x !== undefined && x !== "");
  return password ? { ...p, password } : p;
}

/** Where the password of `p.username` at `p.imagesRepo` may still be found, best first. */
function upstreamPasswords(
  p: UpstreamRegistryParams,
  state: State,
  src: RestoreSources,
): (string | undefined)[] {
  const { host } = splitImagesRepo(p.imagesRepo);
  return [
    ...settingsPassword(p, src),
    ...bashibleMirrorPasswords(p, host, state),
    ...inClusterProxyPassword(p, host, state),
    ...deckhouseRegistryPassword(p, src),
  ];
}

function settingsPassword(p: UpstreamRegistryParams, src: RestoreSources): (string | undefined)[] {
  const settings = src.params.upstream;
  const same = settings?.imagesRepo === p.imagesRepo && settings.username === p.username;
  return same ? [settings.password] : [];
}

function bashibleMirrorPasswords(
  p: UpstreamRegistryParams,
  host: string,
  state: State,
): (string | undefined)[] {
  return Object.values(state.bashible?.config?.hosts ?? {}).flatMap(entry =>
    entry.mirrors
      .filter(m => m.host === host && m.auth?.username === p.username)
      .map(m => m.auth?.password),
  );
}

function inClusterProxyPassword(
  p: UpstreamRegistryParams,
  host: string,
  state: State,
): (string | undefined)[] {
  const proxyUser = state.in_cluster_proxy?.config?.config.upstream;
  const same = proxyUser?.host === host && proxyUser.user.name === p.username;
  return same ? [proxyUser.user.password] : [];
}

function deckhouseRegistryPassword(
  p: UpstreamRegistryParams,
  src: RestoreSources,
): (string | undefined)[] {
  if (!src.currentRegistry?.address) return [];
  try {
    const current = paramsFromRegistrySecret(src.currentRegistry);
    const same = current.imagesRepo === p.imagesRepo && current.username === p.username;
    return same ? [current.password] : [];
  } catch {
    // an unreadable deckhouse-registry is only one source among others
    return [];
  }
}

/**
 * Key pairs and users of a restored state were not written by this hook: check them in full once
 * (key matches certificate, hash matches password, ADR 0040/0041) before the state machine treats
 * them as its own. An unusable pair or user is replaced, as the state machine would replace it.
 */
export async function verifyRestored(state: State, deps: OrchestratorDeps): Promise<State> {
  const out = structuredClone(state);
  if (out.pki?.ca || out.pki?.token) {
    out.pki = await deps.ensurePki({ state: out.pki, stateChecked: false });
  }
  for (const key of Object.keys(out.users ?? {}) as UserValuesKey[]) {
    const user = out.users?.[key];
    if (user && out.users) {
      out.users[key] = await deps.ensureUser(key, user, undefined, { stateChecked: false });
    }
  }
  return out;
}
