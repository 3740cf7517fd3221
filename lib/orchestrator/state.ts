// The orchestrator's state as it lives in values (`registry.internal.orchestrator.state`,
// docs/architecture.md#values; schema in openapi/values.yaml, which the operator enforces on every
// values patch).
import type { RegistryMode } from "../domain/settings";
import type { BashibleConfig, ModeParams, UpstreamRegistryParams } from "./bashible";
import type { Condition } from "./conditions";
import type { Pki } from "../domain/pki";
import type { RegistryUser, UserValuesKey } from "../domain/users";
import type { InClusterProxyState } from "./incluster-proxy";
import type { NodeServicesState } from "./node-services";

export type RegistryService = "" | "incluster-proxy" | "node-services";

/** `bashible.actual_params` in the values layout: the mode and its one section. */
export interface ActualParams {
  mode?: RegistryMode;
  direct?: UpstreamRegistryParams;
  unmanaged?: UpstreamRegistryParams;
  proxy?: { ca: string; username: string; password: string };
  local?: { ca: string; username: string; password: string };
}

export interface State {
  mode?: RegistryMode;
  target_mode?: RegistryMode;
  pki?: Partial<Pki>;
  secrets?: { http?: string };
  users?: Partial<Record<UserValuesKey, RegistryUser>>;
  bashible?: {
    unmanaged_params?: UpstreamRegistryParams;
    actual_params?: ActualParams;
    config?: BashibleConfig;
  };
  in_cluster_proxy?: { config?: InClusterProxyState };
  node_services?: NodeServicesState;
  ingress_enabled?: boolean;
  registry_service?: RegistryService;
  conditions?: Condition[];
}

export function toActualParams(p: ModeParams): ActualParams {
  switch (p.mode) {
    case "Direct":
      return { mode: "Direct", direct: p.direct };
    case "Unmanaged":
      return { mode: "Unmanaged", unmanaged: p.unmanaged };
    case "Proxy":
      return { mode: "Proxy", proxy: p.proxy };
    case "Local":
      return { mode: "Local", local: p.local };
  }
}

export function fromActualParams(a: ActualParams | undefined): ModeParams | undefined {
  switch (a?.mode) {
    case "Direct":
      return a.direct && { mode: "Direct", direct: a.direct };
    case "Unmanaged":
      return a.unmanaged && { mode: "Unmanaged", unmanaged: a.unmanaged };
    case "Proxy":
      return a.proxy && { mode: "Proxy", proxy: a.proxy };
    case "Local":
      return a.local && { mode: "Local", local: a.local };
    case undefined:
      return undefined;
  }
}

/**
 * What Secret registry-state shows of the state (docs/adr/0081): everything progress and a
 * restore need, and no key, password, password hash, licence or HTTP secret. Those live in
 * registry-pki, registry-user-*, the component config secrets and registry-bashible-config, and a
 * restore takes them back from there (./restore.ts).
 */
export function publicState(state: State): Omit<State, "conditions"> {
  const {
    conditions: _conditions,
    pki: _pki,
    secrets: _secrets,
    users: _users,
    in_cluster_proxy: _proxy,
    node_services,
    bashible,
    ...rest
  } = state;
  const out: Omit<State, "conditions"> = { ...rest };
  if (node_services) out.node_services = node_services.run ? { run: true } : { run: false };
  if (bashible) {
    const { config: _config, actual_params, unmanaged_params } = bashible;
    out.bashible = {
      ...(actual_params ? { actual_params: withoutPasswords(actual_params) } : {}),
      ...(unmanaged_params ? { unmanaged_params: withoutPassword(unmanaged_params) } : {}),
    };
  }
  return out;
}

function withoutPassword<T extends { password?: string }>(p: T): Omit<T, "password"> {
  const { password: _password, ...rest } = p;
  return rest;
}

function withoutPasswords(a: ActualParams): ActualParams {
  const out: ActualParams = { ...(a.mode ? { mode: a.mode } : {}) };
  if (a.direct) out.direct = withoutPassword(a.direct);
  if (a.unmanaged) out.unmanaged = withoutPassword(a.unmanaged);
  // the module registry's password is the ro user's, restored from registry-user-ro
  if (a.proxy) out.proxy = withoutPassword(a.proxy) as NonNullable<ActualParams["proxy"]>;
  if (a.local) out.local = withoutPassword(a.local) as NonNullable<ActualParams["local"]>;
  return out;
}
