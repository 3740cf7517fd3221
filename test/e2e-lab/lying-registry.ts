// A registry double that lies: a real HTTP server on loopback serving an OCI layout through the
// distribution API (anonymous, plain HTTP), which can be told to answer wrong bytes under a digest.
//
//   const reg = await startLyingRegistry(layout, "deckhouse/ee");   // reg.hostPort, reg.url
//   reg.lie(digest, "wrong" | "truncated" | "padded")   // blobs and manifests alike
//   reg.lieTagLink = "self"                             // tags/list Link points back at itself
//   reg.honest()                                        // every lie off
//   reg.requests                                        // "GET /v2/…" lines seen
//
// A double, not real distribution, on purpose: a registry that serves bytes other than those its
// digests name is exactly what real distribution never does (it addresses content by digest), so
// the only way to prove the consumers' integrity checks is a server built to break the contract.
// Everything else follows distribution: Docker-Content-Digest of the true content, Content-Length
// of what is sent, error bodies in the distribution shape, tags/list with n/last pagination.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { OciLayout } from "./images";
import { trackCloser } from "./process";

export type Lie = "wrong" | "truncated" | "padded";

export interface LyingRegistry {
  hostPort: string;
  url: string;
  requests: string[];
  lie(digest: string, how: Lie): void;
  /** tags/list answers a `Link` to the same page */
  lieTagLink?: "self";
  /** HEAD manifest answers `Connection: close` (as distribution 2.x does), so the checker GETs */
  closeAfterHead: boolean;
  honest(): void;
  stop(): Promise<void>;
}

const V2 = { "docker-distribution-api-version": "registry/2.0" };

function distort(bytes: Buffer, how: Lie): Buffer {
  switch (how) {
    case "wrong": {
      // same length, one byte changed: a size check alone does not notice
      const out = Buffer.from(bytes);
      out[out.length >> 1] = (out[out.length >> 1] ?? 0) ^ 0xff;
      return out;
    }
    case "truncated":
      return bytes.subarray(0, Math.max(0, bytes.length - 7));
    case "padded":
      return Buffer.concat([bytes, Buffer.from("\n\n\n\n")]);
  }
}

export async function startLyingRegistry(
  layout: OciLayout,
  repository: string,
): Promise<LyingRegistry> {
  const lies = new Map<string, Lie>();
  const mediaTypes = new Map<string, string>([[layout.digest, layout.mediaType]]);
  for (const m of layout.manifests) mediaTypes.set(m.digest, m.mediaType);
  const blobPath = (digest: string) => join(layout.dir, "blobs", "sha256", digest.slice(7));

  const state: LyingRegistry = {
    hostPort: "",
    url: "",
    requests: [],
    closeAfterHead: false,
    lie: (digest, how) => void lies.set(digest, how),
    honest() {
      lies.clear();
      delete state.lieTagLink;
    },
    stop: async () => undefined,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://double");
    state.requests.push(`${req.method} ${url.pathname}${url.search}`);
    const head = req.method === "HEAD";
    const error = (status: number, code: string) => {
      const body = JSON.stringify({
        errors: [{ code, message: code.toLowerCase(), detail: null }],
      });
      res
        .writeHead(status, {
          ...V2,
          "content-type": "application/json",
          "content-length": body.length,
        })
        .end(head ? undefined : body);
    };
    if (url.pathname === "/v2/" || url.pathname === "/v2") {
      res.writeHead(200, { ...V2, "content-type": "application/json" }).end("{}");
      return;
    }
    if (url.pathname === "/v2/_catalog") {
      const body = JSON.stringify({ repositories: [repository] });
      res
        .writeHead(200, { ...V2, "content-type": "application/json" })
        .end(head ? undefined : body);
      return;
    }
    const prefix = `/v2/${repository}/`;
    if (!url.pathname.startsWith(prefix)) return error(404, "NAME_UNKNOWN");
    const rest = url.pathname.slice(prefix.length);
    if (rest === "tags/list") {
      const body = JSON.stringify({ name: repository, tags: [...layout.tags].sort() });
      const headers: Record<string, string | number> = {
        ...V2,
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      };
      if (state.lieTagLink === "self") headers.link = `<${url.pathname}${url.search}>; rel="next"`;
      res.writeHead(200, headers).end(head ? undefined : body);
      return;
    }
    const m = /^(manifests|blobs)\/(.+)$/.exec(rest);
    if (!m) return error(404, "UNSUPPORTED");
    const kind = m[1] as "manifests" | "blobs";
    let digest = m[2] as string;
    if (kind === "manifests" && !digest.startsWith("sha256:")) {
      if (!layout.tags.includes(digest)) return error(404, "MANIFEST_UNKNOWN");
      digest = layout.digest;
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(blobPath(digest));
    } catch {
      return error(404, kind === "manifests" ? "MANIFEST_UNKNOWN" : "BLOB_UNKNOWN");
    }
    const lie = lies.get(digest);
    const sent = lie ? distort(bytes, lie) : bytes;
    const headers: Record<string, string | number> = {
      ...V2,
      "docker-content-digest": digest,
      "content-length": sent.length,
      "content-type":
        kind === "manifests"
          ? (mediaTypes.get(digest) ?? "application/vnd.oci.image.manifest.v1+json")
          : "application/octet-stream",
    };
    if (head && kind === "manifests" && state.closeAfterHead) headers.connection = "close";
    res.writeHead(200, headers).end(head ? undefined : sent);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  state.hostPort = `127.0.0.1:${port}`;
  state.url = `http://127.0.0.1:${port}`;
  const untrack = trackCloser(() => close());
  function close(): Promise<void> {
    untrack();
    return new Promise(resolve => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
  state.stop = close;
  return state;
}
