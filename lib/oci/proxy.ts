// Egress through an HTTP(S) forward proxy, as clusters behind one reach registries: which origin
// goes through which proxy (`HTTP_PROXY` for http://, `HTTPS_PROXY` for https://, `NO_PROXY`
// exempts). undici-http.ts routes each origin accordingly — direct, or through undici's
// ProxyAgent, which tunnels with CONNECT (TLS to the registry end to end, the proxy never sees
// the registry's traffic in clear).
//
//   const proxy = egressProxyFromEnv(process.env);   // HTTPS_PROXY / https_proxy, …
//   proxyFor(proxy, new URL("https://registry.example.com/v2/"))   → URL of the proxy, or undefined
//
// NO_PROXY entries (comma or space separated), the union of what Go's net/http and curl accept,
// plus CIDRs, which Deckhouse puts there (pod and service subnets) and undici's own
// EnvHttpProxyAgent does not understand:
//   `*`                 everything bypasses the proxy
//   `10.0.0.0/8`, `fd00::/8`   IP literals in the range (a host name is not resolved to match)
//   `192.0.2.1`, `::1`  that IP
//   `example.com`       that name and every subdomain;  `.example.com` / `*.example.com`: subdomains
//   any of the names or IPs with `:port`: only that port
// Nothing is exempt implicitly (not even loopback): the module writes its own addresses into
// NO_PROXY (lib/domain/egress-proxy.ts), so what bypasses the proxy is visible in one place.
import { BlockList, isIP } from "node:net";

export interface EgressProxy {
  /** proxy URL for http:// targets */
  httpProxy?: string;
  /** proxy URL for https:// targets */
  httpsProxy?: string;
  /** NO_PROXY entries */
  noProxy?: readonly string[];
}

export class EgressProxyError extends Error {
  override name = "EgressProxyError";
}

/** `HTTP_PROXY`/`http_proxy`, `HTTPS_PROXY`/`https_proxy`, `NO_PROXY`/`no_proxy`; undefined when no proxy is set. */
export function egressProxyFromEnv(
  env: Record<string, string | undefined> = process.env,
): EgressProxy | undefined {
  const pick = (...names: string[]) => names.map(n => env[n]?.trim()).find(v => !!v);
  const httpProxy = pick("HTTP_PROXY", "http_proxy");
  const httpsProxy = pick("HTTPS_PROXY", "https_proxy");
  if (!httpProxy && !httpsProxy) return undefined;
  const noProxy = splitNoProxy(pick("NO_PROXY", "no_proxy") ?? "");
  return {
    ...(httpProxy ? { httpProxy } : {}),
    ...(httpsProxy ? { httpsProxy } : {}),
    noProxy,
  };
}

export function splitNoProxy(value: string): string[] {
  return value
    .split(/[,\s]+/)
    .map(s => s.trim())
    .filter(Boolean);
}

