// Proxy mode's `ttl` (docs/adr/0094): how long a tag resolved at the upstream is trusted. The
// stock distribution 2.8 cache ignores `proxy.ttl` and asks the upstream on every pull by tag
// (`HEAD manifests/<tag>`, then content by digest); this wrapper of the upstream listener's
// transport answers those tag lookups from what the upstream said less than `ttl` ago, and asks
// again after that, so that a tag moved upstream is seen once its ttl has run out and the
// upstream is spared a round trip per pull meanwhile. Content-addressed requests (manifests and
// blobs by digest) pass through: distribution keeps them in its store.
import { Readable } from "node:stream";
import type { UpstreamRequest, UpstreamResponse, UpstreamTransport } from "./upstream";

interface Resolved {
  digest: string;
  mediaType: string;
  size: string;
  at: number;
}

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
/** Entries kept at most; the oldest go first (a cache has far fewer tags in use). */
const MAX_ENTRIES = 10_000;

export class TagTtlUpstream implements UpstreamTransport {
  readonly #inner: UpstreamTransport;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #resolved = new Map<string, Resolved>();
  readonly connections: number;

  constructor(inner: UpstreamTransport, ttlMs: number, now: () => number = Date.now) {
    this.#inner = inner;
    this.connections = inner.connections;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const { route } = req;
    if (route.kind !== "manifest" || DIGEST.test(route.reference)) return this.#inner.send(req);
    const key = `${route.name}:${route.reference}`;
    const known = this.#resolved.get(key);
    if (known && this.#now() - known.at < this.#ttlMs) {
      if (req.method === "HEAD") {
        return {
          status: 200,
          headers: {
            "docker-distribution-api-version": "registry/2.0",
            "content-type": known.mediaType,
            "content-length": known.size,
            "docker-content-digest": known.digest,
            etag: `"${known.digest}"`,
          },
          body: Readable.from([]),
        };
      }
      return this.#inner.send({ ...req, route: { ...route, reference: known.digest } });
    }
    const answer = await this.#inner.send(req);
    const digest = header(answer, "docker-content-digest");
    if (answer.status === 200 && digest && DIGEST.test(digest)) {
      this.#resolved.delete(key);
      this.#resolved.set(key, {
        digest,
        mediaType: header(answer, "content-type") ?? "",
        size: header(answer, "content-length") ?? "",
        at: this.#now(),
      });
      if (this.#resolved.size > MAX_ENTRIES) {
        const oldest = this.#resolved.keys().next().value;
        if (oldest !== undefined) this.#resolved.delete(oldest);
      }
    }
    return answer;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

function header(res: UpstreamResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
