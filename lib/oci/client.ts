// RegistryClient: one OCI distribution registry, spoken to over undici with keep-alive and a
// bounded number of connections. Used by the checker, the gateway's upstream side, the mirrorer
// and the mirror CLI.
//
//   const reg = new RegistryClient({ registry: "registry.example.com", ca, username, password });
//   const reg = new RegistryClient({ registry: "127.0.0.1:5000", scheme: "http" });
//   const reg = new RegistryClient({ registry: "registry.deckhouse.io", license: "…" });
//   await reg.headManifest("deckhouse/ee", "v1.70.0")   → { digest, mediaType, size }
//   await reg.getManifest("deckhouse/ee", digest)       → { …, bytes, document }
//   await reg.putManifest(repo, tag, bytes, mediaType)  → { digest }
//   await reg.hasBlob / headBlob / getBlob(repo, d, { range }) / getBlobBytes(repo, d)
//   await reg.uploadBlob(repo, bytes) · uploadBlobChunked(repo, asyncIterable) · mountBlob(repo, d, from)
//   await reg.listTags(repo) · catalog() · ping() · deleteManifest(repo, digest)
//   await reg.close()
//
// Every call takes `{ signal }` for the caller's deadline. Authentication follows the registry's
// `WWW-Authenticate` challenge: Basic (credentials sent once the registry asked for them) or
// Bearer (token fetched from the realm with the credentials, cached per scope, shared by
// concurrent callers). A licence is Basic user `license-token`. TLS trusts Node's bundled roots,
// the system bundle and the registry's CA. Failures are OciError with a kind (auth, denied,
// not-found, tls, timeout, network, protocol, invalid) and a message naming operation, registry,
// repository and reference — never credentials.
import { createHash, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { Transform, type Readable } from "node:stream";
import { Agent, type Dispatcher } from "undici";
import { redactText } from "../runtime/redact";
import { parseChallenges, TokenCache } from "./challenge";
import { describeTarget, OciError, type OciErrorKind, type OciErrorTarget } from "./errors";
import { parseManifest, ManifestParseError, type ManifestDocument } from "./manifest";
import { MANIFEST_ACCEPT } from "./media-types";
import {
  describeProxy,
  EgressDispatcher,
  egressProxyFromEnv,
  EgressProxyError,
  EgressRoutes,
  type EgressProxy,
} from "./proxy";
import { assertDigest, assertManifestReference, assertRepositoryPath, isDigest } from "./reference";

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
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest extends ManifestHead {
  bytes: Buffer;
  document: ManifestDocument;
}

export interface BlobHead {
  digest: string;
  size: number;
}

export interface BlobResponse {
  /** Total blob size when the registry said it (Content-Length, or the Content-Range total). */
  size?: number;
  /** Set when the registry honoured the range (206). */
  range?: { start: number; end: number };
  /** The body: consume it or destroy it. */
  body: Readable;
}

export interface ChunkedUploadOptions extends CallOptions {
  /** Expected digest: checked before the upload is committed. */
  digest?: string;
  /** Bytes per PATCH; default 8 MiB. */
  chunkSize?: number;
}

/** A blob to upload without holding it: its size, and byte ranges opened as streams. */
export interface BlobSource {
  size: number;
  /** Bytes start..end-1. */
  open(start: number, end: number): Readable;
}

export interface StreamUploadOptions extends CallOptions {
  /** The blob's digest: every byte is hashed on its way out and nothing is committed otherwise. */
  digest: string;
  /** Blobs up to this size go in one PUT, larger ones in PATCH requests; default 16 MiB. */
  monolithicMaxBytes?: number;
  /** Bytes per PATCH of a larger blob; default 16 MiB. Each is streamed, never buffered. */
  chunkSize?: number;
  /** Bytes sent so far, called as they go (a retried request does not count twice). */
  onBytes?: (n: number) => void;
}

interface StreamBody {
  length: number;
  open(): Readable;
}

const LICENSE_USER = "license-token";
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY = 16 * 1024;
const MAX_REDIRECTS = 5;

type AuthState =
  | { kind: "unknown" }
  | { kind: "none" }
  | { kind: "basic" }
  | { kind: "bearer"; realm: string; service: string | undefined };

interface SendRequest {
  op: string;
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  /** Path with query, or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  /** Bytes in memory, or a stream opened anew for each attempt (a 401 challenge sends it twice). */
  body?: Buffer | StreamBody;
  scopes: string[];
  target: OciErrorTarget;
  signal?: AbortSignal;
  followRedirects?: boolean;
}

let systemRoots: string[] | undefined;

/** Node's bundled roots plus the system bundle (what Go calls the system pool). */
function baseRoots(): string[] {
  if (systemRoots === undefined) {
    systemRoots = [...rootCertificates];
    for (const file of [
      process.env.SSL_CERT_FILE,
      "/etc/ssl/certs/ca-certificates.crt",
      "/etc/pki/tls/certs/ca-bundle.crt",
    ]) {
      if (!file) continue;
      try {
        systemRoots.push(readFileSync(file, "utf8"));
        break;
      } catch {
        // not on this system
      }
    }
  }
  return systemRoots;
}

export class RegistryClient {
  readonly registry: string;
  readonly scheme: "http" | "https";
  readonly #base: string;
  readonly #agent: Dispatcher;
  readonly #routes: EgressRoutes | undefined;
  readonly #tokens: TokenCache;
  readonly #basic: string | undefined;
  readonly #secrets: string[];
  readonly #userAgent: string;
  #auth: AuthState = { kind: "unknown" };
  #headClosesConnection = false;
  #probe: Promise<void> | undefined;

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
    this.#base = `${this.scheme}://${this.registry}`;
    const timeout = options.timeoutMs ?? 30_000;
    let secureContext: SecureContext | undefined;
    if (this.scheme === "https") {
      try {
        const extra = options.ca === undefined ? [] : pemCertificates(options.ca);
        secureContext = createSecureContext({ ca: [...baseRoots(), ...extra] });
      } catch (err) {
        throw new OciError(
          "invalid",
          `registry ${this.registry}: CA is not a valid PEM certificate (${errorText(err)})`,
          { registry: this.registry },
        );
      }
    }
    const proxy = options.proxy === undefined ? egressProxyFromEnv() : options.proxy;
    try {
      const routes = proxy ? new EgressRoutes(proxy) : undefined;
      this.#routes = routes && !routes.empty ? routes : undefined;
    } catch (err) {
      if (!(err instanceof EgressProxyError)) throw err;
      throw new OciError("invalid", `registry ${this.registry}: proxy: ${err.message}`, {
        registry: this.registry,
      });
    }
    const connect = { timeout, ...(secureContext ? { secureContext } : {}) };
    const agentOptions = {
      connections: options.connections ?? 8,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
    };
    this.#agent = this.#routes
      ? new EgressDispatcher(this.#routes, agentOptions, connect)
      : new Agent({ ...agentOptions, connect });
    this.#tokens = new TokenCache(options.now);
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
    this.#basic =
      user === undefined ? undefined : Buffer.from(`${user}:${password}`).toString("base64");
    const proxyPasswords = [this.#routes?.http, this.#routes?.https].map(u =>
      u?.password ? decodeURIComponent(u.password) : undefined,
    );
    this.#secrets = [password, this.#basic, ...proxyPasswords].filter((s): s is string => !!s);
    this.#userAgent = options.userAgent ?? "deckhouse-registry-module";
  }

  /**
   * True once the registry answered a HEAD manifest with `Connection: close` (distribution 2.x
   * does): every HEAD then costs a new connection, and a caller checking many manifests is
   * faster with GET over a kept-alive one.
   */
  get headClosesConnection(): boolean {
    return this.#headClosesConnection;
  }

  /** `GET /v2/`: reachable, TLS trusted, credentials accepted. */
  async ping(options: CallOptions = {}): Promise<void> {
    const res = await this.#send({
      op: "ping",
      method: "GET",
      path: "/v2/",
      scopes: [],
      target: { registry: this.registry },
      ...options,
    });
    await this.#expect(res, [200], "ping", { registry: this.registry });
    await res.body.dump();
  }

  async headManifest(
    repository: string,
    reference: string,
    options: CallOptions = {},
  ): Promise<ManifestHead> {
    const target = this.#target(repository, reference);
    const res = await this.#send({
      op: "HEAD manifest",
      method: "HEAD",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [pullScope(repository)],
      target,
      ...options,
    });
    await this.#expect(res, [200], "HEAD manifest", target);
    await res.body.dump();
    if (header(res, "connection")?.toLowerCase() === "close") this.#headClosesConnection = true;
    const digest = header(res, "docker-content-digest");
    const mediaType = header(res, "content-type")?.split(";")[0]?.trim() ?? "";
    const size = Number(header(res, "content-length") ?? NaN);
    if (digest === undefined || !Number.isSafeInteger(size)) {
      // some registries omit the digest on HEAD: the body tells
      const m = await this.getManifest(repository, reference, options);
      return { digest: m.digest, mediaType: m.mediaType, size: m.size };
    }
    if (isDigest(reference) && digest !== reference) {
      throw this.#error("protocol", "HEAD manifest", target, `registry answered digest ${digest}`);
    }
    return { digest, mediaType, size };
  }

  async getManifest(
    repository: string,
    reference: string,
    options: CallOptions = {},
  ): Promise<Manifest> {
    const target = this.#target(repository, reference);
    const op = "GET manifest";
    const res = await this.#send({
      op,
      method: "GET",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [pullScope(repository)],
      target,
      ...options,
    });
    await this.#expect(res, [200], op, target);
    const length = Number(header(res, "content-length") ?? 0);
    if (length > MAX_MANIFEST_BYTES) {
      await res.body.dump();
      throw this.#error("protocol", op, target, `manifest of ${length} bytes exceeds 4 MiB`);
    }
    const bytes = await this.#read(res, op, target, MAX_MANIFEST_BYTES);
    const computed = sha256(bytes);
    const sent = header(res, "docker-content-digest");
    if (isDigest(reference) && reference.startsWith("sha256:") && reference !== computed) {
      throw this.#error(
        "protocol",
        op,
        target,
        `content does not match its digest ${reference}: received ${bytes.length} bytes with digest ${computed}`,
      );
    }
    if (sent?.startsWith("sha256:") && sent !== computed) {
      throw this.#error(
        "protocol",
        op,
        target,
        `Docker-Content-Digest ${sent} ≠ content ${computed}`,
      );
    }
    const contentType = header(res, "content-type");
    let document: ManifestDocument;
    try {
      document = parseManifest(bytes, contentType);
    } catch (err) {
      if (err instanceof ManifestParseError) throw this.#error("protocol", op, target, err.message);
      throw err;
    }
    return {
      digest: isDigest(reference) ? reference : computed,
      mediaType: document.mediaType,
      size: bytes.length,
      bytes,
      document,
    };
  }

  async putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options: CallOptions = {},
  ): Promise<{ digest: string }> {
    const target = this.#target(repository, reference);
    const body = Buffer.from(bytes);
    const computed = sha256(body);
    if (isDigest(reference) && reference !== computed) {
      throw this.#error("invalid", "PUT manifest", target, `content digest is ${computed}`);
    }
    const res = await this.#send({
      op: "PUT manifest",
      method: "PUT",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { "content-type": mediaType },
      body,
      scopes: [pushScope(repository)],
      target,
      ...options,
    });
    await this.#expect(res, [201], "PUT manifest", target);
    await res.body.dump();
    return { digest: header(res, "docker-content-digest") ?? computed };
  }

  async deleteManifest(
    repository: string,
    digest: string,
    options: CallOptions = {},
  ): Promise<void> {
    const target = this.#target(repository, digest);
    assertDigest(digest);
    const res = await this.#send({
      op: "DELETE manifest",
      method: "DELETE",
      path: `/v2/${repository}/manifests/${digest}`,
      scopes: [`repository:${repository}:delete`],
      target,
      ...options,
    });
    await this.#expect(res, [202], "DELETE manifest", target);
    await res.body.dump();
  }

  async headBlob(repository: string, digest: string, options: CallOptions = {}): Promise<BlobHead> {
    const target = this.#target(repository, digest);
    assertDigest(digest);
    const res = await this.#send({
      op: "HEAD blob",
      method: "HEAD",
      path: `/v2/${repository}/blobs/${digest}`,
      scopes: [pullScope(repository)],
      target,
      followRedirects: true,
      ...options,
    });
    await this.#expect(res, [200], "HEAD blob", target);
    await res.body.dump();
    return { digest, size: Number(header(res, "content-length") ?? 0) };
  }

  /** True when the repository has the blob; false on 404. */
  async hasBlob(repository: string, digest: string, options: CallOptions = {}): Promise<boolean> {
    try {
      await this.headBlob(repository, digest, options);
      return true;
    } catch (err) {
      if (err instanceof OciError && err.kind === "not-found") return false;
      throw err;
    }
  }

  /**
   * Like hasBlob, with a GET of the blob's first byte instead of a HEAD. undici closes the
   * connection after every HEAD (it guards against servers that send a body to HEAD), so a caller
   * checking many blobs pays a TCP and TLS handshake for each; the ranged GET keeps the connection.
   * A redirect to storage counts as present (registries redirect only for blobs they have). Not
   * for pull-through caches: a GET there fetches the blob from upstream.
   */
  async hasBlobKeepAlive(
    repository: string,
    digest: string,
    options: CallOptions = {},
  ): Promise<boolean> {
    const target = this.#target(repository, digest);
    assertDigest(digest);
    const res = await this.#send({
      op: "check blob",
      method: "GET",
      path: `/v2/${repository}/blobs/${digest}`,
      headers: { range: "bytes=0-0" },
      scopes: [pullScope(repository)],
      target,
      ...options,
    });
    if (res.statusCode === 404) {
      await res.body.dump();
      return false;
    }
    if ([301, 302, 303, 307, 308].includes(res.statusCode)) {
      await res.body.dump();
      return true;
    }
    await this.#expect(res, [200, 206], "check blob", target);
    // a registry that ignores the range sends the whole blob: drop the connection instead
    if (res.statusCode === 200 && Number(header(res, "content-length") ?? 0) > 64 * 1024)
      res.body.destroy();
    else await res.body.dump();
    return true;
  }

  /** Streams a blob; `range` asks for bytes start..end (inclusive). Follows storage redirects. */
  async getBlob(
    repository: string,
    digest: string,
    options: CallOptions & {
      range?: { start: number; end?: number };
      /**
       * Check a whole (not ranged) sha256 blob against its digest while it streams: the last
       * chunk is held back until the check passes, so a reader never sees every byte of a blob
       * that turns out wrong; on a mismatch the body fails with an OciError naming the digest.
       */
      verify?: boolean;
    } = {},
  ): Promise<BlobResponse> {
    const target = this.#target(repository, digest);
    assertDigest(digest);
    const { range, verify, ...call } = options;
    const headers: Record<string, string> = {};
    if (range) headers.range = `bytes=${range.start}-${range.end ?? ""}`;
    const res = await this.#send({
      op: "GET blob",
      method: "GET",
      path: `/v2/${repository}/blobs/${digest}`,
      headers,
      scopes: [pullScope(repository)],
      target,
      followRedirects: true,
      ...call,
    });
    await this.#expect(res, [200, 206], "GET blob", target);
    const length = header(res, "content-length");
    if (res.statusCode === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, "content-range") ?? "");
      if (!m) {
        await res.body.dump();
        throw this.#error("protocol", "GET blob", target, "206 without a valid Content-Range");
      }
      return {
        ...(m[3] === "*" ? {} : { size: Number(m[3]) }),
        range: { start: Number(m[1]), end: Number(m[2]) },
        body: res.body,
      };
    }
    const size = length === undefined ? undefined : Number(length);
    const body =
      verify && digest.startsWith("sha256:")
        ? res.body.pipe(
            verifyingStream(digest, size, (got, gotSize) =>
              this.#error(
                "protocol",
                "GET blob",
                target,
                `content does not match its digest: received ${gotSize} bytes with digest ${got}` +
                  (size !== undefined ? ` (announced ${size})` : ""),
              ),
            ),
          )
        : res.body;
    if (body !== res.body) {
      res.body.on("error", e => body.destroy(e));
      body.on("close", () => res.body.destroy());
    }
    return { ...(size === undefined ? {} : { size }), body };
  }

  /** A whole blob in memory, checked against its digest. */
  async getBlobBytes(
    repository: string,
    digest: string,
    options: CallOptions = {},
  ): Promise<Buffer> {
    const { body } = await this.getBlob(repository, digest, options);
    const target = this.#target(repository, digest);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
    } catch (err) {
      throw this.#wrap(err, "GET blob", target);
    }
    const bytes = Buffer.concat(chunks);
    if (digest.startsWith("sha256:") && sha256(bytes) !== digest) {
      throw this.#error("protocol", "GET blob", target, `content digest is ${sha256(bytes)}`);
    }
    return bytes;
  }

  /** Monolithic upload: POST for a location, then one PUT with the whole blob. */
  async uploadBlob(
    repository: string,
    data: Uint8Array,
    options: CallOptions & { digest?: string } = {},
  ): Promise<BlobHead> {
    const bytes = Buffer.from(data);
    const digest = sha256(bytes);
    const target = this.#target(repository, options.digest ?? digest);
    if (options.digest !== undefined && options.digest !== digest) {
      throw this.#error("invalid", "upload blob", target, `content digest is ${digest}`);
    }
    const location = await this.#startUpload(repository, target, options.signal);
    const res = await this.#send({
      op: "upload blob",
      method: "PUT",
      path: withQuery(location, { digest }),
      headers: { "content-type": "application/octet-stream" },
      body: bytes,
      scopes: [pushScope(repository)],
      target,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await this.#expect(res, [201], "upload blob", target);
    await res.body.dump();
    return { digest, size: bytes.length };
  }

  /**
   * Uploads a blob streamed from `source`: one PUT with the body when it is small enough, else
   * PATCH requests of `chunkSize` bytes and a PUT ?digest= to commit. Every byte is hashed on its
   * way out; the last bytes wait until the digest and size match, so a wrong blob is never
   * committed (the request fails and the upload is cancelled) and is reported as "content digest
   * is …". Memory stays at a few stream buffers whatever the blob's size.
   */
  async uploadBlobFrom(
    repository: string,
    source: BlobSource,
    options: StreamUploadOptions,
  ): Promise<BlobHead> {
    const { digest } = options;
    const { size } = source;
    assertDigest(digest);
    const target = this.#target(repository, digest);
    const monolithicMax = options.monolithicMaxBytes ?? 16 * 1024 * 1024;
    const chunkSize = Math.max(1, options.chunkSize ?? 16 * 1024 * 1024);
    const signal = options.signal ? { signal: options.signal } : {};
    let location = await this.#startUpload(repository, target, options.signal);
    let hashed = createHash("sha256");
    let reported = 0;
    let wrong: string | undefined;
    const opened: Readable[] = [];
    /** A body of bytes start..end that adds them to the hash; the blob's last bytes wait for it. */
    const piece = (
      start: number,
      end: number,
    ): StreamBody & { hash(): ReturnType<typeof createHash> } => {
      let attempt = hashed;
      return {
        length: end - start,
        hash: () => attempt,
        open: () => {
          attempt = hashed.copy();
          const h = attempt;
          let position = start;
          let held: Buffer | undefined;
          const check = new Transform({
            transform(chunk: Buffer, _enc, done) {
              h.update(chunk);
              position += chunk.length;
              if (position > reported) {
                options.onBytes?.(position - reported);
                reported = position;
              }
              const out = held;
              held = end === size ? chunk : undefined;
              done(null, end === size ? out : chunk);
            },
            flush(done) {
              if (position !== end) {
                wrong = `content is ${position} bytes where ${end} were expected (blob of ${size})`;
              } else if (end === size) {
                const got = `sha256:${h.copy().digest("hex")}`;
                if (got !== digest) wrong = `content digest is ${got}`;
              }
              if (wrong !== undefined) done(new Error(wrong));
              else done(null, held);
            },
          });
          const file = source.open(start, end);
          file.on("error", e => check.destroy(e));
          opened.push(file, check);
          return file.pipe(check);
        },
      };
    };
    const send = async (
      op: string,
      method: "PUT" | "PATCH",
      path: string,
      body: ReturnType<typeof piece>,
      headers: Record<string, string>,
      ok: number,
    ): Promise<Dispatcher.ResponseData> => {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.#send({
          op,
          method,
          path,
          headers: { "content-type": "application/octet-stream", ...headers },
          body,
          scopes: [pushScope(repository)],
          target,
          ...signal,
        });
      } catch (err) {
        if (wrong !== undefined) throw this.#error("invalid", "upload blob", target, wrong);
        throw err;
      }
      await this.#expect(res, [ok], op, target);
      await res.body.dump();
      hashed = body.hash();
      return res;
    };
    try {
      if (size <= monolithicMax) {
        await send("upload blob", "PUT", withQuery(location, { digest }), piece(0, size), {}, 201);
        return { digest, size };
      }
      for (let offset = 0; offset < size; offset += chunkSize) {
        const end = Math.min(size, offset + chunkSize);
        const range = { "content-range": `${offset}-${end - 1}` };
        const res = await send(
          "upload blob chunk",
          "PATCH",
          location,
          piece(offset, end),
          range,
          202,
        );
        location = this.#location(res, "upload blob chunk", target);
      }
      const res = await this.#send({
        op: "upload blob",
        method: "PUT",
        path: withQuery(location, { digest }),
        scopes: [pushScope(repository)],
        target,
        ...signal,
      });
      await this.#expect(res, [201], "upload blob", target);
      await res.body.dump();
      return { digest, size };
    } catch (err) {
      await this.#cancelUpload(location, repository);
      throw err;
    } finally {
      for (const stream of opened) stream.destroy();
    }
  }

  /** Chunked upload: PATCH per chunk with Content-Range, then PUT ?digest= to commit. */
  async uploadBlobChunked(
    repository: string,
    source: AsyncIterable<Uint8Array>,
    options: ChunkedUploadOptions = {},
  ): Promise<BlobHead> {
    const chunkSize = options.chunkSize ?? 8 * 1024 * 1024;
    const target = this.#target(repository, options.digest ?? "upload");
    if (options.digest !== undefined) assertDigest(options.digest);
    let location = await this.#startUpload(repository, target, options.signal);
    const hash = createHash("sha256");
    let offset = 0;
    const signal = options.signal ? { signal: options.signal } : {};
    const patch = async (chunk: Buffer): Promise<void> => {
      const res = await this.#send({
        op: "upload blob chunk",
        method: "PATCH",
        path: location,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${offset}-${offset + chunk.length - 1}`,
        },
        body: chunk,
        scopes: [pushScope(repository)],
        target,
        ...signal,
      });
      await this.#expect(res, [202], "upload blob chunk", target);
      await res.body.dump();
      location = this.#location(res, "upload blob chunk", target);
      offset += chunk.length;
    };
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    try {
      for await (const piece of source) {
        const buf = Buffer.from(piece);
        hash.update(buf);
        pending.push(buf);
        pendingBytes += buf.length;
        while (pendingBytes >= chunkSize) {
          const all = Buffer.concat(pending);
          await patch(all.subarray(0, chunkSize));
          pending = [all.subarray(chunkSize)];
          pendingBytes = all.length - chunkSize;
        }
      }
      if (pendingBytes > 0) await patch(Buffer.concat(pending));
      const digest = `sha256:${hash.digest("hex")}`;
      if (options.digest !== undefined && options.digest !== digest) {
        throw this.#error("invalid", "upload blob", target, `content digest is ${digest}`);
      }
      const res = await this.#send({
        op: "upload blob",
        method: "PUT",
        path: withQuery(location, { digest }),
        scopes: [pushScope(repository)],
        target: this.#target(repository, digest),
        ...signal,
      });
      await this.#expect(res, [201], "upload blob", this.#target(repository, digest));
      await res.body.dump();
      return { digest, size: offset };
    } catch (err) {
      await this.#cancelUpload(location, repository);
      throw err;
    }
  }

  /**
   * Cross-repository mount: true when the registry linked the blob from `fromRepository`; false
   * when it would need an upload (the upload it opened instead is cancelled).
   */
  async mountBlob(
    repository: string,
    digest: string,
    fromRepository: string,
    options: CallOptions = {},
  ): Promise<boolean> {
    const target = this.#target(repository, digest);
    assertDigest(digest);
    assertRepositoryPath(fromRepository);
    const res = await this.#send({
      op: "mount blob",
      method: "POST",
      path: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`,
      scopes: [pushScope(repository), pullScope(fromRepository)],
      target,
      ...options,
    });
    await this.#expect(res, [201, 202], "mount blob", target);
    await res.body.dump();
    if (res.statusCode === 201) return true;
    await this.#cancelUpload(this.#location(res, "mount blob", target), repository);
    return false;
  }

  async listTags(
    repository: string,
    options: CallOptions & { pageSize?: number } = {},
  ): Promise<string[]> {
    const target = this.#target(repository);
    const first = `/v2/${repository}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ""}`;
    return this.#paged("list tags", first, [pullScope(repository)], target, "tags", options.signal);
  }

  async catalog(options: CallOptions & { pageSize?: number } = {}): Promise<string[]> {
    const target = { registry: this.registry };
    const first = `/v2/_catalog${options.pageSize ? `?n=${options.pageSize}` : ""}`;
    return this.#paged(
      "catalog",
      first,
      ["registry:catalog:*"],
      target,
      "repositories",
      options.signal,
    );
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  // ---------------------------------------------------------------------------------------------

  #target(repository: string, reference?: string): OciErrorTarget {
    const target: OciErrorTarget = {
      registry: this.registry,
      repository,
      ...(reference === undefined ? {} : { reference }),
    };
    try {
      assertRepositoryPath(repository);
      if (reference !== undefined && reference !== "upload") assertManifestReference(reference);
    } catch (err) {
      throw this.#error("invalid", "request", target, errorText(err));
    }
    return target;
  }

  async #paged(
    op: string,
    first: string,
    scopes: string[],
    target: OciErrorTarget,
    field: "tags" | "repositories",
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = first;
    // a registry's Link may loop (back to a page already read) or never end: both are refused
    // rather than followed — one listing must not become thousands of requests
    const seen = new Set<string>();
    for (let page = 0; path !== undefined; page++) {
      if (seen.has(path)) {
        throw this.#error("protocol", op, target, `pagination Link loops back to ${path}`);
      }
      if (page >= MAX_PAGES) {
        throw this.#error("protocol", op, target, `more than ${MAX_PAGES} pages`);
      }
      seen.add(path);
      const res: Dispatcher.ResponseData = await this.#send({
        op,
        method: "GET",
        path,
        scopes,
        target,
        ...(signal ? { signal } : {}),
      });
      await this.#expect(res, [200], op, target);
      const body = await this.#read(res, op, target, 64 * 1024 * 1024);
      let doc: unknown;
      try {
        doc = JSON.parse(body.toString("utf8"));
      } catch {
        throw this.#error("protocol", op, target, "answer is not JSON");
      }
      const list =
        doc !== null && typeof doc === "object"
          ? (doc as Record<string, unknown>)[field]
          : undefined;
      if (list !== null && list !== undefined && !Array.isArray(list)) {
        throw this.#error("protocol", op, target, `"${field}" is not an array`);
      }
      for (const item of list ?? []) if (typeof item === "string") out.push(item);
      path = nextLink(header(res, "link"));
    }
    return out;
  }

  async #startUpload(
    repository: string,
    target: OciErrorTarget,
    signal?: AbortSignal,
  ): Promise<string> {
    const res = await this.#send({
      op: "start upload",
      method: "POST",
      path: `/v2/${repository}/blobs/uploads/`,
      scopes: [pushScope(repository)],
      target,
      ...(signal ? { signal } : {}),
    });
    await this.#expect(res, [202], "start upload", target);
    await res.body.dump();
    return this.#location(res, "start upload", target);
  }

  async #cancelUpload(location: string, repository: string): Promise<void> {
    try {
      const res = await this.#send({
        op: "cancel upload",
        method: "DELETE",
        path: location,
        scopes: [pushScope(repository)],
        target: { registry: this.registry, repository },
      });
      await res.body.dump();
    } catch {
      // best effort: the registry purges abandoned uploads itself
    }
  }

  #location(res: Dispatcher.ResponseData, op: string, target: OciErrorTarget): string {
    const location = header(res, "location");
    if (!location) throw this.#error("protocol", op, target, "no Location header");
    return new URL(location, this.#base).toString();
  }

  /** One request with the challenge flow: at most one retry after a 401. */
  async #send(req: SendRequest): Promise<Dispatcher.ResponseData> {
    // until the first answer says how this registry authenticates, one request asks and the
    // others wait: a burst of N requests then costs one challenge and one token, not N
    while (this.#auth.kind === "unknown" && this.#probe) await this.#probe.catch(() => undefined);
    let probeDone: (() => void) | undefined;
    if (this.#auth.kind === "unknown") {
      this.#probe = new Promise<void>(resolve => (probeDone = resolve));
    }
    try {
      return await this.#sendAuthenticated(req);
    } finally {
      if (probeDone) {
        if (this.#auth.kind === "unknown") this.#auth = { kind: "none" };
        this.#probe = undefined;
        probeDone();
      }
    }
  }

  async #sendAuthenticated(req: SendRequest): Promise<Dispatcher.ResponseData> {
    const sent = await this.#authorization(req, false);
    let res = await this.#dispatch(req, sent);
    if (res.statusCode !== 401) return res;
    const challenges = parseChallenges(res.headers["www-authenticate"]);
    await res.body.dump();
    const bearer = challenges.find(c => c.scheme === "bearer");
    const basic = challenges.find(c => c.scheme === "basic");
    if (bearer?.params.realm) {
      this.#auth = { kind: "bearer", realm: bearer.params.realm, service: bearer.params.service };
      const scopes = bearer.params.scope
        ? [...new Set([...req.scopes, ...bearer.params.scope.split(" ")])]
        : req.scopes;
      // a token we sent was refused (expired, revoked): fetch a fresh one, once
      const refresh = sent?.startsWith("Bearer ") === true;
      res = await this.#dispatch(req, await this.#authorization({ ...req, scopes }, refresh));
    } else if (basic) {
      if (this.#basic === undefined) {
        throw this.#error(
          "auth",
          req.op,
          req.target,
          "authentication required and no credentials are configured",
          401,
        );
      }
      const wasSent = this.#auth.kind === "basic";
      this.#auth = { kind: "basic" };
      if (wasSent) return res;
      res = await this.#dispatch(req, `Basic ${this.#basic}`);
    }
    return res;
  }

  async #authorization(req: SendRequest, refresh: boolean): Promise<string | undefined> {
    const auth = this.#auth;
    switch (auth.kind) {
      case "unknown":
      case "none":
        return undefined;
      case "basic":
        return this.#basic === undefined ? undefined : `Basic ${this.#basic}`;
      case "bearer": {
        const key = TokenCache.key(auth.realm, auth.service, req.scopes);
        if (refresh) this.#tokens.drop(key);
        const token = await this.#tokens.get(key, () => this.#fetchToken(auth, req));
        return `Bearer ${token}`;
      }
    }
  }

  async #fetchToken(
    auth: { realm: string; service: string | undefined },
    req: SendRequest,
  ): Promise<{ token: string; expiresInSeconds: number }> {
    let url: URL;
    try {
      url = new URL(auth.realm);
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("not http(s)");
    } catch {
      throw this.#error(
        "protocol",
        req.op,
        req.target,
        `token realm "${auth.realm}" is not an http(s) URL`,
      );
    }
    if (auth.service) url.searchParams.set("service", auth.service);
    for (const scope of req.scopes) url.searchParams.append("scope", scope);
    const why = `token from ${url.origin}${url.pathname}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: "GET",
        headers: {
          "user-agent": this.#userAgent,
          ...(this.#basic ? { authorization: `Basic ${this.#basic}` } : {}),
        },
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      throw this.#wrap(err, req.op, req.target, `${why}: `, url);
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      const detail = await errorDetail(res);
      throw this.#error(
        "auth",
        req.op,
        req.target,
        this.#basic
          ? `authentication failed: the token server refused the credentials (${res.statusCode}${detail})`
          : `authentication required: the token server refused anonymous access (${res.statusCode}${detail})`,
        res.statusCode,
      );
    }
    if (res.statusCode !== 200) {
      const detail = await errorDetail(res);
      throw this.#error(
        "protocol",
        req.op,
        req.target,
        `${why}: HTTP ${res.statusCode}${detail}`,
        res.statusCode,
      );
    }
    let doc: unknown;
    try {
      doc = await res.body.json();
    } catch {
      throw this.#error("protocol", req.op, req.target, `${why}: answer is not JSON`);
    }
    const body = doc !== null && typeof doc === "object" ? (doc as Record<string, unknown>) : {};
    const token = typeof body.token === "string" && body.token ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") {
      throw this.#error("protocol", req.op, req.target, `${why}: answer has no token`);
    }
    // the spec's default lifetime when the server does not say
    const expires =
      typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expiresInSeconds: expires };
  }

  async #dispatch(
    req: SendRequest,
    authorization: string | undefined,
  ): Promise<Dispatcher.ResponseData> {
    let url = new URL(req.path, this.#base);
    let auth = authorization;
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.#agent.request({
          origin: url.origin,
          path: url.pathname + url.search,
          method: req.method,
          headers: {
            "user-agent": this.#userAgent,
            ...req.headers,
            ...(auth ? { authorization: auth } : {}),
            ...(req.body ? { "content-length": String(req.body.length) } : {}),
          },
          ...(req.body ? { body: Buffer.isBuffer(req.body) ? req.body : req.body.open() } : {}),
          ...(req.signal ? { signal: req.signal } : {}),
        });
      } catch (err) {
        throw this.#wrap(err, req.op, req.target, "", url);
      }
      const location = header(res, "location");
      const redirect = [301, 302, 303, 307, 308].includes(res.statusCode) && location !== undefined;
      if (!redirect || !req.followRedirects) return res;
      await res.body.dump();
      if (hop >= MAX_REDIRECTS) {
        throw this.#error("protocol", req.op, req.target, `more than ${MAX_REDIRECTS} redirects`);
      }
      const next = new URL(location, url);
      // storage backends sign their URLs: our credentials stay with the registry
      if (next.origin !== this.#base) auth = undefined;
      url = next;
    }
  }

  async #expect(
    res: Dispatcher.ResponseData,
    ok: number[],
    op: string,
    target: OciErrorTarget,
  ): Promise<void> {
    if (ok.includes(res.statusCode)) return;
    const { code, text } = await registryError(res);
    const status = res.statusCode;
    const suffix = ` (HTTP ${status}${code ? ` ${code}` : ""}${text ? `: ${text}` : ""})`;
    let kind: OciErrorKind;
    let why: string;
    if (status === 401) {
      kind = "auth";
      why = this.#basic ? "authentication failed: credentials rejected" : "authentication required";
    } else if (status === 403) {
      kind = "denied";
      why = "access denied";
    } else if (status === 404) {
      kind = "not-found";
      why = "not found";
    } else if (status === 408 || status === 504) {
      kind = "timeout";
      why = "request timeout";
    } else {
      kind = "protocol";
      why = "unexpected answer";
    }
    throw this.#error(kind, op, target, why + suffix, status, code);
  }

  async #read(
    res: Dispatcher.ResponseData,
    op: string,
    target: OciErrorTarget,
    limit: number,
  ): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of res.body) {
        total += (chunk as Buffer).length;
        if (total > limit) {
          res.body.destroy();
          throw this.#error("protocol", op, target, `answer exceeds ${limit} bytes`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      if (err instanceof OciError) throw err;
      throw this.#wrap(err, op, target);
    }
    return Buffer.concat(chunks);
  }

  #wrap(
    err: unknown,
    op: string,
    target: OciErrorTarget,
    prefix = "",
    url: URL = new URL(this.#base),
  ): OciError {
    if (err instanceof OciError) return err;
    const { kind, why } = classify(err);
    // an operator behind a proxy must see whether the proxy or the registry failed
    const proxy = this.#routes?.proxyFor(url);
    const via = proxy ? ` (through proxy ${describeProxy(proxy)})` : "";
    return this.#error(kind, op, target, prefix + why + via);
  }

  #error(
    kind: OciErrorKind,
    op: string,
    target: OciErrorTarget,
    why: string,
    status?: number,
    code?: string,
  ): OciError {
    const secrets = [...this.#secrets, ...this.#tokens.tokens()];
    const reason = redactText(why, secrets);
    const message = redactText(`${op} ${describeTarget(target)}: ${why}`, secrets);
    return new OciError(kind, message, target, status, code, reason);
  }
}

