// The node configuration the orchestrator hands to the nodes: the YAML under key `config` of
// Secret `d8-system/registry-bashible-config` (spec §8.1). The orchestrator PRODUCES exactly
// `BashibleConfig`; the node side (lib/node/, the bashible steps) CONSUMES it through
// `parseBashibleConfig`, which is the single gate every config passes before it reaches a node.
//
//   mode            Direct | Unmanaged | Proxy | Local — the mode of the *new* params
//   version         sha256 of the JSON of the config with `version` empty; nodes report it back
//                   in the annotation `registry.deckhouse.io/version` (a new value = a rollout)
//   imagesBase      `registry.d8-system.svc:5001/system/deckhouse` in managed modes, the user's
//                   imagesRepo in Unmanaged
//   proxyEndpoints  `<masterIP>:5001`, sorted, when old or new params are Proxy/Local; else []
//                   (absent in the YAML means [], as Go's `omitempty` writes it)
//   hosts           host key (what image references name, e.g. `registry.d8-system.svc:5001`) →
//                   { mirrors: [{ host, scheme, ca?, auth?: {username, password, auth},
//                                 rewrites?: [{from, to}] }] }
//
// During bootstrap of Proxy/Local, dhctl writes the literal `${discovered_node_ip}` into proxy
// endpoints and mirror hosts; the node step substitutes the node's IP (NODE_IP_PLACEHOLDER).
//
// Validation = the spec's rules (mode, version, imagesBase, hosts required; host keys non-blank;
// every mirror has host and scheme; mirrors unique by `host|scheme`) plus the rules that make the
// values safe where the node side puts them: host keys become directory names under
// /etc/containerd/registry.d, mirror hosts become TOML keys and URLs, endpoints go into an nginx
// config. Unknown fields are refused, so a producer's typo fails loudly instead of being dropped.
// Every error names the field and the rule; nothing is returned on error.

import YAML from "yaml";
import { isRegistryMode, pemCertificateProblem, type RegistryMode } from "./settings";

export const BASHIBLE_CONFIG_SECRET_NAME = "registry-bashible-config";
/** The Secret key holding the YAML document. */
export const BASHIBLE_CONFIG_SECRET_KEY = "config";
/** Node annotation through which each node reports the config version it has applied. */
export const REGISTRY_VERSION_ANNOTATION = "registry.deckhouse.io/version";
/** Literal placeholder dhctl writes at bootstrap; substituted on the node by the step. */
export const NODE_IP_PLACEHOLDER = "${discovered_node_ip}";

export type MirrorScheme = "http" | "https";
export const MIRROR_SCHEMES: readonly MirrorScheme[] = ["http", "https"];

/** Credentials for a mirror: `username`/`password`, or a ready `auth` (base64 of `user:password`). */
export interface MirrorAuth {
  username?: string;
  password?: string;
  auth?: string;
}

/** Repository path rewrite (platform containerd only): regex `from` → replacement `to`. */
export interface MirrorRewrite {
  from: string;
  to: string;
}

export interface RegistryMirror {
  /** `host[:port]`, no scheme, no path */
  host: string;
  scheme: MirrorScheme;
  /** PEM of the CA that signs the mirror's certificate */
  ca?: string;
  auth?: MirrorAuth;
  rewrites?: MirrorRewrite[];
}

export interface RegistryHost {
  mirrors: RegistryMirror[];
}

export interface BashibleConfig {
  mode: RegistryMode;
  version: string;
  imagesBase: string;
  proxyEndpoints: string[];
  /** host key → its mirrors, tried in order */
  hosts: Record<string, RegistryHost>;
}

export class BashibleConfigError extends Error {
  readonly field: string;
  readonly rule: string;
  constructor(field: string, rule: string) {
    super(`registry-bashible-config: ${field}: ${rule}`);
    this.name = "BashibleConfigError";
    this.field = field;
    this.rule = rule;
  }
}

// Host names as DNS allows them (letters, digits, `-`, dots between labels), IPv4 literals,
// bracketed IPv6 literals, each with an optional port. No `/`, no `..`: host keys become paths.
const DNS_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOST_NAME = `${DNS_LABEL}(?:\\.${DNS_LABEL})*`;
const IPV6 = "\\[[0-9A-Fa-f:.]+\\]";
const PORT = "(?::(?<port>\\d{1,5}))?";
const HOST_PORT = new RegExp(`^(?:${HOST_NAME}|${IPV6})${PORT}$`);
const PLACEHOLDER_PORT = new RegExp(`^\\$\\{discovered_node_ip\\}${PORT}$`);
const VERSION = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL = /[\u0000-\u001f\u007f]/;

