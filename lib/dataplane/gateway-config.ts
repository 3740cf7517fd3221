// The gateway's config file (docs/dataplane.md): types and validation. Rendered by
// nodeservices-manager (Proxy/Local static pod) or by the module templates (Direct in-cluster
// proxy, lib/render), read by the gateway (images/gateway/src/config.ts loads the files it names);
// `parseGatewayConfig` is what both renderers' tests call.
import type { EgressProxy } from "../oci/proxy";
import { readEgressProxy } from "./egress-proxy";
import {
  ConfigError,
  formatHostPort,
  type HostPort,
  Problems,
  type Section,
} from "../validation/reader";

export type GatewayMode = "direct" | "proxy" | "local";
export const GATEWAY_MODES: readonly GatewayMode[] = ["direct", "proxy", "local"];

/**
 * Module users' roles (docs/architecture.md#node-services); the ACL of each is in
 * images/gateway/src/acl.ts.
 */
export type Role = "ro" | "rw" | "mirror-puller" | "mirror-pusher";
export const ROLES: readonly Role[] = ["ro", "rw", "mirror-puller", "mirror-pusher"];

export interface GatewayUser {
  name: string;
  /** bcrypt ($2a$, $2b$ or $2y$) */
  passwordHash: string;
  role: Role;
}

export interface Upstream {
  scheme: "http" | "https";
  /** host[:port] */
  host: string;
  /** repository path prefix at the upstream, no leading or trailing `/` (`deckhouse/ee`) */
  path: string;
  /** Basic credentials, also used to fetch Bearer tokens (a licence goes as `license-token`) */
  username?: string;
  password?: string;
  /** PEM file with the CA(s) that sign the upstream's certificate */
  ca?: string;
  /**
   * The cluster's egress proxy towards the upstream (docs/adr/0090, 0102). In the config file, not
   * in the environment: a proxy URL may carry credentials, and a pod's env is readable by anyone
   * who may read the pod (a static pod's too, through its mirror pod). Absent: HTTP(S)_PROXY and
   * NO_PROXY of the process, as for any program.
   */
  proxy?: EgressProxy;
}

interface Common {
  /**
   * The client-facing address, always TLS. Without `tlsFrontend` the gateway listens there itself;
   * with it, nginx does (same certificate) and forwards to the gateway what it does not serve.
   */
  listen: { address: HostPort; tls: { certificate: string; key: string } };
  /** plain-HTTP listener for /metrics, /healthz, /readyz */
  monitoring: { address: HostPort };
  /** realm of the Basic challenge */
  realm: string;
  /** the repository path clients use for the platform images; aliased to `upstream.path` */
  localPath: string;
  users: GatewayUser[];
}

/** The stock distribution the gateway fronts. */
export interface Distribution {
  /** http://host:port, normally loopback */
  url: string;
  /**
   * distribution's Prometheus endpoint on its loopback debug listener; the monitoring listener
   * relays it at `/metrics/distribution` (distribution-metrics.ts)
   */
  metricsUrl?: string;
}

/**
 * Mode proxy: the loopback listener the stock distribution uses as its `proxy.remoteurl`. It
 * issues tokens to `username`/`password` (the `proxy.username/password` of distribution's config).
 */
export interface UpstreamListener {
  address: HostPort;
  username: string;
  password: string;
  /**
   * How long a tag the upstream resolved is trusted (the settings' `proxy.ttl`, tag-ttl.ts);
   * absent: every lookup asks the upstream.
   */
  tagTtlMs?: number;
}

/**
 * Modes proxy and local: nginx terminates TLS on `listen.address` and streams blob reads from
 * distribution itself after asking the gateway for the verdict (docs/adr/0110). The gateway then
 * listens on this loopback address, plain HTTP, for what nginx forwards: every other request, and
 * the verdict subrequests (`X-Registry-Verdict: <method>`, answered 204 when allowed). The client's
 * address is nginx's `X-Forwarded-For`.
 */
export interface TlsFrontend {
  address: HostPort;
}

export type GatewayConfig =
  | (Common & { mode: "direct"; upstream: Upstream })
  | (Common & {
      mode: "proxy";
      distribution: Distribution;
      upstream: Upstream;
      upstreamListener: UpstreamListener;
      tlsFrontend?: TlsFrontend;
    })
  | (Common & { mode: "local"; distribution: Distribution; tlsFrontend?: TlsFrontend });

export const DEFAULT_LOCAL_PATH = "system/deckhouse";
export const DEFAULT_REALM = "Deckhouse registry";

/**
 * distribution's repository name grammar (reference/regexp.go), path components joined by `/`.
 * The separator is never empty (`-+`, not distribution's old `[-]*`): JavaScript regexps
 * backtrack, and an optional separator between repeated groups is exponential on paths that do
 * not match (`/v2/a/b/blobs/uploads/` against the manifest route).
 */
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
export const REPOSITORY_NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const NAME_RULE = "must be a repository path like deckhouse/ee (lower-case, no leading /)";
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

