// The gateway's upstream side: the read requests of the distribution API (ping, manifests, blobs,
// tag lists) answered from the real upstream through the project's one OCI client (lib/oci), which
// owns the upstream's authentication (Basic, Bearer token challenge, licence as `license-token`),
// its CA and its storage redirects. Answers come back as HTTP responses in the distribution API's
// shape, blob bodies streamed.
import { Readable } from "node:stream";
import { OciError, RegistryClient } from "../../../lib/oci";
import type { Upstream } from "../../../lib/dataplane/gateway-config";
import { errorBody } from "./errors";
import type { Route } from "./routes";

/** A read request, its repository name already the upstream's. */
export interface UpstreamRequest {
  route: Route;
  method: "GET" | "HEAD";
  /** the client's Range header (blobs) */
  range?: string;
  /** `n` and `last` of tags/list */
  query: URLSearchParams;
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** empty for HEAD; the caller must consume or destroy it */
  body: Readable;
}

export interface UpstreamTransport {
  /** connections kept to the upstream; a client may hold a quarter of them */
  readonly connections: number;
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** The upstream could not be reached (network, TLS, timeout); a cache may answer instead. */
export class UpstreamUnavailable extends Error {
  override name = "UpstreamUnavailable";
}

const V2 = { "docker-distribution-api-version": "registry/2.0" };

export class OciUpstream implements UpstreamTransport {
  readonly #client: RegistryClient;
  readonly connections: number;

  constructor(upstream: Upstream, caPem: string | undefined, opts: { connections?: number } = {}) {
    this.connections = opts.connections ?? 32;
    this.#client = new RegistryClient({
      registry: upstream.host,
      scheme: upstream.scheme,
      ...(caPem ? { ca: caPem } : {}),
      ...(upstream.username !== undefined
        ? { username: upstream.username, password: upstream.password }
        : {}),
      // absent: the process environment's HTTP(S)_PROXY (lib/oci/proxy.ts)
      ...(upstream.proxy ? { proxy: upstream.proxy } : {}),
      connections: this.connections,
      timeoutMs: 60_000,
      userAgent: "deckhouse-registry-gateway",
    });
  }

  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      return await this.#send(req);
    } catch (e) {
      if (!(e instanceof OciError)) throw e;
      return answerFailure(e, req);
    }
  }

  async #send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const { route, method } = req;
    const call = req.signal ? { signal: req.signal } : {};
    switch (route.kind) {
      case "base":
        await this.#client.ping(call);
        return json(200, "{}", method === "HEAD");
      case "manifest":
        return this.#manifest(route, method, call);
      case "blob":
        return this.#blob(route, req, call);
      case "tags": {
        const all = await this.#client.listTags(route.name, call);
        return tagsPage(route.name, all, req.query, method === "HEAD");
      }
      case "catalog":
      case "upload":
      case "referrers":
      case "unknown":
        return failure(404, "UNSUPPORTED", "not served from the upstream", method === "HEAD");
    }
  }

  async #manifest(
    route: Extract<Route, { kind: "manifest" }>,
    method: UpstreamRequest["method"],
    call: { signal?: AbortSignal },
  ): Promise<UpstreamResponse> {
    if (method === "HEAD") {
      const head = await this.#client.headManifest(route.name, route.reference, call);
      return {
        status: 200,
        headers: manifestHeaders(head.digest, head.mediaType, head.size),
        body: Readable.from([]),
      };
    }
    const m = await this.#client.getManifest(route.name, route.reference, call);
    return {
      status: 200,
      headers: manifestHeaders(m.digest, m.mediaType, m.size),
      body: Readable.from([m.bytes]),
    };
  }

  async #blob(
    route: Extract<Route, { kind: "blob" }>,
    req: UpstreamRequest,
    call: { signal?: AbortSignal },
  ): Promise<UpstreamResponse> {
    const headers = {
      ...V2,
      "content-type": "application/octet-stream",
      "docker-content-digest": route.digest,
      etag: `"${route.digest}"`,
      "accept-ranges": "bytes",
    };
    if (req.method === "HEAD") {
      const head = await this.#client.headBlob(route.name, route.digest, call);
      return {
        status: 200,
        headers: { ...headers, "content-length": String(head.size) },
        body: Readable.from([]),
      };
    }
    const range = parseRange(req.range);
    const blob = await this.#client.getBlob(route.name, route.digest, {
      ...call,
      // whole blobs are checked against their digest on the way: a lying upstream's bytes
      // never reach a client (or the cache) complete
      ...(range ? { range } : { verify: true }),
    });
    if (blob.range) {
      const { start, end } = blob.range;
      return {
        status: 206,
        headers: {
          ...headers,
          "content-length": String(end - start + 1),
          "content-range": `bytes ${start}-${end}/${blob.size ?? "*"}`,
        },
        body: blob.body,
      };
    }
    return {
      status: 200,
      headers: {
        ...headers,
        ...(blob.size !== undefined ? { "content-length": String(blob.size) } : {}),
      },
      body: blob.body,
    };
  }

  close(): Promise<void> {
    return this.#client.close();
  }
}

