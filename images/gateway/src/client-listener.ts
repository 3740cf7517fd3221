// The client listener: registry clients (containerd, skopeo...) over TLS with Basic
// authentication, or nginx in front of it (docs/adr/0110), which asks for verdicts on the blob
// requests it serves itself. Authentication, the ACL and the mode decide; forward.ts forwards.
import type { IncomingMessage, ServerResponse } from "node:http";
import { allows, modeSupports } from "./acl";
import { parseBasic } from "./authn";
import { V2_HEADERS, type GatewayContext } from "./context";
import { sendError } from "./errors";
import { forwardToDistribution, forwardToUpstream } from "./forward";
import { headerValue } from "./http";
import { parseRoute, requiredAction, routeName, type Action, type Route } from "./routes";

/** A request as the gateway judges it: for a verdict subrequest, the method nginx holds. */
interface Judged {
  url: URL;
  route: Route;
  action: Action | undefined;
  head: boolean;
  /** a verdict subrequest (X-Registry-Verdict) rather than the request itself */
  verdict: boolean;
}

export async function handleClient(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const route = parseRoute(url.pathname);
  // a verdict subrequest asks about the method of the request nginx holds; the answer is the
  // gateway's own for that request, or 204 where it would have forwarded it
  const verdictFor = ctx.frontend ? headerValue(req.headers["x-registry-verdict"]) : undefined;
  if (verdictFor !== undefined && verdictFor !== "GET" && verdictFor !== "HEAD") {
    return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS });
  }
  const method = verdictFor ?? req.method ?? "GET";
  if (!url.pathname.startsWith("/v2")) return notFound(res);
  const judged: Judged = {
    url,
    route,
    action: requiredAction(route, method),
    head: method === "HEAD",
    verdict: verdictFor !== undefined,
  };
  if (!ctx.unauthenticated && !(await authenticate(ctx, req, res, judged))) return;
  return serveClient(ctx, req, res, judged);
}

/** True when the client may go on; otherwise the refusal has been sent. */
async function authenticate(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  judged: Judged,
): Promise<boolean> {
  const { metrics: m, verifier, log, failureLogs } = ctx;
  const { head } = judged;
  // a refused verdict sends nginx back with the request itself, which counts it: once, not twice
  const countAuth = (result: string) => {
    if (!judged.verdict || result === "ok") m.auth.inc({ result });
  };
  const challenge = { ...V2_HEADERS, "www-authenticate": `Basic realm="${ctx.config.realm}"` };
  const creds = parseBasic(req.headers.authorization);
  if (!creds) {
    countAuth("anonymous");
    sendError(res, "UNAUTHORIZED", { headers: challenge, head });
    return false;
  }
  const remote = ctx.remote(req);
  const verdict = await verifier.verify(creds, remote);
  m.bcrypt.set(verifier.stats.bcryptChecks);
  if (!verdict.ok && verdict.reason === "throttled") {
    countAuth("throttled");
    if (failureLogs.allow(`throttled/${remote}`)) {
      log.warn("authentication throttled", { remote });
    }
    sendError(res, "TOOMANYREQUESTS", { headers: { ...V2_HEADERS, "retry-after": "5" }, head });
    return false;
  }
  if (!verdict.ok) {
    countAuth(verdict.reason);
    // an unknown "user name" may be a password typed in the wrong field: never logged
    const user = verdict.reason === "unknown-user" ? "(unknown)" : creds.name;
    if (failureLogs.allow(`${user}/${remote}`)) {
      log.warn("authentication failed", { user, reason: verdict.reason, remote });
    }
    sendError(res, "UNAUTHORIZED", { headers: challenge, head });
    return false;
  }
  if (judged.action && !allows(verdict.user.role, judged.action)) {
    countAuth("denied");
    sendError(res, "DENIED", { headers: V2_HEADERS, head });
    return false;
  }
  countAuth("ok");
  return true;
}

/** An authenticated (or unauthenticated benchmark) request: answered here, or forwarded. */
function serveClient(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  judged: Judged,
): Promise<void> | void {
  const { route, action, head, url } = judged;
  if (route.kind === "unknown") return notFound(res);
  if (route.kind === "base") return sendBase(res, head);
  if (action && !modeSupports(ctx.config.mode, action)) {
    return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS, head });
  }
  const name = routeName(route);
  if (ctx.alias && name !== undefined && ctx.alias.toUpstream(name) === undefined) {
    return sendError(res, "NAME_UNKNOWN", { headers: V2_HEADERS, head, detail: { name } });
  }
  if (judged.verdict) {
    req.resume();
    res.writeHead(204).end();
    return;
  }
  switch (ctx.config.mode) {
    case "local":
    case "proxy":
      return forwardToDistribution(ctx, req, res, { url, route });
    case "direct":
      return forwardToUpstream(ctx, req, res, { url, route, listener: "client" });
  }
}

export function notFound(res: ServerResponse): void {
  res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
}

/** `GET /v2/`: the API version check. */
export function sendBase(res: ServerResponse, head: boolean): void {
  res
    .writeHead(200, { ...V2_HEADERS, "content-type": "application/json" })
    .end(head ? undefined : "{}");
}