/** Validates a parsed config document; throws ConfigError listing every problem. */
export function parseGatewayConfig(raw: unknown, source = "gateway config"): GatewayConfig {
  const p = new Problems(source);
  const root = p.root(raw);
  // Read in file order: the problems are listed in the order they are found.
  const mode = root.oneOf("mode", GATEWAY_MODES, { required: true });
  const listen = readListen(root);
  const monitoringAddress = readMonitoring(root);
  const realm = root.string("realm", { pattern: /^[^"\\\r\n]+$/, rule: "must not contain quotes" });
  const localPath = root.string("localPath", { pattern: REPOSITORY_NAME, rule: NAME_RULE });
  const users = readUsers(root);
  const parts: ModeParts = {
    distribution: readDistribution(root, mode),
    upstream: readUpstreamOfMode(root, mode),
    upstreamListener: readUpstreamListener(root, mode),
    tlsFrontend: readTlsFrontend(root, mode),
  };
  root.noOtherKeys();
  p.finish();

  // finish() threw on any problem, so every required part is present from here on.
  const common: Common = {
    listen: listen as Common["listen"],
    monitoring: { address: monitoringAddress as HostPort },
    realm: realm ?? DEFAULT_REALM,
    localPath: localPath ?? DEFAULT_LOCAL_PATH,
    users: users ?? [],
  };
  if (mode === undefined) throw new ConfigError(source, [{ field: "mode", rule: "required" }]);
  return configOfMode(mode, common, parts);
}

/** The parts only some modes have, as read (undefined where absent or invalid). */
interface ModeParts {
  distribution: Distribution | undefined;
  upstream: Upstream | undefined;
  upstreamListener: UpstreamListener | undefined;
  tlsFrontend: TlsFrontend | undefined;
}

function configOfMode(mode: GatewayMode, common: Common, parts: ModeParts): GatewayConfig {
  const tlsFrontend = parts.tlsFrontend ? { tlsFrontend: parts.tlsFrontend } : {};
  switch (mode) {
    case "direct":
      return { ...common, mode, upstream: parts.upstream as Upstream };
    case "proxy":
      return {
        ...common,
        mode,
        distribution: parts.distribution as Distribution,
        upstream: parts.upstream as Upstream,
        upstreamListener: parts.upstreamListener as UpstreamListener,
        ...tlsFrontend,
      };
    case "local":
      return { ...common, mode, distribution: parts.distribution as Distribution, ...tlsFrontend };
  }
}

const usesDistribution = (mode: GatewayMode | undefined) => mode === "proxy" || mode === "local";
const usesUpstream = (mode: GatewayMode | undefined) => mode === "proxy" || mode === "direct";

/** `listen`; fields are undefined where absent or invalid (the problem is recorded). */
function readListen(root: Section) {
  const listen = root.section("listen", { required: true });
  const address = listen?.address("address", { required: true, listener: true });
  const tls = listen?.section("tls", { required: true });
  const certificate = tls?.path_("certificate", { required: true });
  const key = tls?.path_("key", { required: true });
  tls?.noOtherKeys();
  listen?.noOtherKeys();
  return { address, tls: { certificate, key } };
}

function readMonitoring(root: Section): HostPort | undefined {
  const monitoring = root.section("monitoring", { required: true });
  const address = monitoring?.address("address", { required: true, listener: true });
  monitoring?.noOtherKeys();
  return address;
}

function readDistribution(root: Section, mode: GatewayMode | undefined): Distribution | undefined {
  if (!usesDistribution(mode)) {
    if (root.has("distribution")) root.reject("distribution", `not used in mode ${mode ?? "?"}`);
    return undefined;
  }
  const d = root.section("distribution", { required: true });
  const url = d?.string("url", {
    required: true,
    pattern: /^http:\/\/[^/@]+$/,
    rule: "must be http://host:port (the stock distribution on loopback, no path)",
  });
  const metricsUrl = d?.string("metricsUrl", {
    pattern: /^http:\/\/[^/@]+\/[^\s?#]*$/,
    rule: "must be http://host:port/path (distribution's debug listener)",
  });
  d?.noOtherKeys();
  return url ? { url, ...(metricsUrl ? { metricsUrl } : {}) } : undefined;
}

function readUpstreamOfMode(root: Section, mode: GatewayMode | undefined): Upstream | undefined {
  if (!usesUpstream(mode)) {
    if (root.has("upstream")) root.reject("upstream", `not used in mode ${mode ?? "?"}`);
    return undefined;
  }
  const u = root.section("upstream", { required: true });
  const upstream = u ? readUpstream(u) : undefined;
  u?.noOtherKeys();
  return upstream;
}

function readUpstreamListener(
  root: Section,
  mode: GatewayMode | undefined,
): UpstreamListener | undefined {
  if (mode !== "proxy") {
    if (root.has("upstreamListener")) root.reject("upstreamListener", `only used in mode proxy`);
    return undefined;
  }
  const l = root.section("upstreamListener", { required: true });
  const address = l?.address("address", { required: true, listener: true });
  const username = l?.string("username", {
    required: true,
    pattern: /^[^:]+$/,
    rule: "must not contain ':'",
  });
  const password = l?.string("password", { required: true });
  const tagTtlMs = l?.duration("tagTtl");
  l?.noOtherKeys();
  if (!address || !username || !password) return undefined;
  return { address, username, password, ...(tagTtlMs !== undefined ? { tagTtlMs } : {}) };
}

function readTlsFrontend(root: Section, mode: GatewayMode | undefined): TlsFrontend | undefined {
  if (!root.has("tlsFrontend")) return undefined;
  if (!usesDistribution(mode)) {
    root.reject("tlsFrontend", `not used in mode ${mode ?? "?"} (no distribution to serve blobs)`);
    return undefined;
  }
  const f = root.section("tlsFrontend", { required: true });
  const address = f?.address("address", { required: true, listener: true });
  f?.noOtherKeys();
  return address ? { address } : undefined;
}

function readUsers(root: Section): GatewayUser[] | undefined {
  const items = root.sections("users", { required: true, minItems: 1 });
  if (!items) return undefined;
  // a name may come again with another password and the same role: one user accepted with
  // either password while a switch rotates it (docs/adr/0122)
  const roles = new Map<string, Role>();
  const users: GatewayUser[] = [];
  for (const item of items) {
    const name = item.string("name", {
      required: true,
      pattern: /^[^:\s]+$/,
      rule: "must not contain ':' or spaces",
    });
    const passwordHash = item.string("passwordHash", {
      required: true,
      pattern: BCRYPT,
      rule: "must be a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)",
    });
    const role = item.oneOf("role", ROLES, { required: true });
    item.noOtherKeys();
    const earlier = name === undefined ? undefined : roles.get(name);
    if (earlier && role && earlier !== role)
      item.reject("role", `user ${name} is listed before with role ${earlier}: one role per user`);
    if (name && role && !earlier) roles.set(name, role);
    if (name && passwordHash && role) users.push({ name, passwordHash, role });
  }
  return users;
}

function readUpstream(u: Section): Upstream | undefined {
  const url = u.string("url", {
    required: true,
    pattern: /^https?:\/\/[^/@\s]+$/,
    rule: "must be http(s)://host[:port] without path or credentials (the path goes in upstream.path)",
  });
  const path = u.string("path", { required: true, pattern: REPOSITORY_NAME, rule: NAME_RULE });
  const username = u.string("username", { pattern: /^[^:]+$/, rule: "must not contain ':'" });
  const password = u.string("password");
  if (username !== undefined && password === undefined)
    u.reject("password", "required when upstream.username is set");
  if (password !== undefined && username === undefined)
    u.reject("username", "required when upstream.password is set");
  const ca = u.path_("ca");
  let scheme: Upstream["scheme"] | undefined;
  let host: string | undefined;
  if (url) {
    try {
      const parsed = new URL(url);
      scheme = parsed.protocol === "https:" ? "https" : "http";
      host = parsed.host;
    } catch {
      u.reject("url", "is not a valid URL");
    }
  }
  if (ca && scheme === "http") u.reject("ca", "not allowed when upstream.url is http://");
  const proxySection = u.section("proxy");
  const proxy = proxySection && readEgressProxy(proxySection);
  if (!scheme || !host || !path) return undefined;
  return { scheme, host, path, username, password, ca, ...(proxy ? { proxy } : {}) };
}

/** The config as its file spells it: `parseGatewayConfig(formatGatewayConfig(c))` equals `c`. */
export function formatGatewayConfig(c: GatewayConfig): Record<string, unknown> {
  const base = {
    mode: c.mode,
    listen: {
      address: formatHostPort(c.listen.address),
      tls: c.listen.tls,
    },
    monitoring: { address: formatHostPort(c.monitoring.address) },
    realm: c.realm,
    localPath: c.localPath,
    users: c.users,
  };
  const frontend = (f: TlsFrontend | undefined) =>
    f ? { tlsFrontend: { address: formatHostPort(f.address) } } : {};
  switch (c.mode) {
    case "local":
      return { ...base, distribution: c.distribution, ...frontend(c.tlsFrontend) };
    case "direct":
      return { ...base, upstream: formatUpstream(c.upstream) };
    case "proxy":
      return {
        ...base,
        distribution: c.distribution,
        upstream: formatUpstream(c.upstream),
        upstreamListener: {
          address: formatHostPort(c.upstreamListener.address),
          username: c.upstreamListener.username,
          password: c.upstreamListener.password,
          ...(c.upstreamListener.tagTtlMs !== undefined
            ? { tagTtl: `${Math.round(c.upstreamListener.tagTtlMs / 1000)}s` }
            : {}),
        },
        ...frontend(c.tlsFrontend),
      };
  }
}

function formatUpstream(u: Upstream): Record<string, unknown> {
  return {
    url: `${u.scheme}://${u.host}`,
    path: u.path,
    ...(u.username !== undefined ? { username: u.username, password: u.password } : {}),
    ...(u.ca ? { ca: u.ca } : {}),
    ...(u.proxy ? { proxy: u.proxy } : {}),
  };
}
