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
//
// This file is the client's face; the work is done beside it: transport.ts (dispatcher, TLS,
// proxy, redirects, errors), auth.ts (the challenge flow), failures.ts (error classification),
// blobs.ts (reads) and uploads.ts (writes).
import { RegistrySession } from "./auth";
import {
  getBlob,
  getBlobBytes,
  hasBlobKeepAlive,
  headBlob,
  isNotFound,
  type BlobHead,
  type BlobResponse,
  type CallOptions,
  type GetBlobOptions,
} from "./blobs";
import { parseManifest, ManifestParseError, type ManifestDocument } from "./manifest";
import { MANIFEST_ACCEPT } from "./media-types";
import { assertDigest, isDigest } from "./reference";
import {
  header,
  pullScope,
  pushScope,
  sha256,
  type Operation,
  type RegistryClientOptions,
} from "./transport";
import {
  mountBlob,
  uploadBlob,
  uploadBlobChunked,
  uploadBlobFrom,
  type BlobSource,
  type ChunkedUploadOptions,
  type StreamUploadOptions,
} from "./uploads";
import type { HttpResponse } from "./http";

export type {
  RegistryClientOptions,
  BlobHead,
  BlobResponse,
  BlobSource,
  CallOptions,
  ChunkedUploadOptions,
  StreamUploadOptions,
};

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface Manifest extends ManifestHead {
  bytes: Buffer;
  document: ManifestDocument;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Pages of a tag list or catalog followed at most (distribution's default page is 100 entries). */
const MAX_PAGES = 1000;

/** A paged listing: tags of a repository, or the catalog. */
interface Listing extends Operation {
  first: string;
  scopes: string[];
  field: "tags" | "repositories";
  signal: AbortSignal | undefined;
}

export class RegistryClient {
  readonly registry: string;
  readonly scheme: "http" | "https";
  readonly #session: RegistrySession;
  #headClosesConnection = false;

  constructor(options: RegistryClientOptions) {
    this.#session = new RegistrySession(options);
    this.registry = this.#session.registry;
    this.scheme = this.#session.scheme;
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
    const at = { op: "ping", target: { registry: this.registry } };
    const res = await this.#session.send({
      ...at,
      method: "GET",
      path: "/v2/",
      scopes: [],
      ...options,
    });
    await this.#session.expect(res, [200], at);
    await res.body.dump();
  }

  async headManifest(
    repository: string,
    reference: string,
    options: CallOptions = {},
  ): Promise<ManifestHead> {
    const session = this.#session;
    const at = { op: "HEAD manifest", target: session.target(repository, reference) };
    const res = await session.send({
      ...at,
      method: "HEAD",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [pullScope(repository)],
      ...options,
    });
    await session.expect(res, [200], at);
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
      throw session.error("protocol", at, `registry answered digest ${digest}`);
    }
    return { digest, mediaType, size };
  }

  async getManifest(
    repository: string,
    reference: string,
    options: CallOptions = {},
  ): Promise<Manifest> {
    const session = this.#session;
    const at = { op: "GET manifest", target: session.target(repository, reference) };
    const res = await session.send({
      ...at,
      method: "GET",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [pullScope(repository)],
      ...options,
    });
    await session.expect(res, [200], at);
    const length = Number(header(res, "content-length") ?? 0);
    if (length > MAX_MANIFEST_BYTES) {
      await res.body.dump();
      throw session.error("protocol", at, `manifest of ${length} bytes exceeds 4 MiB`);
    }
    const bytes = await session.read(res, at, MAX_MANIFEST_BYTES);
    const computed = this.#checkManifestDigest(res, bytes, { ...at, reference });
    let document: ManifestDocument;
    try {
      document = parseManifest(bytes, header(res, "content-type"));
    } catch (err) {
      if (err instanceof ManifestParseError) throw session.error("protocol", at, err.message);
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

  /** The manifest's sha256, checked against the digest asked for and the one the registry sent. */
  #checkManifestDigest(
    res: HttpResponse,
    bytes: Buffer,
    at: Operation & { reference: string },
  ): string {
    const { reference } = at;
    const computed = sha256(bytes);
    const sent = header(res, "docker-content-digest");
    if (isDigest(reference) && reference.startsWith("sha256:") && reference !== computed) {
      throw this.#session.error(
        "protocol",
        at,
        `content does not match its digest ${reference}: received ${bytes.length} bytes with digest ${computed}`,
      );
    }
    if (sent?.startsWith("sha256:") && sent !== computed) {
      throw this.#session.error(
        "protocol",
        at,
        `Docker-Content-Digest ${sent} ≠ content ${computed}`,
      );
    }
    return computed;
  }

  // eslint-disable-next-line max-params -- the public signature its callers (mirrorer, mirror CLI, tests) use
  async putManifest(
    repository: string,
    reference: string,
    bytes: Uint8Array,
    mediaType: string,
    options: CallOptions = {},
  ): Promise<{ digest: string }> {
    const session = this.#session;
    const at = { op: "PUT manifest", target: session.target(repository, reference) };
    const body = Buffer.from(bytes);
    const computed = sha256(body);
    if (isDigest(reference) && reference !== computed) {
      throw session.error("invalid", at, `content digest is ${computed}`);
    }
    const res = await session.send({
      ...at,
      method: "PUT",
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { "content-type": mediaType },
      body,
      scopes: [pushScope(repository)],
      ...options,
    });
    await session.expect(res, [201], at);
    await res.body.dump();
    return { digest: header(res, "docker-content-digest") ?? computed };
  }

  async deleteManifest(
    repository: string,
    digest: string,
    options: CallOptions = {},
  ): Promise<void> {
    const session = this.#session;
    const at = { op: "DELETE manifest", target: session.target(repository, digest) };
    assertDigest(digest);
    const res = await session.send({
      ...at,
      method: "DELETE",
      path: `/v2/${repository}/manifests/${digest}`,
      scopes: [`repository:${repository}:delete`],
      ...options,
    });
    await session.expect(res, [202], at);
    await res.body.dump();
  }

  async headBlob(repository: string, digest: string, options: CallOptions = {}): Promise<BlobHead> {
    return headBlob(this.#session, { repository, digest }, options);
  }

  /** True when the repository has the blob; false on 404. */
  async hasBlob(repository: string, digest: string, options: CallOptions = {}): Promise<boolean> {
    try {
      await this.headBlob(repository, digest, options);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
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
    return hasBlobKeepAlive(this.#session, { repository, digest }, options);
  }

  /** Streams a blob; `range` asks for bytes start..end (inclusive). Follows storage redirects. */
  async getBlob(
    repository: string,
    digest: string,
    options: GetBlobOptions = {},
  ): Promise<BlobResponse> {
    return getBlob(this.#session, { repository, digest }, options);
  }

  /** A whole blob in memory, checked against its digest. */
  async getBlobBytes(
    repository: string,
    digest: string,
    options: CallOptions = {},
  ): Promise<Buffer> {
    return getBlobBytes(this.#session, { repository, digest }, options);
  }

  /** Monolithic upload: POST for a location, then one PUT with the whole blob. */
  async uploadBlob(
    repository: string,
    data: Uint8Array,
    options: CallOptions & { digest?: string } = {},
  ): Promise<BlobHead> {
    return uploadBlob(this.#session, repository, data, options);
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
    return uploadBlobFrom(this.#session, repository, source, options);
  }

  /** Chunked upload: PATCH per chunk with Content-Range, then PUT ?digest= to commit. */
  async uploadBlobChunked(
    repository: string,
    source: AsyncIterable<Uint8Array>,
    options: ChunkedUploadOptions = {},
  ): Promise<BlobHead> {
    return uploadBlobChunked(this.#session, repository, source, options);
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
    return mountBlob(this.#session, { repository, digest }, fromRepository, options);
  }

  async listTags(
    repository: string,
    options: CallOptions & { pageSize?: number } = {},
  ): Promise<string[]> {
    const target = this.#session.target(repository);
    const first = `/v2/${repository}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ""}`;
    return this.#paged({
      op: "list tags",
      target,
      first,
      scopes: [pullScope(repository)],
      field: "tags",
      signal: options.signal,
    });
  }

  async catalog(options: CallOptions & { pageSize?: number } = {}): Promise<string[]> {
    return this.#paged({
      op: "catalog",
      target: { registry: this.registry },
      first: `/v2/_catalog${options.pageSize ? `?n=${options.pageSize}` : ""}`,
      scopes: ["registry:catalog:*"],
      field: "repositories",
      signal: options.signal,
    });
  }

  /** Closes the kept-alive connections. */
  async close(): Promise<void> {
    await this.#session.close();
  }

  // ---------------------------------------------------------------------------------------------

  async #paged(listing: Listing): Promise<string[]> {
    const out: string[] = [];
    let path: string | undefined = listing.first;
    // a registry's Link may loop (back to a page already read) or never end: both are refused
    // rather than followed — one listing must not become thousands of requests
    const seen = new Set<string>();
    for (let page = 0; path !== undefined; page++) {
      if (seen.has(path)) {
        throw this.#session.error("protocol", listing, `pagination Link loops back to ${path}`);
      }
      if (page >= MAX_PAGES) {
        throw this.#session.error("protocol", listing, `more than ${MAX_PAGES} pages`);
      }
      seen.add(path);
      const res = await this.#page(listing, path);
      out.push(...res.items);
      path = res.next;
    }
    return out;
  }

  async #page(listing: Listing, path: string): Promise<{ items: string[]; next?: string }> {
    const session = this.#session;
    const { op, target, field, signal } = listing;
    const at: Operation = { op, target };
    const res: HttpResponse = await session.send({
      ...at,
      method: "GET",
      path,
      scopes: listing.scopes,
      ...(signal ? { signal } : {}),
    });
    await session.expect(res, [200], at);
    const body = await session.read(res, at, 64 * 1024 * 1024);
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString("utf8"));
    } catch {
      throw session.error("protocol", at, "answer is not JSON");
    }
    const list =
      doc !== null && typeof doc === "object" ? (doc as Record<string, unknown>)[field] : undefined;
    if (list !== null && list !== undefined && !Array.isArray(list)) {
      throw session.error("protocol", at, `"${field}" is not an array`);
    }
    const items = ((list ?? []) as unknown[]).filter((i): i is string => typeof i === "string");
    const next = nextLink(header(res, "link"));
    return next === undefined ? { items } : { items, next };
  }
}

/** `<url>; rel="next"` of a Link header. */
function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  return m?.[1];
}
