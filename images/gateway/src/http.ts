// Header plumbing shared by the gateway's listeners.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

/** RFC 9110 §7.6.1 connection-specific headers, plus what each hop sets itself. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Request headers worth forwarding: the client's `Authorization` is the gateway's business (it
 * never reaches the next hop); `Host` and the `X-Forwarded-*` headers are set by the caller.
 */
export function forwardRequestHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  const connectionListed = listedInConnection(headers.connection);
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || connectionListed.has(name)) continue;
    if (name === "authorization" || name === "host" || name === "expect") continue;
    // who the client is and how it reached us is the gateway's to say (access logs, upload
    // Locations built from X-Forwarded-Host): a client's own claims never pass
    if (name === "forwarded" || name === "x-real-ip" || name.startsWith("x-forwarded-")) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

/** Response headers worth passing back to the client. */
export function forwardResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const connection = headers.connection;
  const connectionListed = listedInConnection(
    Array.isArray(connection) ? connection.join(",") : connection,
  );
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || connectionListed.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}

function listedInConnection(value: string | undefined): Set<string> {
  return new Set(
    (value ?? "")
      .split(",")
      .map(s => s.trim().toLowerCase())
      .filter(Boolean),
  );
}

export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
