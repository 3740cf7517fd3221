// The registry client's transport: one HTTP engine per registry (TLS trust, forward proxy,
// bounded keep-alive connections; undici, or Node's own node:http — http.ts), redirects, reading
// answers within limits, and turning every failure into an OciError that names operation and
// target and never a secret.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import type { Readable } from "node:stream";
import { redactText } from "../runtime/redact";
import { TokenCache } from "./challenge";
import { describeTarget, OciError, type OciErrorKind, type OciErrorTarget } from "./errors";
import { classify, errorText, registryError, statusFailure } from "./failures";
import { NodeHttp, type HttpEngine, type HttpResponse } from "./http";
import {
  describeProxy,
  egressProxyFromEnv,
  EgressProxyError,
  EgressRoutes,
  type EgressProxy,
} from "./proxy";
import { assertManifestReference, assertRepositoryPath } from "./reference";

/** How a client reaches one registry (the transport reads all of it). */
export interface RegistryClientOptions {
  /** `host[:port]` of the registry. */
  registry: string;
  /** Default "https". */
  scheme?: "http" | "https";
  /** PEM CA certificate(s) trusted on top of the system roots. */
  ca?: string;
  username?: string;
  password?: string;
  /** Licence key: sent as Basic user `license-token` (takes precedence over username/password). */
  license?: string;
  /** Connect, response-headers and body-idle timeout per request; default 30 s. */
  timeoutMs?: number;
  /** Connections kept per origin (registry, token realm); requests beyond wait. Default 8. */
  connections?: number;
  userAgent?: string;
  /** Clock for token expiry (tests). */
  now?: () => number;
  /**
   * Forward proxy (lib/oci/proxy.ts). Default: the process environment (`HTTPS_PROXY`,
   * `HTTP_PROXY`, `NO_PROXY`); `null`: always direct.
   */
  proxy?: EgressProxy | null;
  /**
   * HTTP engine: "undici" (default), or "node" — Node's own node:http/node:https Agents, which
   * keep a process free of undici (the mirror CLI, for its memory: docs/adr/0140). Requests
   * through a forward proxy go through undici either way (Node's Agent does not tunnel).
   */
  engine?: "undici" | "node";
}

/** What a request is, for its error messages: the operation and what it is about. */
export interface Operation {
  op: string;
  target: OciErrorTarget;
}

export interface StreamBody {
  length: number;
  open(): Readable;
}

export interface SendRequest extends Operation {
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** Path with query, or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  /** Bytes in memory, or a stream opened anew for each attempt (a 401 challenge sends it twice). */
  body?: Buffer | StreamBody;
  scopes: string[];
  signal?: AbortSignal;
  followRedirects?: boolean;
}

const LICENSE_USER = "license-token";
const MAX_REDIRECTS = 5;
const REDIRECTS = [301, 302, 303, 307, 308];

export class RegistryTransport {
  readonly registry: string;
  readonly scheme: "http" | "https";
  readonly base: string;
  /** `user:password` in base64, when credentials are configured. */
  readonly basic: string | undefined;
  /** Bearer tokens fetched so far: secrets too. */
  readonly tokens: TokenCache;
  readonly #engine: Promise<HttpEngine>;
  readonly #routes: EgressRoutes | undefined;
  readonly #secrets: string[];
  readonly #userAgent: string;

