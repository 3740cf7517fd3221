// Node (containerd) configuration the orchestrator hands to bashible through the
// `registry-bashible-config` secret (docs/architecture.md#bashible-config), its two stages, and the
// preflight (docs/architecture.md#preflight). Pure: inputs are the params, the nodes as the
// snapshots show them and the master IPs.
import type { BashibleConfig, MirrorScheme, RegistryMirror } from "../domain/bashible-config";
import { cappedLines, computeHash, shortVersion } from "./hash";
import { REGISTRY_ADDRESS } from "../domain/names";
import { LOCAL_BALANCER_HOST, MANAGED_IMAGES_BASE, splitImagesRepo } from "./registry-address";

/** An external registry as the user configured it (scheme upper-case, as in the settings). */
export interface UpstreamRegistryParams {
  imagesRepo: string;
  scheme: string;
  ca?: string;
  username?: string;
  password?: string;
}

/** The module's own registry as nodes reach it (Proxy/Local): module CA and the ro user. */
export interface ModuleRegistryParams {
  ca: string;
  username: string;
  password: string;
}

/** What nodes are configured for (`bashible.actual_params`) or are going to be. */
export type ModeParams =
  | { mode: "Direct"; direct: UpstreamRegistryParams }
  | { mode: "Unmanaged"; unmanaged: UpstreamRegistryParams }
  | { mode: "Proxy"; proxy: ModuleRegistryParams }
  | { mode: "Local"; local: ModuleRegistryParams };

// The config's shape is the node side's contract (lib/domain/bashible-config.ts,
// docs/architecture.md#bashible-config); only the type is imported here, the node side's parser
// stays out of the hooks' start-up.
export type { BashibleConfig } from "../domain/bashible-config";
type Mirror = RegistryMirror;
type MirrorAuth = NonNullable<RegistryMirror["auth"]>;

export interface NodeVersion {
  name: string;
  /** `registry.deckhouse.io/version` of the node ("unknown" when absent). */
  version: string;
  containerdConfigMode?: string | undefined;
}

export interface StageResult {
  ready: boolean;
  message: string;
}

function auth(username?: string, password?: string): MirrorAuth | undefined {
  if (!username && !password) return undefined;
  const u = username ?? "";
  const p = password ?? "";
  return { username: u, password: p, auth: Buffer.from(`${u}:${p}`).toString("base64") };
}

function withOptional(mirror: Mirror): Mirror {
  const out: Mirror = { host: mirror.host, scheme: mirror.scheme };
  if (mirror.ca) out.ca = mirror.ca;
  if (mirror.auth) out.auth = mirror.auth;
  if (mirror.rewrites?.length) out.rewrites = mirror.rewrites;
  return out;
}

function mirrorScheme(scheme: string): MirrorScheme {
  return scheme.toLowerCase() === "http" ? "http" : "https";
}