function hostPortProblem(value: string, allowPlaceholder: boolean): string | undefined {
  const m = HOST_PORT.exec(value) ?? (allowPlaceholder ? PLACEHOLDER_PORT.exec(value) : null);
  if (!m) {
    return allowPlaceholder
      ? `must be host[:port] (DNS name, IPv4, [IPv6] or ${NODE_IP_PLACEHOLDER}), got ${JSON.stringify(value)}`
      : `must be host[:port] (DNS name, IPv4 or [IPv6]), got ${JSON.stringify(value)}`;
  }
  const port = m.groups?.port;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return `port must be 1..65535, got ${port}`;
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function kind(v: unknown): string {
  if (v === null) return "null";
  return Array.isArray(v) ? "array" : typeof v;
}

function object(v: unknown, field: string, keys: readonly string[]): Record<string, unknown> {
  if (!isObject(v)) throw new BashibleConfigError(field, `must be an object, got ${kind(v)}`);
  for (const key of Object.keys(v)) {
    if (!keys.includes(key)) {
      throw new BashibleConfigError(`${field}.${key}`, `unknown field (known: ${keys.join(", ")})`);
    }
  }
  return v;
}

function requiredString(v: unknown, field: string): string {
  if (v === undefined || v === null || v === "") throw new BashibleConfigError(field, "required");
  if (typeof v !== "string") {
    throw new BashibleConfigError(field, `must be a string, got ${kind(v)}`);
  }
  if (v.trim() === "") throw new BashibleConfigError(field, "must not be blank");
  if (CONTROL.test(v)) throw new BashibleConfigError(field, "must not contain control characters");
  return v;
}

/** Absent, null and "" all mean "not set", as Go's `omitempty` round-trips them. */
function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") {
    throw new BashibleConfigError(field, `must be a string, got ${kind(v)}`);
  }
  return v;
}

function optionalArray(v: unknown, field: string): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new BashibleConfigError(field, `must be an array, got ${kind(v)}`);
  return v;
}

function parseAuth(v: unknown, field: string): MirrorAuth | undefined {
  if (v === undefined || v === null) return undefined;
  const raw = object(v, field, ["username", "password", "auth"]);
  const username = optionalString(raw.username, `${field}.username`);
  const password = optionalString(raw.password, `${field}.password`);
  const auth = optionalString(raw.auth, `${field}.auth`);
  if (username !== undefined && username.includes(":")) {
    throw new BashibleConfigError(`${field}.username`, "must not contain ':' (Basic auth)");
  }
  for (const [key, value] of [
    ["username", username],
    ["password", password],
  ] as const) {
    if (value !== undefined && CONTROL.test(value)) {
      throw new BashibleConfigError(`${field}.${key}`, "must not contain control characters");
    }
  }
  if (auth !== undefined && !BASE64.test(auth)) {
    throw new BashibleConfigError(`${field}.auth`, "must be base64 of <username>:<password>");
  }
  if (password !== undefined && username === undefined && auth === undefined) {
    throw new BashibleConfigError(`${field}.username`, "required when password is set");
  }
  if (username === undefined && password === undefined && auth === undefined) return undefined;
  return {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(auth === undefined ? {} : { auth }),
  };
}

function parseRewrite(v: unknown, field: string): MirrorRewrite {
  const raw = object(v, field, ["from", "to"]);
  const from = requiredString(raw.from, `${field}.from`);
  const to = requiredString(raw.to, `${field}.to`);
  try {
    new RegExp(from);
  } catch (err) {
    throw new BashibleConfigError(
      `${field}.from`,
      `not a regular expression: ${(err as Error).message}`,
    );
  }
  return { from, to };
}

function parseMirror(v: unknown, field: string): RegistryMirror {
  const raw = object(v, field, ["host", "scheme", "ca", "auth", "rewrites"]);
  const host = requiredString(raw.host, `${field}.host`);
  const hostProblem = hostPortProblem(host, true);
  if (hostProblem) throw new BashibleConfigError(`${field}.host`, hostProblem);
  const scheme = requiredString(raw.scheme, `${field}.scheme`);
  if (!(MIRROR_SCHEMES as readonly string[]).includes(scheme)) {
    throw new BashibleConfigError(
      `${field}.scheme`,
      `must be one of ${MIRROR_SCHEMES.join(", ")} (lower case), got ${JSON.stringify(scheme)}`,
    );
  }
  const ca = optionalString(raw.ca, `${field}.ca`);
  if (ca !== undefined) {
    const problem = pemCertificateProblem(ca);
    if (problem) throw new BashibleConfigError(`${field}.ca`, problem);
  }
  const auth = parseAuth(raw.auth, `${field}.auth`);
  const rewrites = (optionalArray(raw.rewrites, `${field}.rewrites`) ?? []).map((r, i) =>
    parseRewrite(r, `${field}.rewrites[${i}]`),
  );
  return {
    host,
    scheme: scheme as MirrorScheme,
    ...(ca === undefined ? {} : { ca }),
    ...(auth === undefined ? {} : { auth }),
    ...(rewrites.length === 0 ? {} : { rewrites }),
  };
}