  constructor(options: RegistryClientOptions) {
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(options.registry)) {
      throw new OciError(
        "invalid",
        `registry "${options.registry}": expected host[:port] without scheme or path`,
        { registry: options.registry },
      );
    }
    this.registry = options.registry;
    this.scheme = options.scheme ?? "https";
    this.base = `${this.scheme}://${this.registry}`;
    const timeout = options.timeoutMs ?? 30_000;
    const secureContext = this.scheme === "https" ? this.#secureContext(options.ca) : undefined;
    this.#routes = this.#egressRoutes(options.proxy);
    const connect = { timeout, ...(secureContext ? { secureContext } : {}) };
    const agentOptions = {
      connections: options.connections ?? 8,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    };
    const routes = this.#routes;
    this.#engine =
      options.engine === "node" && !routes
        ? Promise.resolve(
            new NodeHttp({
              connections: agentOptions.connections,
              timeoutMs: timeout,
              ...(secureContext ? { secureContext } : {}),
            }),
          )
        : import("./undici-http").then(m => m.undiciEngine(routes, agentOptions, connect));
    this.tokens = new TokenCache(options.now);
    const { basic, password } = this.#credentials(options);
    this.basic = basic;
    const proxyPasswords = [this.#routes?.http, this.#routes?.https].map(u =>
      u?.password ? decodeURIComponent(u.password) : undefined,
    );
    this.#secrets = [password, this.basic, ...proxyPasswords].filter((s): s is string => !!s);
    this.#userAgent = options.userAgent ?? "deckhouse-registry-module";
  }

  #secureContext(ca: string | undefined): SecureContext {
    try {
      const extra = ca === undefined ? [] : pemCertificates(ca);
      return createSecureContext({ ca: [...baseRoots(), ...extra] });
    } catch (err) {
      throw new OciError(
        "invalid",
        `registry ${this.registry}: CA is not a valid PEM certificate (${errorText(err)})`,
        { registry: this.registry },
      );
    }
  }

  #egressRoutes(option: EgressProxy | null | undefined): EgressRoutes | undefined {
    const proxy = option === undefined ? egressProxyFromEnv() : option;
    try {
      const routes = proxy ? new EgressRoutes(proxy) : undefined;
      return routes && !routes.empty ? routes : undefined;
    } catch (err) {
      if (!(err instanceof EgressProxyError)) throw err;
      throw new OciError("invalid", `registry ${this.registry}: proxy: ${err.message}`, {
        registry: this.registry,
      });
    }
  }

  #credentials(options: RegistryClientOptions): { basic?: string; password?: string } {
    const user = options.license ? LICENSE_USER : options.username;
    const password = options.license ?? options.password;
    if ((user === undefined) !== (password === undefined) || user === "") {
      throw new OciError(
        "invalid",
        `registry ${this.registry}: username and password go together`,
        {
          registry: this.registry,
        },
      );
    }
    if (user === undefined) return {};
    return { basic: Buffer.from(`${user}:${password}`).toString("base64"), password };
  }

  /** The error target of a repository (and reference), both checked. */
  target(repository: string, reference?: string): OciErrorTarget {
    const target: OciErrorTarget = {
      registry: this.registry,
      repository,
      ...(reference === undefined ? {} : { reference }),
    };
    try {
      assertRepositoryPath(repository);
      if (reference !== undefined && reference !== "upload") assertManifestReference(reference);
    } catch (err) {
      throw this.error("invalid", { op: "request", target }, errorText(err));
    }
    return target;
  }

  /** One request, following storage redirects when asked; no authentication flow. */
  async dispatch(req: SendRequest, authorization: string | undefined): Promise<HttpResponse> {
    let url = new URL(req.path, this.base);
    let auth = authorization;
    for (let hop = 0; ; hop++) {
      const res = await this.#request(req, url, auth);
      const location = header(res, "location");
      const redirect = REDIRECTS.includes(res.statusCode) && location !== undefined;
      if (!redirect || !req.followRedirects) return res;
      await res.body.dump();
      if (hop >= MAX_REDIRECTS) {
        throw this.error("protocol", req, `more than ${MAX_REDIRECTS} redirects`);
      }
      const next = new URL(location, url);
      // storage backends sign their URLs: our credentials stay with the registry
      if (next.origin !== this.base) auth = undefined;
      url = next;
    }
  }

  async #request(req: SendRequest, url: URL, auth: string | undefined): Promise<HttpResponse> {
    const body = req.body;
    try {
      const engine = await this.#engine;
      return await engine.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: req.method,
        headers: {
          "user-agent": this.#userAgent,
          ...req.headers,
          ...(auth ? { authorization: auth } : {}),
          ...(body ? { "content-length": String(body.length) } : {}),
        },
        ...(body ? { body: Buffer.isBuffer(body) ? body : body.open() } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      throw this.wrap(err, req, { url });
    }
  }

  /** A GET of a token realm with the configured credentials (the realm may be another origin). */
  async getToken(url: URL, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const engine = await this.#engine;
    return engine.request({
      origin: url.origin,
      path: url.pathname + url.search,
      method: "GET",
      headers: {
        "user-agent": this.#userAgent,
        ...(this.basic ? { authorization: `Basic ${this.basic}` } : {}),
      },
      ...(signal ? { signal } : {}),
    });
  }

  /** Fails unless the status is one of `ok`, classifying the status and the registry's error. */
  async expect(res: HttpResponse, ok: number[], at: Operation): Promise<void> {
    if (ok.includes(res.statusCode)) return;
    const { code, text } = await registryError(res);
    const status = res.statusCode;
    const suffix = ` (HTTP ${status}${code ? ` ${code}` : ""}${text ? `: ${text}` : ""})`;
    const { kind, why } = statusFailure(status, this.basic !== undefined);
    throw this.error(kind, at, why + suffix, { status, ...(code ? { code } : {}) });
  }

  /** The whole body, refused past `limit` bytes. */
  async read(res: HttpResponse, at: Operation, limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body) {
        total += (chunk as Buffer).length;
        if (total > limit) {
          res.body.destroy();
          throw this.error("protocol", at, `answer exceeds ${limit} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof OciError) throw err;
      throw this.wrap(err, at);
    }
    return Buffer.concat(chunks);
  }

  /** The answer's Location, resolved against the registry. */
  location(res: HttpResponse, at: Operation): string {
    const location = header(res, "location");
    if (!location) throw this.error("protocol", at, "no Location header");
    return new URL(location, this.base).toString();
  }

  /** A failure below HTTP as an OciError; `prefix` goes before the reason. */
  wrap(err: unknown, at: Operation, via: { prefix?: string; url?: URL } = {}): OciError {
    if (err instanceof OciError) return err;
    const { kind, why } = classify(err);
    // an operator behind a proxy must see whether the proxy or the registry failed
    const proxy = this.#routes?.proxyFor(via.url ?? new URL(this.base));
    const through = proxy ? ` (through proxy ${describeProxy(proxy)})` : "";
    return this.error(kind, at, (via.prefix ?? "") + why + through);
  }

  /** An OciError with every secret (password, licence, tokens) redacted. */
  error(
    kind: OciErrorKind,
    at: Operation,
    why: string,
    http: { status?: number; code?: string } = {},
  ): OciError {
    const secrets = [...this.#secrets, ...this.tokens.tokens()];
    const reason = redactText(why, secrets);
    const message = redactText(`${at.op} ${describeTarget(at.target)}: ${why}`, secrets);
    return new OciError(kind, message, at.target, { ...http, reason });
  }

  async close(): Promise<void> {
    await (await this.#engine).close();
  }
}

let systemRoots: string[] | undefined;

/**
 * Node's bundled roots plus the system bundle (what Go calls the system pool). The system
 * bundle mostly repeats Node's roots (Debian's: 122 of 144): those are left out, the trust set
 * is the same, and a client's secure context parses half as many certificates (≈ 20 ms less at
 * the start of every `mirror` run, docs/adr/0141).
 */
function baseRoots(): string[] {
  if (systemRoots === undefined) {
    systemRoots = [...rootCertificates];
    const known = new Set(rootCertificates.map(compactPem));
    for (const file of [
      process.env.SSL_CERT_FILE,
      "/etc/ssl/certs/ca-certificates.crt",
      "/etc/pki/tls/certs/ca-bundle.crt",
    ]) {
      if (!file) continue;
      let bundle: string;
      try {
        bundle = readFileSync(file, "utf8");
      } catch {
        continue; // not on this system
      }
      // every PEM block as OpenSSL would read it (TRUSTED CERTIFICATE too), minus exact repeats
      for (const block of bundle.match(PEM_BLOCK) ?? [])
        if (!known.has(compactPem(block))) systemRoots.push(block);
      break;
    }
  }
  return systemRoots;
}

const PEM_BLOCK = /-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----/g;

function compactPem(pem: string): string {
  return pem.replace(/\s+/g, "");
}

/** Each PEM certificate of a bundle, checked by parsing (OpenSSL would skip garbage silently). */
function pemCertificates(bundle: string): string[] {
  const blocks =
    bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error("no PEM certificate block");
  for (const block of blocks) new X509Certificate(block);
  return blocks;
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function isRedirect(status: number): boolean {
  return REDIRECTS.includes(status);
}

export function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}