/** Each PEM certificate of a bundle, checked by parsing (OpenSSL would skip garbage silently). */
function pemCertificates(bundle: string): string[] {
  const blocks =
    bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error("no PEM certificate block");
  for (const block of blocks) new X509Certificate(block);
  return blocks;
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

/** Passes a blob through, holding its last chunk until the digest (and size) check passes. */
function verifyingStream(
  digest: string,
  size: number | undefined,
  mismatch: (got: string, gotSize: number) => Error,
): Transform {
  const hash = createHash("sha256");
  let held: Buffer | undefined;
  let received = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received += chunk.length;
      const out = held;
      held = chunk;
      done(null, out);
    },
    flush(done) {
      const got = `sha256:${hash.digest("hex")}`;
      if (got !== digest || (size !== undefined && received !== size)) {
        done(mismatch(got, received));
        return;
      }
      done(null, held);
    },
  });
}

/** Pages of a tag list or catalog followed at most (distribution's default page is 100 entries). */
const MAX_PAGES = 1000;

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function withQuery(location: string, params: Record<string, string>): string {
  const url = new URL(location);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}

/** `<url>; rel="next"` of a Link header. */
function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return m?.[1];
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readLimited(res: Dispatcher.ResponseData): Promise<string> {
  let text = "";
  try {
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString("utf8");
      if (text.length > MAX_ERROR_BODY) {
        res.body.destroy();
        break;
      }
    }
  } catch {
    // the status is what matters
  }
  return text;
}

