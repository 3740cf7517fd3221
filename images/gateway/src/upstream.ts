// What the gateway needs from the upstream side: one read request to the real upstream, with the
// upstream's authentication (Basic, or the Bearer token challenge), its CA and its redirects
// taken care of, the response body streamed. Implemented over the project's one OCI client
// (lib/oci) in upstream-oci.ts.
import type { Readable } from "node:stream";

export interface UpstreamRequest {
  method: "GET" | "HEAD";
  /** absolute API path at the upstream (`/v2/deckhouse/ee/manifests/v1`), query included */
  path: string;
  /** upstream repository the request is about (token scope); undefined for `/v2/` */
  repository?: string;
  /** headers to pass on: Accept, Range, If-None-Match, … (never the client's Authorization) */
  headers: Record<string, string>;
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** empty for HEAD; the caller must consume or destroy it */
  body: Readable;
}

export interface UpstreamTransport {
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** The upstream could not be reached or refused the gateway's own credentials. */
export class UpstreamUnavailable extends Error {
  override name = "UpstreamUnavailable";
}
