// The upstream listener (mode proxy): the stock cache's proxy.remoteurl.
//
// It presents itself as a token-auth registry: distribution's proxy then authenticates with the
// proxy.username/password of its config (it sends credentials only to Bearer realms), so the
// listener is not an open door to the upstream for every process on the host, and distribution
// stops pinging /v2/ before each call as it does with anonymous upstreams
// (docs/peers.md#distribution-as-a-pull-through-cache).
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { formatHostPort, type HostPort } from "../../../lib/validation/reader";
import { parseBasic } from "./authn";
import type { UpstreamListener } from "../../../lib/dataplane/gateway-config";
import { V2_HEADERS, type GatewayContext, type Handler } from "./context";
import { sendBase } from "./client-listener";
import { sendError } from "./errors";
import { forwardToUpstream } from "./forward";
import { parseRoute } from "./routes";

const LISTENER_TOKEN_TTL_S = 300;

/** Short-lived tokens the listener issues and checks itself: an HMAC of their expiry. */
class ListenerTokens {
  readonly #key = randomBytes(32);

  issue(): string {
    const expiry = Math.floor(Date.now() / 1000) + LISTENER_TOKEN_TTL_S;
    return `${expiry}.${this.#sign(String(expiry))}`;
  }

  valid(header: string | undefined): boolean {
    const m = /^Bearer\s+(\d+)\.([A-Za-z0-9_-]+)$/.exec(header ?? "");
    if (!m?.[1] || !m[2]) return false;
    if (Number(m[1]) < Date.now() / 1000) return false;
    return sameSecret(this.#sign(m[1]), m[2]);
  }

  #sign(expiry: string): string {
    return createHmac("sha256", this.#key).update(expiry).digest("base64url");
  }
}

/** `address` is the listener's own, known once it listens (the token realm names it). */
export function upstreamListenerHandler(
  ctx: GatewayContext,
  auth: UpstreamListener,
  address: () => HostPort | undefined,
): Handler {
  const tokens = new ListenerTokens();
  return async (req, res, url) => {
    if (url.pathname === "/token") return issueToken(req, res, auth, tokens);
    const head = req.method === "HEAD";
    if (!tokens.valid(req.headers.authorization)) {
      const realm = `http://${formatHostPort(address() as HostPort)}/token`;
      return sendError(res, "UNAUTHORIZED", {
        headers: { ...V2_HEADERS, "www-authenticate": `Bearer realm="${realm}",service="cache"` },
        head,
      });
    }
    const route = parseRoute(url.pathname);
    // answered here: the cache's pings must not cost an upstream round trip
    if (route.kind === "base") return sendBase(res, head);
    if (req.method !== "GET" && req.method !== "HEAD") {
      return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS, head });
    }
    if (route.kind === "unknown" || route.kind === "catalog" || route.kind === "upload") {
      return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS, head });
    }
    return forwardToUpstream(ctx, req, res, { url, route, listener: "upstream-listener" });
  };
}

function issueToken(
  req: IncomingMessage,
  res: ServerResponse,
  auth: UpstreamListener,
  tokens: ListenerTokens,
): void {
  const creds = parseBasic(req.headers.authorization);
  if (
    !creds ||
    !sameSecret(creds.name, auth.username) ||
    !sameSecret(creds.password, auth.password)
  ) {
    res.writeHead(401, { "www-authenticate": `Basic realm="cache"` }).end();
    return;
  }
  const token = tokens.issue();
  res
    .writeHead(200, { "content-type": "application/json" })
    .end(JSON.stringify({ token, access_token: token, expires_in: LISTENER_TOKEN_TTL_S }));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
