// Where the node steps read and write, as on a node. A sandbox root (tests, `registry-module
// sandbox`) prefixes every one of them; on a node the root is empty.

export const NODE_PATHS = {
  registryD: "/etc/containerd/registry.d",
  containerdConfig: "/etc/containerd/config.toml",
  /** containerd v1 drop-ins (merged by the platform's toml-merge) */
  confD: "/etc/containerd/conf.d",
  /** containerd v2 drop-ins (containerd `imports`) */
  conf2D: "/etc/containerd/conf2.d",
  registryProxyDir: "/etc/kubernetes/registry-proxy",
  /** inside the registry-proxy static pod */
  registryProxyPid: "/tmp/registry-proxy.pid",
  nodeLabelsDir: "/var/lib/node_labels",
  kubeletKubeconfig: "/etc/kubernetes/kubelet.conf",
  /** written by bashible's node IP discovery step */
  discoveredNodeIp: "/var/lib/bashible/discovered-node-ip",
} as const;

export type NodePaths = { -readonly [K in keyof typeof NODE_PATHS]: string };

/** The label file the platform turns into node labels; one `key=value` line. */
export const CONTAINERD_CONFIG_LABEL_FILE = "containerd-conf-registry";
export const HOSTS_STATE_FILE = "deckhouse_hosts_state.json";
/** Where every node reaches the masters' registries (Proxy/Local). */
export const REGISTRY_PROXY_LISTEN = "127.0.0.1:5001";

export function nodePaths(root = ""): NodePaths {
  if (root !== "" && (!root.startsWith("/") || root.endsWith("/"))) {
    throw new Error(`sandbox root must be an absolute path without a trailing '/', got "${root}"`);
  }
  const out = {} as NodePaths;
  for (const [key, path] of Object.entries(NODE_PATHS)) {
    out[key as keyof NodePaths] = `${root}${path}`;
  }
  return out;
}
