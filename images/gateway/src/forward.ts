// Forwarding a registry request the gateway has let through: to the stock distribution behind
// it (modes local, proxy), or to the upstream registry through the path alias (mode direct, and
// the cache's upstream listener in mode proxy). Bodies stream in both directions.
import type { IncomingMessage, ServerResponse } from "node:http";
import { formatHostPort } from "../../../lib/validation/reader";
import { errorMessage } from "../../common/src/log";
import { V2_HEADERS, type GatewayContext, type RegistryListener } from "./context";
import { sendError } from "./errors";
import { forwardRequestHeaders, forwardResponseHeaders, headerValue } from "./http";
import { toUpstreamRoute, type PathAlias, type Route } from "./routes";
import { streamAnswer, type Reply } from "./stream";
import { UpstreamUnavailable, type UpstreamResponse } from "./upstream";
import { upstreamDownMessage } from "./upstream-health";

/** The request being forwarded: its URL and route. */
export interface Target {
  url: URL;
  route: Route;
}

export async function forwardToDistribution(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  { url, route }: Target,
): Promise<void> {
  const { backend } = ctx;
  if (!backend) throw new Error("no distribution backend");
  const method = req.method ?? "GET";
  const headers = forwardRequestHeaders(req.headers);
  // distribution builds upload Locations from Host and X-Forwarded-Proto: make them the client's
  headers.host = req.headers.host ?? formatHostPort(ctx.config.listen.address);
  headers["x-forwarded-proto"] = "https";
  headers["x-forwarded-for"] = ctx.remote(req);
  const hasBody = method !== "GET" && method !== "HEAD" && method !== "DELETE";
  if (!hasBody) {
    // a body on a read or a delete means nothing to distribution: announcing it (Content-Length
    // without the bytes) would leave distribution waiting for ever on one of its sockets
    delete headers["content-length"];
    req.resume();
  }
  const abort = abortOnClientGone(res);
  const mark = ctx.upstreamHealth.mark();
  let answer: IncomingMessage;
  try {
    answer = await backend.send({
      method,
      path: url.pathname + url.search,
      headers,
      ...(hasBody ? { body: req } : {}),
      signal: abort.signal,
    });
  } catch (e) {
    if (abort.signal.aborted) return;
    ctx.metrics.backendErrors.inc();
    ctx.log.error("distribution did not answer", { route: route.kind, error: errorMessage(e) });
    return sendError(res, "UNAVAILABLE", { headers: V2_HEADERS, head: method === "HEAD" });
  }
  const upstreamDown = upstreamDownMessageFor(ctx, answer, { method, route, mark });
  if (upstreamDown) {
    answer.resume();
    // in the status line too: containerd shows only that for a failed manifest HEAD
    return sendError(res, "UNAVAILABLE", {
      statusMessage: upstreamDown,
      message: upstreamDown,
      headers: V2_HEADERS,
      head: method === "HEAD",
    });
  }
  await streamAnswer(
    ctx,
    res,
    { status: answer.statusCode ?? 502, headers: answer.headers, body: answer },
    { route, listener: "client", head: method === "HEAD" },
  );
}

/**
 * Mode proxy: distribution answers 500 to a read it could not fetch from the upstream, and 404 to
 * a tag it has not cached (it falls back to its own tags). Either is the upstream's failure when
 * the upstream listener saw the upstream fail during this request and the upstream has not
 * answered since (docs/adr/0160); any other 500 or 404 stays what it is. Returns the client's
 * message then.
 */
function upstreamDownMessageFor(
  ctx: GatewayContext,
  answer: IncomingMessage,
  read: { method: string; route: Route; mark: number },
): string | undefined {
  const { config } = ctx;
  if (config.mode !== "proxy") return undefined;
  if (answer.statusCode !== 500 && answer.statusCode !== 404) return undefined;
  if (read.method !== "GET" && read.method !== "HEAD") return undefined;
  if (read.route.kind !== "manifest" && read.route.kind !== "blob") return undefined;
  const cause = ctx.upstreamHealth.failedSince(read.mark);
  return cause === undefined ? undefined : upstreamDownMessage(config.upstream.host, cause);
}

