// The node config nodeservices-manager reads from Secret `registry-node-config-<node>` (key
// `config`, YAML, key `version`; key `egress-proxy`), rendered by
// the module (lib/render) and read by the manager (images/nodeservices-manager).
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { EgressProxy } from "../oci/proxy";
import { parseConfigYaml } from "../validation/config-file";
import { ipFamily } from "../validation/ip";
import { Problems, type Section } from "../validation/reader";
import { readEgressProxy } from "./egress-proxy";
import { REPOSITORY_NAME } from "./gateway-config";

export interface NodeUser {
  name: string;
  password: string;
  passwordHash: string;
}

export interface ProxyMode {
  upstream: {
    scheme: "http" | "https";
    host: string;
    path: string;
    user?: string;
    password?: string;
    ttl?: string;
  };
  upstreamRegistryCa?: string;
}

export interface LocalMode {
  userRw: NodeUser;
  userPuller: NodeUser;
  userPusher: NodeUser;
  /** InternalIPs of the other masters */
  upstreams: string[];
  ingressClientCa?: string;
}

export interface NodeConfig {
  /** the `version` key of the secret, stamped on the static pod */
  version: string;
  ca: string;
  distributionCert: string;
  distributionKey: string;
  /** accepted for compatibility with the docker_auth era; the gateway does not use them */
  authCert?: string;
  authKey?: string;
  tokenCert?: string;
  tokenKey?: string;
  userRo: NodeUser;
  httpSecret: string;
  mode: { kind: "proxy"; proxy: ProxyMode } | { kind: "local"; local: LocalMode };
  /**
   * The cluster's egress proxy (the secret's key `egress-proxy`), for the gateway's upstream in
   * Proxy mode. In the secret, not in the manager's environment: a proxy URL may carry
   * credentials (docs/adr/0102).
   */
  egressProxy?: EgressProxy;
}

export const NODE_CONFIG_SECRET_PREFIX = "registry-node-config-";

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const HOST = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?)(:\d{1,5})?$/;

/**
 * Parses the secret's `config` (YAML) and `version`, checks every rule of the node config
 * (docs/architecture.md#node-services: PKI present and chained to the CA, exactly one mode), plus
 * that the distribution certificate covers the node's address, which clients dial.
 */
export function parseNodeConfig(
  configText: string,
  version: string | undefined,
  hostIP: string,
  source = "node config",
): NodeConfig {
  const raw = parseConfigYaml(configText, source, "config");
  const p = new Problems(source);
  if (!version) p.add("version", "required");
  const root = p.root(raw);
  // Read in file order: the problems are listed in the order they are found.
  const ca = readPem(root, "ca");
  const distributionCert = readPem(root, "distribution_cert");
  const distributionKey = readPem(root, "distribution_key");
  const authCert = readPem(root, "auth_cert", false);
  const authKey = readPem(root, "auth_key", false);
  const tokenCert = readPem(root, "token_cert", false);
  const tokenKey = readPem(root, "token_key", false);
  const userRo = readUser(root, "user_ro", true);
  const httpSecret = root.string("http_secret", { required: true });
  const mode = readMode(root, userRo);
  root.noOtherKeys();
  p.finish();

  // finish() threw on any problem, so every required field is present from here on.
  const cfg: NodeConfig = {
    version: version as string,
    ca: ca as string,
    distributionCert: distributionCert as string,
    distributionKey: distributionKey as string,
    authCert,
    authKey,
    tokenCert,
    tokenKey,
    userRo: userRo as NodeUser,
    httpSecret: httpSecret as string,
    mode: mode as NodeConfig["mode"],
  };
  // PKI: the certificates must chain to the CA and match their keys
  checkPki(p, cfg, hostIP);
  p.finish();
  return cfg;
}

function readPem(s: Section, key: string, required = true): string | undefined {
  return s.string(key, { required, pattern: /-----BEGIN [A-Z ]+-----/, rule: "must be PEM" });
}

/** Exactly one of `proxy_mode` and `local_mode`; both are read, so both report their problems. */
function readMode(root: Section, userRo: NodeUser | undefined): NodeConfig["mode"] | undefined {
  const hasProxy = root.has("proxy_mode");
  const hasLocal = root.has("local_mode");
  if (hasProxy === hasLocal) {
    root.reject(
      hasProxy ? "local_mode" : "proxy_mode",
      "exactly one of proxy_mode and local_mode must be set",
    );
  }
  let mode: NodeConfig["mode"] | undefined;
  const proxySection = root.section("proxy_mode");
  const proxy = proxySection && readProxyMode(proxySection);
  if (proxy) mode = { kind: "proxy", proxy };
  const localSection = root.section("local_mode");
  const local = localSection && readLocalMode(localSection, userRo);
  if (local) mode = { kind: "local", local };
  return mode;
}

function readProxyMode(section: Section): ProxyMode | undefined {
  const u = section.section("upstream", { required: true });
  const upstream = u && readProxyUpstream(u);
  const upstreamRegistryCa = readPem(section, "upstream_registry_ca", false);
  if (upstreamRegistryCa && upstream?.scheme === "http")
    section.reject("upstream_registry_ca", "not allowed with scheme http");
  section.noOtherKeys();
  const { scheme, host, path, user, password, ttl } = upstream ?? {};
  if (!scheme || !host || !path) return undefined;
  return { upstream: { scheme, host, path, user, password, ttl }, upstreamRegistryCa };
}

