// The orchestrator's state as it lives in values (`registry.internal.orchestrator.state`, spec
// §3.3; schema in openapi/values.yaml, which the operator enforces on every values patch).
import type { RegistryMode } from "../domain/settings";
import type { BashibleConfig, ModeParams, UpstreamRegistryParams } from "./bashible";
import type { Condition } from "./conditions";
import type { PkiState, UserKey, UserState } from "./deps";
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
  pki?: Partial<PkiState>;
  secrets?: { http?: string };
  users?: Partial<Record<UserKey, UserState>>;
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