/** The proxy URL without credentials, for messages. */
export function describeProxy(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

type Rule =
  | { kind: "all" }
  | { kind: "ip"; list: BlockList; port?: number }
  | { kind: "name"; name: string; subdomainsOnly: boolean; port?: number };

/** Parsed NO_PROXY: `bypasses(hostname, port)`. Entries it cannot read are errors naming them. */
export class NoProxy {
  readonly #rules: Rule[];

  constructor(entries: readonly string[]) {
    this.#rules = entries.map(parseRule);
  }

  bypasses(hostname: string, port: number): boolean {
    const host = hostname
      .replace(/^\[|\]$/g, "")
      .replace(/\.$/, "")
      .toLowerCase();
    const family = isIP(host);
    for (const rule of this.#rules) {
      if (rule.kind === "all") return true;
      if (rule.port !== undefined && rule.port !== port) continue;
      if (rule.kind === "ip") {
        if (family !== 0 && rule.list.check(host, family === 4 ? "ipv4" : "ipv6")) return true;
      } else if (family === 0) {
        if (host.endsWith(`.${rule.name}`)) return true;
        if (!rule.subdomainsOnly && host === rule.name) return true;
      }
    }
    return false;
  }
}

function parseRule(raw: string): Rule {
  const entry = raw.trim().toLowerCase();
  if (entry === "*") return { kind: "all" };
  const cidr = /^([0-9a-f:.]+)\/(\d{1,3})$/.exec(entry);
  if (cidr) return cidrRule(raw, cidr[1] ?? "", Number(cidr[2] ?? ""));
  const { host, port } = hostAndPort(entry);
  const at = port !== undefined ? { port } : {};
  const family = isIP(host);
  if (family !== 0) {
    const list = new BlockList();
    list.addAddress(host, family === 4 ? "ipv4" : "ipv6");
    return { kind: "ip", list, ...at };
  }
  const subdomainsOnly = host.startsWith(".") || host.startsWith("*.");
  const name = host.replace(/^\*?\./, "").replace(/\.$/, "");
  if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(name))
    throw badRule(raw, "expected *, a host name, a domain (.example.com), an IP or a CIDR");
  return { kind: "name", name, subdomainsOnly, ...at };
}

function badRule(raw: string, why: string): EgressProxyError {
  return new EgressProxyError(`NO_PROXY entry "${raw}": ${why}`);
}

function cidrRule(raw: string, address: string, prefix: number): Rule {
  const family = isIP(address);
  if (family === 0 || prefix > (family === 4 ? 32 : 128))
    throw badRule(raw, "expected an IP range like 10.0.0.0/8");
  const list = new BlockList();
  list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
  return { kind: "ip", list };
}

/** `host`, `[v6]`, `host:port` or `[v6]:port`, the brackets dropped. */
function hostAndPort(entry: string): { host: string; port?: number } {
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(entry);
  if (bracketed) {
    const host = bracketed[1] ?? "";
    return bracketed[2] ? { host, port: Number(bracketed[2]) } : { host };
  }
  const withPort = /^([^:]+):(\d{1,5})$/.exec(entry);
  if (withPort) return { host: withPort[1] ?? "", port: Number(withPort[2]) };
  return { host: entry };
}

/** A proxy URL from the settings, checked; `field` names it in the error. */
function parseProxyUrl(value: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(value.includes("://") ? value : `http://${value}`);
  } catch {
    throw new EgressProxyError(`${field} "${redactUserinfo(value)}": not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new EgressProxyError(
      `${field} ${describeProxy(url)}: only http:// and https:// proxies are supported`,
    );
  if ((url.pathname !== "/" && url.pathname !== "") || url.search)
    throw new EgressProxyError(`${field} ${describeProxy(url)}: must not have a path or query`);
  return url;
}

function redactUserinfo(value: string): string {
  return value.replace(/\/\/[^@/]*@/, "//***@");
}

/** A checked EgressProxy: the proxy URL (if any) for an origin. */
export class EgressRoutes {
  readonly http: URL | undefined;
  readonly https: URL | undefined;
  readonly noProxy: NoProxy;

  constructor(proxy: EgressProxy) {
    this.http = proxy.httpProxy ? parseProxyUrl(proxy.httpProxy, "httpProxy") : undefined;
    this.https = proxy.httpsProxy ? parseProxyUrl(proxy.httpsProxy, "httpsProxy") : undefined;
    this.noProxy = new NoProxy(proxy.noProxy ?? []);
  }

  get empty(): boolean {
    return !this.http && !this.https;
  }

  /** The proxy for this target, or undefined when it is reached directly. */
  proxyFor(target: URL): URL | undefined {
    const proxy = target.protocol === "https:" ? this.https : this.http;
    if (!proxy) return undefined;
    const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
    return this.noProxy.bypasses(target.hostname, port) ? undefined : proxy;
  }
}

export function proxyFor(proxy: EgressProxy, target: URL): URL | undefined {
  return new EgressRoutes(proxy).proxyFor(target);
}