/**
 * The upstream's error as the distribution API answers it; an unreachable upstream is thrown as
 * UpstreamUnavailable instead, so that a cache may answer.
 */
function answerFailure(e: OciError, req: UpstreamRequest): UpstreamResponse {
  const head = req.method === "HEAD";
  if (e.status === 416 && req.route.kind === "blob") {
    // a Range past the end is the client's mistake, not the upstream's
    return failure(416, "RANGE_INVALID", e.reason, head);
  }
  switch (e.kind) {
    case "network":
    case "timeout":
    case "tls":
      throw new UpstreamUnavailable(e.message);
    case "auth":
    case "denied":
      return failure(e.kind === "auth" ? 401 : 403, e.code ?? "DENIED", e.reason);
    case "not-found":
      return failure(404, notFoundCode(req.route, e.code), e.reason, head);
    case "invalid":
      return failure(400, "NAME_INVALID", e.reason, head);
    case "protocol":
      return failure(502, e.code ?? "UNKNOWN", e.reason, head);
  }
}

function manifestHeaders(digest: string, mediaType: string, size: number) {
  return {
    ...V2,
    "content-type": mediaType,
    "content-length": String(size),
    "docker-content-digest": digest,
    etag: `"${digest}"`,
  };
}

/** `bytes=a-b` or `bytes=a-`; other forms (suffix, several ranges) get the whole blob (RFC 9110 allows it). */
export function parseRange(
  header: string | undefined,
): { start: number; end?: number } | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header?.trim() ?? "");
  if (!m?.[1]) return undefined;
  const start = Number(m[1]);
  const end = m[2] ? Number(m[2]) : undefined;
  if (end !== undefined && end < start) return undefined;
  return end === undefined ? { start } : { start, end };
}

/** Pagination of tags/list as distribution does it: sorted, after `last`, at most `n`, Link to the rest. */
export function tagsPage(
  name: string,
  tags: readonly string[],
  query: URLSearchParams,
  head: boolean,
): UpstreamResponse {
  let page = [...tags].sort();
  const last = query.get("last");
  if (last) page = page.filter(t => t > last);
  const n = Number(query.get("n") ?? NaN);
  const headers: Record<string, string> = {};
  // n=0 asks for nothing: an empty page, and no Link (it would point back at this very page)
  if (n === 0) page = [];
  else if (Number.isInteger(n) && n > 0 && page.length > n) {
    page = page.slice(0, n);
    const next = page.at(-1) ?? "";
    headers.link = `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(next)}>; rel="next"`;
  }
  const res = json(200, JSON.stringify({ name, tags: page }), head);
  return { ...res, headers: { ...res.headers, ...headers } };
}

function notFoundCode(route: Route, code: string | undefined): string {
  if (code) return code;
  if (route.kind === "manifest") return "MANIFEST_UNKNOWN";
  if (route.kind === "blob") return "BLOB_UNKNOWN";
  return "NAME_UNKNOWN";
}

function json(status: number, body: string, head: boolean): UpstreamResponse {
  return {
    status,
    headers: {
      ...V2,
      "content-type": "application/json; charset=utf-8",
      "content-length": String(Buffer.byteLength(body)),
    },
    body: Readable.from(head ? [] : [Buffer.from(body)]),
  };
}

function failure(status: number, code: string, reason: string, head = false): UpstreamResponse {
  const body = errorBody(code, { reason });
  return json(status, body, head);
}
