// The cluster's egress proxy, as Deckhouse configures it, for everything of the module that
// reaches a registry outside the cluster: the checker (hooks), the in-cluster proxy's gateway
// (Direct) and the node services' gateway (Proxy). docs/adr/0090.
//
// Source: `global.clusterConfiguration.proxy` (ClusterConfiguration; what Deckhouse's own
// helm_lib and bashible use), else `global.modules.proxy` (the older global setting), each
// `{httpProxy, httpsProxy, noProxy: [...]}`. NO_PROXY is what Deckhouse adds for every component
// (127.0.0.1, the metadata address, the cluster domain, the pod and service subnets) plus the
// module's own addresses — loopback, `registry.d8-system.svc`, the masters' addresses — so that
// the module never sends its own traffic to the proxy, plus the user's list.
import type { EgressProxy } from "../oci/proxy";
import { isRecord } from "../validation/reader";

const MODULE_OWN = ["127.0.0.1", "::1", "localhost", "registry.d8-system.svc", ".d8-system.svc"];
const METADATA = "169.254.169.254";

function record(v: unknown): Record<string, unknown> | undefined {
  return isRecord(v) ? v : undefined;
}

function text(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() !== "" ? v.trim() : undefined;
}

/** The non-blank strings among `values`, trimmed. */
function texts(values: readonly unknown[]): string[] {
  return values.flatMap(v => (text(v) ? [text(v) as string] : []));
}

/**
 * The egress proxy from global values; undefined when the cluster has none. `extraNoProxy`: more
 * addresses the caller reaches directly (the masters' InternalIPs).
 */
export function egressProxyFromValues(
  global: unknown,
  extraNoProxy: readonly string[] = [],
): EgressProxy | undefined {
  const { cluster, settings } = proxySettings(global);
  const httpProxy = text(settings?.httpProxy);
  const httpsProxy = text(settings?.httpsProxy);
  if (!httpProxy && !httpsProxy) return undefined;
  const user = Array.isArray(settings?.noProxy) ? texts(settings.noProxy) : [];
  const noProxy = [
    ...MODULE_OWN,
    METADATA,
    ...texts([cluster?.clusterDomain, cluster?.podSubnetCIDR, cluster?.serviceSubnetCIDR]),
    ...extraNoProxy,
    ...user,
  ];
  return {
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    noProxy: [...new Set(noProxy)],
  };
}

/** ClusterConfiguration, and the proxy settings: its own, else the older global setting. */
function proxySettings(global: unknown) {
  const g = record(global);
  const cluster = record(g?.clusterConfiguration);
  const settings = record(cluster?.proxy) ?? record(record(g?.modules)?.proxy);
  return { cluster, settings };
}

/**
 * Hosts of the module's own registries among the checker's (Local mode checks each master's
 * `<InternalIP>:5001/system/deckhouse`): reached directly, never through the proxy.
 */
export function moduleRegistryHosts(addresses: readonly string[]): string[] {
  return addresses.flatMap(address => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[^/:]+):5001\/system\/deckhouse(?:\/|$)/.exec(address);
    return m?.[1] ? [m[1].replace(/^\[|\]$/g, "")] : [];
  });
}
