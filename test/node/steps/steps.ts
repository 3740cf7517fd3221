// The node side as bash steps (docs/architecture.md#node-side), rendered from the bashible config:
// a stand-in for the registry steps of the platform's bashible, which the module does not ship
// (docs/adr/0135); the node tests, the sandbox and bench/node.ts run it. Pure: same config and
// options, same bytes. Each step is a complete bash script that bashible (or a sandbox) runs as
// root; each is idempotent and rewrites nothing when nothing changed.
//
// Order (weights as bashible sorts steps; docs/adr/0020-*):
//   29 registry-containerd-config-label   label custom|default (runs even without a config)
//   30 registry-proxy                      nginx stream config for 127.0.0.1:5001
//   31 registry-containerd-hosts           registry.d/<host>/hosts.toml, CA files, cleanup
//   32 registry-containerd-config          config_path in containerd's config; conf.d check
//   90 registry-version                    annotation registry.deckhouse.io/version — last,
//                                          so a node reports a version only once it has it
//
// A step's content holds registry credentials (hosts.toml): treat it as secret material.
import { isIPv4 } from "node:net";
import {
  type BashibleConfig,
  NODE_IP_PLACEHOLDER,
  parseBashibleConfig,
  REGISTRY_VERSION_ANNOTATION,
} from "../../../lib/domain/bashible-config";
import { renderStepTemplate } from "./render-template";
import {
  type ContainerdFlavor,
  type CredentialsSource,
  hostDirectoryFiles,
  NodeRenderError,
} from "./hosts-toml";
import {
  CONTAINERD_CONFIG_LABEL_FILE,
  HOSTS_STATE_FILE,
  nodePaths,
  type NodePaths,
  REGISTRY_PROXY_LISTEN,
} from "./paths";
import { shellQuote, shellWordWithNodeIp } from "./shell";

export type NodeStepName =
  | "registry-containerd-config-label"
  | "registry-proxy"
  | "registry-containerd-hosts"
  | "registry-containerd-config"
  | "registry-version";

/** Weight (bashible order) and template of each step. */
export const NODE_STEPS: Readonly<Record<NodeStepName, { weight: number; template: string }>> = {
  "registry-containerd-config-label": {
    weight: 29,
    template: "steps/containerd-config-label.sh",
  },
  "registry-proxy": { weight: 30, template: "steps/registry-proxy.sh" },
  "registry-containerd-hosts": { weight: 31, template: "steps/containerd-hosts.sh" },
  "registry-containerd-config": { weight: 32, template: "steps/containerd-config.sh" },
  "registry-version": { weight: 90, template: "steps/registry-version.sh" },
};

export interface NodeStep {
  name: NodeStepName;
  weight: number;
  /** bash; holds credentials when the config has any */
  content: string;
}

export interface NodeFacts {
  /** Node name to annotate; default: bashible's D8_NODE_HOSTNAME at run time. */
  name?: string;
  /** IPv4 that replaces ${discovered_node_ip}; default: discovered on the node at run time. */
  ip?: string;
}

export interface NodeStepOptions {
  /** Which containerd reads the hosts.toml files (docs/adr/0021-*). */
  containerd: ContainerdFlavor;
  node?: NodeFacts;
  /** Default inline; bashibleContext for steps carried by non-secret objects (docs/adr/0020-*). */
  credentials?: CredentialsSource;
  /** Sandbox only: prefix of every path the steps touch, and the balancer's listen address. */
  sandbox?: { root: string; registryProxyListen?: string };
}

export { NodeRenderError };

// Configs already validated, by the object passed in: a config rendered for 5000 nodes is
// checked once (CA parsing dominates). Configs are values: callers do not mutate them.
const validated = new WeakMap<BashibleConfig, BashibleConfig>();

function checked(config: BashibleConfig): BashibleConfig {
  let parsed = validated.get(config);
  if (parsed === undefined) {
    parsed = parseBashibleConfig(config);
    validated.set(config, parsed);
    validated.set(parsed, parsed);
  }
  return parsed;
}