/** Reads from the upstream through the alias (direct clients, and the cache's upstream listener). */
export async function forwardToUpstream(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  target: Target & { listener: RegistryListener },
): Promise<void> {
  const { alias, upstreamSlots } = ctx;
  if (!ctx.upstream || !alias) throw new Error("no upstream");
  const head = req.method === "HEAD";
  const upstreamRoute = toUpstreamRoute(target.route, alias);
  if (!upstreamRoute) return sendError(res, "NAME_UNKNOWN", { headers: V2_HEADERS, head });
  const abort = abortOnClientGone(res);
  // the cache behind the upstream listener is one client that serves all others: not limited
  const release =
    target.listener === "client" && upstreamSlots
      ? await upstreamSlots.acquire(ctx.remote(req), abort.signal)
      : () => undefined;
  if (!release) return;
  try {
    await relayFromUpstream(ctx, req, res, { ...target, upstreamRoute, abort, head });
  } finally {
    release();
  }
}

interface Relay extends Target {
  listener: RegistryListener;
  upstreamRoute: Route;
  abort: AbortController;
  head: boolean;
}

async function relayFromUpstream(
  ctx: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  relay: Relay,
): Promise<void> {
  const { upstream, alias } = ctx;
  if (!upstream || !alias) throw new Error("no upstream");
  const { route, head } = relay;
  // a tags/list HEAD gets the headers of the rewritten GET body (its Content-Length differs)
  const method = head && route.kind !== "tags" ? "HEAD" : "GET";
  let answer: UpstreamResponse;
  try {
    answer = await upstream.send({
      route: relay.upstreamRoute,
      method,
      range: headerValue(req.headers.range),
      query: relay.url.searchParams,
      signal: relay.abort.signal,
    });
  } catch (e) {
    ctx.metrics.upstream.inc({ route: route.kind, code: "0" });
    if (relay.abort.signal.aborted) return;
    const reason = e instanceof UpstreamUnavailable ? e.message : errorMessage(e);
    ctx.upstreamHealth.failed(reason);
    ctx.log.warn("upstream request failed", { route: route.kind, error: reason });
    return sendError(res, "UNAVAILABLE", {
      headers: V2_HEADERS,
      head,
      detail: { reason: "upstream registry unavailable" },
    });
  }
  ctx.metrics.upstream.inc({ route: route.kind, code: String(answer.status) });
  ctx.upstreamHealth.answered();
  if (answer.status === 401 || answer.status === 403) {
    return refusedCredentials(ctx, res, answer, relay);
  }
  if (route.kind === "tags" && answer.status === 200) {
    return sendTagsList(ctx, res, answer, { ...relay, alias });
  }
  await streamAnswer(ctx, res, answer, relay);
}

/** The upstream refused the gateway's own credentials: the client's are fine. */
function refusedCredentials(
  ctx: GatewayContext,
  res: ServerResponse,
  answer: UpstreamResponse,
  reply: Reply,
): void {
  answer.body.destroy();
  ctx.log.error("upstream refused the gateway's credentials", {
    route: reply.route.kind,
    status: answer.status,
  });
  sendError(res, "UNAVAILABLE", {
    status: 502,
    headers: V2_HEADERS,
    head: reply.head,
    detail: { reason: `upstream answered ${answer.status} to the gateway's credentials` },
  });
}

/** `tags/list` names the repository in its body and in its pagination Link: alias both back. */
async function sendTagsList(
  ctx: GatewayContext,
  res: ServerResponse,
  answer: UpstreamResponse,
  reply: Reply & { alias: PathAlias },
): Promise<void> {
  const { alias: pathAlias, head } = reply;
  const chunks: Buffer[] = [];
  for await (const chunk of answer.body) chunks.push(chunk as Buffer);
  const body = aliasedTagsBody(Buffer.concat(chunks), pathAlias);
  const headers = forwardResponseHeaders(answer.headers);
  headers["content-length"] = body.length;
  const link = headerValue(answer.headers.link);
  if (link) {
    headers.link = link.replace(/<\/v2\/([^>?]+)\/tags\/list/, (whole, name: string) => {
      const local = pathAlias.toLocal(name);
      return local ? `</v2/${local}/tags/list` : whole;
    });
  }
  res.writeHead(answer.status, headers).end(head ? undefined : body);
  if (!head) ctx.metrics.bytes.inc({ listener: reply.listener, route: "tags" }, body.length);
}

function aliasedTagsBody(body: Buffer, pathAlias: PathAlias): Buffer {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { name?: unknown; tags?: unknown };
    if (typeof parsed.name === "string")
      parsed.name = pathAlias.toLocal(parsed.name) ?? parsed.name;
    return Buffer.from(JSON.stringify(parsed));
  } catch {
    // not JSON: pass it on untouched
    return body;
  }
}

/** Aborted when the client goes away before its response is complete. */
function abortOnClientGone(res: ServerResponse): AbortController {
  const abort = new AbortController();
  res.on("close", () => {
    if (!res.writableFinished) abort.abort();
  });
  return abort;
}