function parseHosts(v: unknown): Record<string, RegistryHost> {
  if (v === undefined || v === null) throw new BashibleConfigError("hosts", "required");
  if (!isObject(v)) throw new BashibleConfigError("hosts", `must be an object, got ${kind(v)}`);
  const keys = Object.keys(v);
  if (keys.length === 0) throw new BashibleConfigError("hosts", "must have at least one host");
  const hosts: Record<string, RegistryHost> = {};
  for (const key of keys) {
    const field = `hosts[${JSON.stringify(key)}]`;
    if (key.trim() === "") throw new BashibleConfigError(field, "host key must not be blank");
    const keyProblem = hostPortProblem(key, false);
    if (keyProblem) throw new BashibleConfigError(field, `host key ${keyProblem}`);
    const raw = object(v[key], field, ["mirrors"]);
    const list = optionalArray(raw.mirrors, `${field}.mirrors`) ?? [];
    if (list.length === 0) {
      throw new BashibleConfigError(`${field}.mirrors`, "must have at least one mirror");
    }
    const mirrors = list.map((m, i) => parseMirror(m, `${field}.mirrors[${i}]`));
    const seen = new Map<string, number>();
    mirrors.forEach((m, i) => {
      const id = `${m.host}|${m.scheme}`;
      const first = seen.get(id);
      if (first !== undefined) {
        throw new BashibleConfigError(
          `${field}.mirrors[${i}]`,
          `duplicate mirror ${m.scheme}://${m.host} (also mirrors[${first}]); mirrors are unique by host|scheme`,
        );
      }
      seen.set(id, i);
    });
    hosts[key] = { mirrors };
  }
  return hosts;
}

function parseProxyEndpoints(v: unknown): string[] {
  const list = optionalArray(v, "proxyEndpoints") ?? [];
  const out: string[] = [];
  list.forEach((item, i) => {
    const field = `proxyEndpoints[${i}]`;
    const endpoint = requiredString(item, field);
    const problem = hostPortProblem(endpoint, true);
    if (problem) throw new BashibleConfigError(field, problem);
    if (!/:\d+$/.test(endpoint)) throw new BashibleConfigError(field, "must have a port");
    if (out.includes(endpoint)) throw new BashibleConfigError(field, `duplicate ${endpoint}`);
    out.push(endpoint);
  });
  return out;
}

/**
 * Narrows and validates a decoded `registry-bashible-config` document. Throws
 * BashibleConfigError naming the field and the rule; returns a fresh, normalised object
 * (optional fields absent rather than empty, `proxyEndpoints` always an array).
 */
export function parseBashibleConfig(value: unknown): BashibleConfig {
  const raw = object(value, "config", ["mode", "version", "imagesBase", "proxyEndpoints", "hosts"]);
  const mode = requiredString(raw.mode, "mode");
  if (!isRegistryMode(mode)) {
    throw new BashibleConfigError(
      "mode",
      `must be one of Unmanaged, Direct, Proxy, Local, got ${JSON.stringify(mode)}`,
    );
  }
  const version = requiredString(raw.version, "version");
  if (!VERSION.test(version)) {
    throw new BashibleConfigError("version", "must be letters, digits, '.', '_' or '-'");
  }
  const imagesBase = requiredString(raw.imagesBase, "imagesBase");
  const [imagesHost = ""] = imagesBase.split("/");
  const imagesHostProblem = hostPortProblem(imagesHost, false);
  if (imagesHostProblem || /\s/.test(imagesBase)) {
    throw new BashibleConfigError(
      "imagesBase",
      `must be host[:port][/path], got ${JSON.stringify(imagesBase)}`,
    );
  }
  const proxyEndpoints = parseProxyEndpoints(raw.proxyEndpoints);
  const hosts = parseHosts(raw.hosts);
  return { mode, version, imagesBase, proxyEndpoints, hosts };
}

/** Parses the Secret's `config` value (YAML text). */
export function parseBashibleConfigYaml(text: string): BashibleConfig {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    throw new BashibleConfigError("config", `not valid YAML: ${(err as Error).message}`);
  }
  return parseBashibleConfig(doc);
}

/** True when some endpoint or mirror host waits for the node IP (bootstrap of Proxy/Local). */
export function usesNodeIpPlaceholder(config: BashibleConfig): boolean {
  return (
    config.proxyEndpoints.some(e => e.includes(NODE_IP_PLACEHOLDER)) ||
    Object.values(config.hosts).some(h => h.mirrors.some(m => m.host.includes(NODE_IP_PLACEHOLDER)))
  );
}