/** `proxy_mode.upstream`, each field undefined where absent or invalid (the problem is recorded). */
function readProxyUpstream(u: Section) {
  const scheme = u.oneOf("scheme", ["http", "https"] as const, { required: true });
  const host = u.string("host", { required: true, pattern: HOST, rule: "must be host[:port]" });
  const rawPath = u.string("path", {
    required: true,
    pattern: /^\/?[a-z0-9._/-]+$/,
    rule: "must be a repository path",
  });
  const path = rawPath?.replace(/^\/+|\/+$/g, "");
  if (path !== undefined && !REPOSITORY_NAME.test(path))
    u.reject("path", "must be a repository path like /deckhouse/ee");
  const user = u.string("user");
  const password = u.string("password");
  if (user !== undefined && password === undefined)
    u.reject("password", "required when user is set");
  if (password !== undefined && user === undefined)
    u.reject("user", "required when password is set");
  const ttl = u.string("ttl", {
    pattern: /^(\d+h)?(\d+m)?(\d+s)?$/,
    rule: "must be a duration",
  });
  u.noOtherKeys();
  return { scheme, host, path, user, password, ttl };
}

function readLocalMode(section: Section, userRo: NodeUser | undefined): LocalMode | undefined {
  const userRw = readUser(section, "user_rw", true);
  const userPuller = readUser(section, "user_puller", true);
  const userPusher = readUser(section, "user_pusher", true);
  const upstreams = section.strings("upstreams", {
    check: s => (ipFamily(s) ? undefined : "must be an IP address"),
  });
  const ingressClientCa = readPem(section, "ingress_client_ca", false);
  section.noOtherKeys();
  const names = [userRo, userRw, userPuller, userPusher].flatMap(u => (u ? [u.name] : []));
  if (new Set(names).size !== names.length)
    section.reject("user_rw", "user names must differ from each other and from user_ro");
  if (!userRw || !userPuller || !userPusher) return undefined;
  return { userRw, userPuller, userPusher, upstreams: upstreams ?? [], ingressClientCa };
}

/**
 * The secret's `egress-proxy` key: YAML `{httpProxy, httpsProxy, noProxy: [...]}` as the module
 * renders it from the cluster's proxy settings. Problems name the field; values are never echoed
 * (a proxy URL may carry a password).
 */
export function parseEgressProxy(text: string, source = "node config"): EgressProxy {
  const p = new Problems(source);
  // read as a section of the secret, so problems name `egress-proxy.<field>`
  const key = "egress-proxy";
  const section = p.root({ [key]: parseConfigYaml(text, source, key) }).section(key);
  const proxy = section && readEgressProxy(section);
  p.finish();
  return proxy as EgressProxy;
}

function readUser(s: Section, key: string, required: boolean): NodeUser | undefined {
  const u = s.section(key, { required });
  if (!u) return undefined;
  const name = u.string("name", { required: true, pattern: /^[^:\s]+$/, rule: "no ':' or spaces" });
  const password = u.string("password", { required: true });
  const passwordHash = u.string("passwordHash", {
    required: true,
    pattern: BCRYPT,
    rule: "must be a bcrypt hash",
  });
  u.noOtherKeys();
  return name && password && passwordHash ? { name, password, passwordHash } : undefined;
}

function checkPki(p: Problems, cfg: NodeConfig, hostIP: string): void {
  const ca = readCa(p, cfg.ca);
  if (!ca) return;
  const pairs: CertKeyFields[] = [
    ["distribution_cert", cfg.distributionCert, "distribution_key", cfg.distributionKey],
    ["auth_cert", cfg.authCert, "auth_key", cfg.authKey],
    ["token_cert", cfg.tokenCert, "token_key", cfg.tokenKey],
  ];
  for (const pair of pairs) checkPair(p, ca, pair, hostIP);
  checkModeCas(p, cfg.mode);
}

function readCa(p: Problems, pem: string): X509Certificate | undefined {
  try {
    const ca = new X509Certificate(pem);
    if (!ca.ca) p.add("ca", "is not a CA certificate (basicConstraints CA:FALSE)");
    return ca;
  } catch {
    p.add("ca", "is not a PEM certificate");
    return undefined;
  }
}

/** certificate field, its PEM, key field, its PEM */
type CertKeyFields = [string, string | undefined, string, string | undefined];

function checkPair(
  p: Problems,
  ca: X509Certificate,
  [certField, certPem, keyField, keyPem]: CertKeyFields,
  hostIP: string,
): void {
  if (certPem === undefined && keyPem === undefined) return;
  if (certPem === undefined || keyPem === undefined) {
    p.add(
      certPem === undefined ? certField : keyField,
      `required together with ${certPem === undefined ? keyField : certField}`,
    );
    return;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    p.add(certField, "is not a PEM certificate");
    return;
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) p.add(certField, "is not signed by ca");
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem)))
      p.add(keyField, `does not match ${certField}`);
  } catch {
    p.add(keyField, "is not a PEM private key");
  }
  if (certField === "distribution_cert" && cert.checkIP(hostIP) === undefined)
    p.add(certField, `does not cover the node address ${hostIP} (subjectAltName)`);
}

/** The CAs a mode trusts besides the module's must at least be certificates. */
function checkModeCas(p: Problems, mode: NodeConfig["mode"]): void {
  const cas = [
    [
      "proxy_mode.upstream_registry_ca",
      mode.kind === "proxy" ? mode.proxy.upstreamRegistryCa : undefined,
    ],
    [
      "local_mode.ingress_client_ca",
      mode.kind === "local" ? mode.local.ingressClientCa : undefined,
    ],
  ] as const;
  for (const [field, pemText] of cas) {
    if (pemText === undefined) continue;
    try {
      new X509Certificate(pemText);
    } catch {
      p.add(field, "is not a PEM certificate");
    }
  }
}