function upstreamMirror(
  p: UpstreamRegistryParams,
  rewrite: boolean,
): { key: string; mirror: Mirror } {
  const { host, path } = splitImagesRepo(p.imagesRepo);
  const mirror = withOptional({
    host,
    scheme: mirrorScheme(p.scheme),
    ...(p.ca ? { ca: p.ca } : {}),
    ...(auth(p.username, p.password) ? { auth: auth(p.username, p.password) } : {}),
    ...(rewrite ? { rewrites: [{ from: "^system/deckhouse", to: path.replace(/^\//, "") }] } : {}),
  });
  return { key: rewrite ? REGISTRY_ADDRESS : host, mirror };
}

function hostsOf(params: ModeParams): Record<string, { mirrors: Mirror[] }> {
  switch (params.mode) {
    case "Direct": {
      const { key, mirror } = upstreamMirror(params.direct, true);
      return { [key]: { mirrors: [mirror] } };
    }
    case "Unmanaged": {
      const { key, mirror } = upstreamMirror(params.unmanaged, false);
      return { [key]: { mirrors: [mirror] } };
    }
    case "Proxy":
    case "Local": {
      const p = params.mode === "Proxy" ? params.proxy : params.local;
      const mirror = withOptional({
        host: LOCAL_BALANCER_HOST,
        scheme: "https",
        ca: p.ca,
        ...(auth(p.username, p.password) ? { auth: auth(p.username, p.password) } : {}),
      });
      return { [REGISTRY_ADDRESS]: { mirrors: [mirror] } };
    }
  }
}

function imagesBaseOf(params: ModeParams): string {
  switch (params.mode) {
    case "Unmanaged":
      return params.unmanaged.imagesRepo.trim().replace(/\/+$/, "");
    case "Direct":
    case "Proxy":
    case "Local":
      return MANAGED_IMAGES_BASE;
  }
}

const usesNodeServices = (p: ModeParams | undefined): boolean =>
  p?.mode === "Proxy" || p?.mode === "Local";

/** Sorted `<ip>:5001` of the masters when old or new params go through node services. */
export function proxyEndpoints(
  involved: readonly (ModeParams | undefined)[],
  masterIPs: readonly string[],
): string[] {
  if (!involved.some(usesNodeServices)) return [];
  return [...masterIPs].sort(compareIPs).map(ip => `${ip}:5001`);
}

function compareIPs(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  if (pa.length === 4 && pb.length === 4 && [...pa, ...pb].every(n => Number.isInteger(n))) {
    for (let i = 0; i < 4; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
    return 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function withVersion(config: Omit<BashibleConfig, "version">): BashibleConfig {
  const draft: BashibleConfig = { ...config, version: "" };
  const ordered: BashibleConfig = {
    mode: draft.mode,
    version: computeHash(draft),
    imagesBase: draft.imagesBase,
    proxyEndpoints: draft.proxyEndpoints,
    hosts: draft.hosts,
  };
  return ordered;
}

/** Final stage: only the new source. */
export function finalConfig(params: ModeParams, masterIPs: readonly string[]): BashibleConfig {
  return withVersion({
    mode: params.mode,
    imagesBase: imagesBaseOf(params),
    proxyEndpoints: proxyEndpoints([params], masterIPs),
    hosts: hostsOf(params),
  });
}

/**
 * Transition stage: old and new sources side by side, so nodes pull from whichever answers
 * while the switch is under way. A mirror with the same `host|scheme` under one host key is
 * replaced by the newer one (new credentials win).
 */
export function transitionConfig(
  actual: ModeParams,
  next: ModeParams,
  masterIPs: readonly string[],
): BashibleConfig {
  const hosts: Record<string, { mirrors: Mirror[] }> = {};
  for (const source of [hostsOf(actual), hostsOf(next)]) {
    for (const [key, { mirrors }] of Object.entries(source)) {
      const merged = hosts[key]?.mirrors ?? [];
      for (const mirror of mirrors) {
        const at = merged.findIndex(m => m.host === mirror.host && m.scheme === mirror.scheme);
        if (at >= 0) merged[at] = mirror;
        else merged.push(mirror);
      }
      hosts[key] = { mirrors: merged };
    }
  }
  return withVersion({
    mode: next.mode,
    imagesBase: imagesBaseOf(next),
    proxyEndpoints: proxyEndpoints([actual, next], masterIPs),
    hosts,
  });
}

export function sameParams(a: ModeParams | undefined, b: ModeParams | undefined): boolean {
  return a !== undefined && b !== undefined && computeHash(a) === computeHash(b);
}

/** Whether every node runs `config` yet (docs/architecture.md#bashible-config result messages). */
export function nodesReadiness(
  config: BashibleConfig,
  secretExists: boolean,
  nodes: readonly NodeVersion[],
  variant: "managed" | "unmanaged" = "managed",
): StageResult {
  const title =
    variant === "managed" ? "Applying configuration to nodes" : "Cleaning Managed configuration...";
  if (!secretExists) {
    return {
      ready: false,
      message:
        variant === "managed"
          ? `${title}\nCreating Managed configuration...`
          : `${title}\nWaiting for the configuration secret`,
    };
  }
  const waiting = nodes
    .filter(n => n.version !== config.version)
    .sort((a, b) => a.name.localeCompare(b.name));
  if (waiting.length === 0) {
    return {
      ready: true,
      message:
        variant === "managed"
          ? `All ${nodes.length} node(s) updated to version ${shortVersion(config.version)}.`
          : `All ${nodes.length} node(s) use the Unmanaged config.`,
    };
  }
  const target = variant === "managed" ? `"${shortVersion(config.version)}"` : "Unmanaged";
  const lines = waiting.map(n => `- ${n.name}: "${shortVersion(n.version)}" → ${target}`);
  return {
    ready: false,
    message: [
      title,
      `${nodes.length - waiting.length}/${nodes.length} node(s) ready. Waiting:`,
      ...cappedLines(lines),
    ].join("\n"),
  };
}

/**
 * docs/architecture.md#preflight: nodes must run the default containerd registry config before the
 * module owns it.
 */
export function preflight(secretExists: boolean, nodes: readonly NodeVersion[]): StageResult {
  const title = "Check current nodes configuration";
  if (secretExists) {
    return {
      ready: true,
      message: `${title}\nConfiguration from registry module already exists.\nAll ${nodes.length} node(s) Ready to configure.`,
    };
  }
  const unready = nodes
    .filter(n => n.containerdConfigMode !== "default")
    .sort((a, b) => a.name.localeCompare(b.name));
  if (unready.length === 0) {
    return { ready: true, message: `${title}\nAll ${nodes.length} node(s) Ready to configure.` };
  }
  const lines = unready.map(n =>
    n.containerdConfigMode === "custom"
      ? `- ${n.name}: has custom toml merge containerd configuration`
      : `- ${n.name}: unknown containerd configuration, waiting...`,
  );
  return {
    ready: false,
    message: [
      title,
      `${unready.length}/${nodes.length} node(s) Unready:`,
      ...cappedLines(lines),
    ].join("\n"),
  };
}