/** Replaces the bootstrap placeholder everywhere when the node's IP is known at render time. */
function withNodeIp(config: BashibleConfig, ip: string): BashibleConfig {
  const sub = (s: string): string => s.replaceAll(NODE_IP_PLACEHOLDER, ip);
  return {
    ...config,
    proxyEndpoints: config.proxyEndpoints.map(sub),
    hosts: Object.fromEntries(
      Object.entries(config.hosts).map(([key, host]) => [
        key,
        { mirrors: host.mirrors.map(m => ({ ...m, host: sub(m.host) })) },
      ]),
    ),
  };
}

function usesPlaceholder(...values: string[]): boolean {
  return values.some(v => v.includes(NODE_IP_PLACEHOLDER));
}

/** Shell functions a step uses (each step carries only those, so shellcheck sees them used). */
interface PreludeFunctions {
  syncFile?: boolean;
  /** registry_sync_file also sets registry_updated */
  updated?: boolean;
  ensureOwner?: boolean;
  pruneDir?: boolean;
  hostsJson?: boolean;
  toml?: boolean;
}

function prelude(paths: NodePaths, fns: PreludeFunctions, needsNodeIp = false): string {
  return renderStepTemplate("prelude.sh", {
    fns: {
      syncFile: fns.syncFile ?? false,
      updated: fns.updated ?? false,
      ensureOwner: fns.ensureOwner ?? false,
      pruneDir: fns.pruneDir ?? false,
      hostsJson: fns.hostsJson ?? false,
      toml: fns.toml ?? false,
    },
    nodeIp: needsNodeIp ? { file: shellQuote(paths.discoveredNodeIp) } : false,
  }).trimEnd();
}

function step(name: NodeStepName, context: Record<string, unknown>): NodeStep {
  const { weight, template } = NODE_STEPS[name];
  return { name, weight, content: renderStepTemplate(template, context) };
}

function labelStep(paths: NodePaths): NodeStep {
  return step("registry-containerd-config-label", {
    prelude: prelude(paths, { syncFile: true, toml: true }),
    confD: shellQuote(paths.confD),
    conf2D: shellQuote(paths.conf2D),
    labelsDir: shellQuote(paths.nodeLabelsDir),
    labelFile: shellQuote(`${paths.nodeLabelsDir}/${CONTAINERD_CONFIG_LABEL_FILE}`),
  });
}

/** The nginx config of the registry-proxy static pod (also what the proxy step writes). */
export function renderRegistryProxyConfig(
  proxyEndpoints: readonly string[],
  options: { listen?: string; pid?: string } = {},
): string {
  return renderStepTemplate("registry-proxy-nginx.conf", {
    listen: options.listen ?? REGISTRY_PROXY_LISTEN,
    pid: options.pid ?? nodePaths().registryProxyPid,
    endpoints: [...proxyEndpoints],
  });
}

function proxyStep(config: BashibleConfig, paths: NodePaths, listen: string): NodeStep {
  const nginx = renderRegistryProxyConfig(config.proxyEndpoints, {
    listen,
    pid: paths.registryProxyPid,
  });
  return step("registry-proxy", {
    prelude: prelude(paths, { syncFile: true, ensureOwner: true }, usesPlaceholder(nginx)),
    listen,
    dir: shellQuote(paths.registryProxyDir),
    config: shellWordWithNodeIp(nginx),
  });
}

