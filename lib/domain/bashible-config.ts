// The node configuration the orchestrator hands to the nodes: the YAML under key `config` of Secret
// `d8-system/registry-bashible-config` (docs/architecture.md#bashible-config). The orchestrator
// PRODUCES exactly `BashibleConfig`; the node side (lib/node/, the bashible steps) CONSUMES it
// through `parseBashibleConfig`, which is the single gate every config passes before it reaches a
// node.
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
import { isRecord, kindOf, Problems, type Section } from "../validation/reader";
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

/** Reads fail fast: the first problem is the BashibleConfigError. */
function problems(): Problems {
  return new Problems(BASHIBLE_CONFIG_SECRET_NAME, {
    failFast: ({ field, rule }) => new BashibleConfigError(field, rule),
  });
}

/** A rule for a required string, or undefined when it is fine. */
function textProblem(v: string): string | undefined {
  if (v.trim() === "") return "must not be blank";
  if (CONTROL.test(v)) return "must not contain control characters";
  return undefined;
}

/** Absent, null and "" all mean "not set" (as Go's `omitempty` round-trips them): "required". */
function requiredText(s: Section, key: string): string {
  if (s.get(key) === "") s.reject(key, "required");
  const v = s.string(key, { required: true }) as string;
  const problem = textProblem(v);
  if (problem) s.reject(key, problem);
  return v;
}

function parseAuth(s: Section | undefined): MirrorAuth | undefined {
  if (!s) return undefined;
  const username = s.string("username");
  const password = s.string("password");
  const auth = s.string("auth");
  s.noOtherKeys();
  checkAuth(s, { username, password, auth });
  if (username === undefined && password === undefined && auth === undefined) return undefined;
  return {
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
    ...(auth === undefined ? {} : { auth }),
  };
}

function checkAuth(s: Section, { username, password, auth }: Partial<MirrorAuth>): void {
  if (username !== undefined && username.includes(":"))
    s.reject("username", "must not contain ':' (Basic auth)");
  for (const [key, value] of [
    ["username", username],
    ["password", password],
  ] as const) {
    if (value !== undefined && CONTROL.test(value))
      s.reject(key, "must not contain control characters");
  }
  if (auth !== undefined && !BASE64.test(auth))
    s.reject("auth", "must be base64 of <username>:<password>");
  if (password !== undefined && username === undefined && auth === undefined)
    s.reject("username", "required when password is set");
}

function parseRewrite(s: Section): MirrorRewrite {
  const from = requiredText(s, "from");
  const to = requiredText(s, "to");
  s.noOtherKeys();
  try {
    new RegExp(from);
  } catch (err) {
    s.reject("from", `not a regular expression: ${(err as Error).message}`);
  }
  return { from, to };
}

function parseMirror(s: Section): RegistryMirror {
  const host = requiredText(s, "host");
  const hostProblem = hostPortProblem(host, true);
  if (hostProblem) s.reject("host", hostProblem);
  const scheme = requiredText(s, "scheme");
  if (!(MIRROR_SCHEMES as readonly string[]).includes(scheme)) {
    s.reject(
      "scheme",
      `must be one of ${MIRROR_SCHEMES.join(", ")} (lower case), got ${JSON.stringify(scheme)}`,
    );
  }
  const ca = s.string("ca");
  if (ca !== undefined) {
    const problem = pemCertificateProblem(ca);
    if (problem) s.reject("ca", problem);
  }
  const auth = parseAuth(s.section("auth"));
  const rewrites = (s.sections("rewrites") ?? []).map(parseRewrite);
  s.noOtherKeys();
  return {
    host,
    scheme: scheme as MirrorScheme,
    ...(ca === undefined ? {} : { ca }),
    ...(auth === undefined ? {} : { auth }),
    ...(rewrites.length === 0 ? {} : { rewrites }),
  };
}

function parseHosts(root: Section): Record<string, RegistryHost> {
  const section = root.section("hosts", { required: true }) as Section;
  const keys = section.keys();
  if (keys.length === 0) root.reject("hosts", "must have at least one host");
  const hosts: Record<string, RegistryHost> = {};
  for (const key of keys) {
    const field = `hosts[${JSON.stringify(key)}]`;
    if (key.trim() === "") section.problems.add(field, "host key must not be blank");
    const keyProblem = hostPortProblem(key, false);
    if (keyProblem) section.problems.add(field, `host key ${keyProblem}`);
    const host = section.section(key, { required: true, path: field }) as Section;
    const list = host.sections("mirrors") ?? [];
    if (list.length === 0) host.reject("mirrors", "must have at least one mirror");
    const mirrors = list.map(parseMirror);
    host.noOtherKeys();
    const seen = new Map<string, number>();
    mirrors.forEach((m, i) => {
      const id = `${m.host}|${m.scheme}`;
      const first = seen.get(id);
      if (first !== undefined) {
        host.problems.add(
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

function parseProxyEndpoints(root: Section): string[] {
  const out: string[] = [];
  root.strings("proxyEndpoints", {
    check: endpoint => {
      const rule =
        textProblem(endpoint) ??
        hostPortProblem(endpoint, true) ??
        (/:\d+$/.test(endpoint) ? undefined : "must have a port") ??
        (out.includes(endpoint) ? `duplicate ${endpoint}` : undefined);
      if (!rule) out.push(endpoint);
      return rule;
    },
  });
  return out;
}

/**
 * Narrows and validates a decoded `registry-bashible-config` document. Throws
 * BashibleConfigError naming the field and the rule; returns a fresh, normalised object
 * (optional fields absent rather than empty, `proxyEndpoints` always an array).
 */
export function parseBashibleConfig(value: unknown): BashibleConfig {
  const p = problems();
  if (!isRecord(value)) p.add("config", `must be a mapping, got ${kindOf(value)}`);
  const root = p.root(value);
  const mode = requiredText(root, "mode");
  if (!isRegistryMode(mode)) {
    root.reject(
      "mode",
      `must be one of Unmanaged, Direct, Proxy, Local, got ${JSON.stringify(mode)}`,
    );
  }
  const version = requiredText(root, "version");
  if (!VERSION.test(version)) root.reject("version", "must be letters, digits, '.', '_' or '-'");
  const imagesBase = requiredText(root, "imagesBase");
  const [imagesHost = ""] = imagesBase.split("/");
  const imagesHostProblem = hostPortProblem(imagesHost, false);
  if (imagesHostProblem || /\s/.test(imagesBase)) {
    root.reject("imagesBase", `must be host[:port][/path], got ${JSON.stringify(imagesBase)}`);
  }
  const proxyEndpoints = parseProxyEndpoints(root);
  const hosts = parseHosts(root);
  root.noOtherKeys();
  return { mode: mode as RegistryMode, version, imagesBase, proxyEndpoints, hosts };
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