/** The first `{errors: [{code, message}]}` entry of an error body (registries' error format). */
async function registryError(
  res: Dispatcher.ResponseData,
): Promise<{ code?: string; text?: string }> {
  const text = await readLimited(res);
  try {
    const doc = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = doc.errors?.[0];
    if (first) {
      return {
        ...(typeof first.code === "string" ? { code: first.code } : {}),
        ...(typeof first.message === "string" ? { text: first.message } : {}),
      };
    }
  } catch {
    // not the registry error format
  }
  const plain = text.trim().slice(0, 200);
  return plain && !plain.startsWith("<") ? { text: plain } : {};
}

async function errorDetail(res: Dispatcher.ResponseData): Promise<string> {
  const { code, text } = await registryError(res);
  return code || text ? `: ${[code, text].filter(Boolean).join(" ")}` : "";
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "EPROTO",
]);
const TIMEOUT_CODES = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
]);
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

/** What went wrong below HTTP, from Node's and undici's error codes (the cause chain too). */
function classify(err: unknown): { kind: OciErrorKind; why: string } {
  const chain: Array<{ code?: unknown; name?: unknown; message?: unknown }> = [];
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    chain.push(e as { code?: unknown });
    e = (e as { cause?: unknown }).cause;
  }
  for (const e of chain) {
    const code = typeof e.code === "string" ? e.code : "";
    const message = typeof e.message === "string" ? e.message : "";
    // undici reports a refused CONNECT as an abort; it is the proxy's answer, not a deadline
    const tunnel = /^Proxy response \((\d+)\) !== 200/.exec(message);
    if (tunnel) {
      return {
        kind: "network",
        why: `the proxy refused the tunnel (CONNECT answered HTTP ${tunnel[1]})`,
      };
    }
    if (e.name === "AbortError" || e.name === "TimeoutError" || code === "UND_ERR_ABORTED") {
      return { kind: "timeout", why: "request timeout (deadline passed)" };
    }
    if (TIMEOUT_CODES.has(code)) return { kind: "timeout", why: `request timeout (${code})` };
    if (TLS_CODES.has(code) || code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS")) {
      return { kind: "tls", why: `TLS: ${message || code} (${code})` };
    }
    if (NETWORK_CODES.has(code)) return { kind: "network", why: `${message || code} (${code})` };
  }
  const first = chain[0];
  const message = first && typeof first.message === "string" ? first.message : String(err);
  return { kind: "network", why: message };
}