function hostsStep(
  config: BashibleConfig,
  paths: NodePaths,
  flavor: ContainerdFlavor,
  credentials: CredentialsSource,
): NodeStep {
  const keys = Object.keys(config.hosts).sort();
  let needsNodeIp = false;
  const hosts = keys.map(key => {
    const files = hostDirectoryFiles(key, config.hosts[key]!, flavor, credentials);
    needsNodeIp ||= files.some(f => usesPlaceholder(f.name, f.content));
    return {
      key: shellQuote(key),
      files: files.map(f => ({
        name: shellWordWithNodeIp(f.name),
        mode: f.mode,
        content: shellWordWithNodeIp(f.content),
      })),
    };
  });
  return step("registry-containerd-hosts", {
    prelude: prelude(paths, { syncFile: true, pruneDir: true, hostsJson: true }, needsNodeIp),
    flavor,
    registryD: shellQuote(paths.registryD),
    hosts,
    // bashible-apiserver fills credentials from its context: refuse to run against another
    // version of the Secret than the one this step was rendered from
    versionGuard:
      credentials === "bashibleContext"
        ? `{{ if ne .registry.version ${JSON.stringify(config.version)} }}` +
          `echo "registry: bashible has registry-bashible-config version {{ .registry.version }}, ` +
          `this step was rendered for ${config.version}; waiting" >&2; exit 1{{ end }}`
        : "",
  });
}

function configStep(paths: NodePaths): NodeStep {
  return step("registry-containerd-config", {
    prelude: prelude(paths, { syncFile: true, updated: true, toml: true }),
    registryDPlain: paths.registryD,
    registryD: shellQuote(paths.registryD),
    config: shellQuote(paths.containerdConfig),
    confD: shellQuote(paths.confD),
    conf2D: shellQuote(paths.conf2D),
  });
}

function versionStep(config: BashibleConfig, paths: NodePaths, node: NodeFacts): NodeStep {
  return step("registry-version", {
    versionPlain: config.version,
    nodeName: node.name === undefined ? false : shellQuote(node.name),
    kubeconfig: shellQuote(paths.kubeletKubeconfig),
    annotation: shellQuote(`${REGISTRY_VERSION_ANNOTATION}=${config.version}`),
  });
}

/**
 * Every registry step for a node, in execution order. Without a config (the module has not
 * taken over the node's registry configuration yet, or has handed it back) only the label step
 * runs: the orchestrator's preflight needs the label before there is any config.
 *
 * Throws BashibleConfigError for an invalid config and NodeRenderError for a config the chosen
 * containerd cannot express; nothing is rendered then.
 */
export function renderNodeSteps(
  config: BashibleConfig | undefined,
  options: NodeStepOptions,
): NodeStep[] {
  const paths = nodePaths(options.sandbox?.root ?? "");
  const node = options.node ?? {};
  if (node.ip !== undefined && !isIPv4(node.ip)) {
    throw new NodeRenderError("node.ip", `must be an IPv4 address, got ${JSON.stringify(node.ip)}`);
  }
  if (node.name !== undefined && !/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(node.name)) {
    throw new NodeRenderError(
      "node.name",
      `must be a Kubernetes node name, got ${JSON.stringify(node.name)}`,
    );
  }
  const label = labelStep(paths);
  if (config === undefined) return [label];
  let valid = checked(config);
  if (node.ip !== undefined) valid = withNodeIp(valid, node.ip);
  const listen = options.sandbox?.registryProxyListen ?? REGISTRY_PROXY_LISTEN;
  return [
    label,
    proxyStep(valid, paths, listen),
    hostsStep(valid, paths, options.containerd, options.credentials ?? "inline"),
    configStep(paths),
    versionStep(valid, paths, node),
  ];
}

/** The exact files the hosts step leaves in registry.d (for tests and the sandbox). */
export function expectedRegistryDFiles(
  config: BashibleConfig,
  flavor: ContainerdFlavor,
  nodeIp?: string,
): Record<string, { mode: string; content: string }> {
  let valid = checked(config);
  if (nodeIp !== undefined) valid = withNodeIp(valid, nodeIp);
  const keys = Object.keys(valid.hosts).sort();
  const out: Record<string, { mode: string; content: string }> = {};
  for (const key of keys) {
    for (const f of hostDirectoryFiles(key, valid.hosts[key]!, flavor)) {
      out[`${key}/${f.name}`] = { mode: f.mode, content: f.content };
    }
  }
  out[HOSTS_STATE_FILE] = { mode: "0644", content: `${JSON.stringify(keys)}\n` };
  return out;
}
