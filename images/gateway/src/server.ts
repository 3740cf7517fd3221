// The gateway: an OCI distribution reverse proxy in front of stock distribution (modes `local`,
// `proxy`) or of the upstream registry itself (mode `direct`).
//
//   client ──TLS, Basic──► gateway ──► distribution (local storage | pull-through cache)
//                                   │                               │ proxy.remoteurl
//                                   └─ direct ─► upstream ◄── upstream listener (loopback)
//
// Bodies are streamed in both directions; nothing is buffered whole except the small JSON of
// `tags/list`, whose repository name the alias rewrites.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { pipeline } from "node:stream/promises";
import { OciError } from "../../../lib/oci";
import { formatHostPort, type HostPort } from "../../common/src/validate";
import { errorMessage, type Log } from "../../common/src/log";
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from "../../common/src/metrics";
import { allows, modeSupports } from "./acl";
import { DistributionBackend } from "./backend";
import { CredentialVerifier, parseBasic } from "./authn";
import type { GatewayConfig, GatewayFiles } from "./config";
import { sendError } from "./errors";
import { PerKeyLimiter } from "./limits";
import { forwardRequestHeaders, forwardResponseHeaders, headerValue } from "./http";
import {
  PathAlias,
  parseRoute,
  requiredAction,
  routeName,
  toUpstreamRoute,
  type Route,
} from "./routes";
import { DISTRIBUTION_METRICS_PATH, relayDistributionMetrics } from "./distribution-metrics";
import { UpstreamUnavailable, type UpstreamResponse, type UpstreamTransport } from "./upstream";

export interface GatewayOptions {
  config: GatewayConfig;
  files: GatewayFiles;
  log: Log;
  /** required in modes `direct` and `proxy` */
  upstream?: UpstreamTransport;
  /** benchmarks only: serve without client authentication (never reachable from a config file) */
  unauthenticated?: boolean;
  limits?: {
    /** a response whose client has read nothing for this long is cut; default 1 min */
    stalledReaderMs?: number;
    /** a client connection with no traffic either way for this long is closed; default 5 min */
    socketIdleMs?: number;
  };
}

export interface RunningGateway {
  /** actual addresses (ports resolved when the config asked for port 0) */
  addresses: { client: HostPort; monitoring: HostPort; upstreamListener?: HostPort };
  metrics: MetricsRegistry;
  verifier: CredentialVerifier;
  stop(): Promise<void>;
}

const V2_HEADERS = { "docker-distribution-api-version": "registry/2.0" };
const LISTENER_TOKEN_TTL_S = 300;

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const { config, log } = opts;
  if ((config.mode === "direct" || config.mode === "proxy") && !opts.upstream)
    throw new Error(`mode ${config.mode} needs an upstream transport`);
  const upstream = opts.upstream;
  const alias =
    config.mode === "local" ? undefined : new PathAlias(config.localPath, config.upstream.path);
  const verifier = new CredentialVerifier(config.users);
  // Direct: a client address holds at most a quarter of the connections to the upstream, so
  // clients that stop reading their blobs starve only themselves (their excess requests wait)
  const upstreamSlots = upstream
    ? new PerKeyLimiter(Math.max(1, Math.floor(upstream.connections / 4)))
    : undefined;
  const stalledReaderMs = opts.limits?.stalledReaderMs ?? 60_000;
  const socketIdleMs = opts.limits?.socketIdleMs ?? 300_000;
  const backend =
    config.mode === "local" || config.mode === "proxy"
      ? new DistributionBackend(config.distribution.url)
      : undefined;
  // behind nginx (docs/adr/0110): plain HTTP on loopback, the client's address in X-Forwarded-For
  // (set, never appended, by nginx), and verdict subrequests for the blobs nginx streams itself
  const frontend = config.mode !== "direct" ? config.tlsFrontend : undefined;
  const remote = (req: IncomingMessage): string => {
    if (frontend) {
      const forwarded = headerValue(req.headers["x-forwarded-for"]);
      if (forwarded) return forwarded.split(",")[0]?.trim() ?? "";
    }
    return req.socket.remoteAddress ?? "";
  };

  const metrics = new MetricsRegistry();
  const m = {
    requests: metrics.counter(
      "registry_gateway_requests_total",
      "Requests answered, by listener, route kind, method and status code.",
    ),
    duration: metrics.histogram(
      "registry_gateway_request_duration_seconds",
      "Time to the end of the response, by listener and route kind.",
      [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    ),
    bytes: metrics.counter(
      "registry_gateway_response_body_bytes_total",
      "Response body bytes streamed to clients, by listener and route kind.",
    ),
    inFlight: metrics.gauge("registry_gateway_in_flight_requests", "Requests being served."),
    auth: metrics.counter(
      "registry_gateway_authentications_total",
      "Client authentications by result (ok, anonymous, unknown-user, bad-password, throttled, denied).",
    ),
    bcrypt: metrics.gauge(
      "registry_gateway_bcrypt_checks",
      "bcrypt verifications done since start (the rest were served from the verdict cache).",
    ),
    upstream: metrics.counter(
      "registry_gateway_upstream_requests_total",
      "Requests sent to the upstream registry, by route kind and status code (0: failed).",
    ),
    backendErrors: metrics.counter(
      "registry_gateway_distribution_errors_total",
      "Requests the stock distribution behind the gateway could not answer.",
    ),
  };

  // ---- client listener ------------------------------------------------------------------------

  // a client retrying a wrong password must not flood the log: one line per user and address a minute
  const failureLogs = new RateLimit(60_000);

  async function handleClient(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = parseRoute(url.pathname);
    // a verdict subrequest asks about the method of the request nginx holds; the answer is the
    // gateway's own for that request, or 204 where it would have forwarded it
    const verdictFor = frontend ? headerValue(req.headers["x-registry-verdict"]) : undefined;
    if (verdictFor !== undefined && verdictFor !== "GET" && verdictFor !== "HEAD") {
      return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS });
    }
    const method = verdictFor ?? req.method ?? "GET";
    const head = method === "HEAD";
    // a refused verdict sends nginx back with the request itself, which counts it: once, not twice
    const countAuth = (result: string) => {
      if (verdictFor === undefined || result === "ok") m.auth.inc({ result });
    };
    if (!url.pathname.startsWith("/v2")) {
      res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
      return;
    }

    const action = requiredAction(route, method);
    if (!opts.unauthenticated) {
      const challenge = { "www-authenticate": `Basic realm="${config.realm}"` };
      const creds = parseBasic(req.headers.authorization);
      if (!creds) {
        countAuth("anonymous");
        return sendError(res, "UNAUTHORIZED", { headers: { ...V2_HEADERS, ...challenge }, head });
      }
      const verdict = await verifier.verify(creds, remote(req));
      m.bcrypt.set(verifier.stats.bcryptChecks);
      if (!verdict.ok && verdict.reason === "throttled") {
        countAuth("throttled");
        if (failureLogs.allow(`throttled/${remote(req)}`)) {
          log.warn("authentication throttled", { remote: remote(req) });
        }
        return sendError(res, "TOOMANYREQUESTS", {
          headers: { ...V2_HEADERS, "retry-after": "5" },
          head,
        });
      }
      if (!verdict.ok) {
        countAuth(verdict.reason);
        // an unknown "user name" may be a password typed in the wrong field: never logged
        const user = verdict.reason === "unknown-user" ? "(unknown)" : creds.name;
        if (failureLogs.allow(`${user}/${remote(req)}`)) {
          log.warn("authentication failed", { user, reason: verdict.reason, remote: remote(req) });
        }
        return sendError(res, "UNAUTHORIZED", { headers: { ...V2_HEADERS, ...challenge }, head });
      }
      if (action && !allows(verdict.user.role, action)) {
        countAuth("denied");
        return sendError(res, "DENIED", { headers: V2_HEADERS, head });
      }
      countAuth("ok");
    }

    if (route.kind === "unknown") {
      res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
      return;
    }
    if (route.kind === "base") {
      res
        .writeHead(200, { ...V2_HEADERS, "content-type": "application/json" })
        .end(head ? undefined : "{}");
      return;
    }
    if (action && !modeSupports(config.mode, action)) {
      return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS, head });
    }
    const name = routeName(route);
    if (alias && name !== undefined && alias.toUpstream(name) === undefined) {
      return sendError(res, "NAME_UNKNOWN", { headers: V2_HEADERS, head, detail: { name } });
    }

    if (verdictFor !== undefined) {
      req.resume();
      res.writeHead(204).end();
      return;
    }
    switch (config.mode) {
      case "local":
      case "proxy":
        return forwardToDistribution(req, res, url, route);
      case "direct":
        return forwardToUpstream(req, res, url, route, "client");
    }
  }

  async function forwardToDistribution(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: Route,
  ): Promise<void> {
    if (!backend) throw new Error("no distribution backend");
    const method = req.method ?? "GET";
    const headers = forwardRequestHeaders(req.headers);
    // distribution builds upload Locations from Host and X-Forwarded-Proto: make them the client's
    headers.host = req.headers.host ?? formatHostPort(config.listen.address);
    headers["x-forwarded-proto"] = "https";
    headers["x-forwarded-for"] = remote(req);
    const hasBody = method !== "GET" && method !== "HEAD" && method !== "DELETE";
    if (!hasBody) {
      // a body on a read or a delete means nothing to distribution: announcing it (Content-Length
      // without the bytes) would leave distribution waiting for ever on one of its sockets
      delete headers["content-length"];
      req.resume();
    }
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
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
      m.backendErrors.inc();
      log.error("distribution did not answer", { route: route.kind, error: errorMessage(e) });
      return sendError(res, "UNAVAILABLE", { headers: V2_HEADERS, head: method === "HEAD" });
    }
    await stream(
      res,
      route,
      "client",
      { status: answer.statusCode ?? 502, headers: answer.headers, body: answer },
      method === "HEAD",
    );
  }

  /** Reads from the upstream through the alias (direct clients, and the cache's upstream listener). */
  async function forwardToUpstream(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: Route,
    listener: "client" | "upstream-listener",
  ): Promise<void> {
    if (!upstream || !alias) throw new Error("no upstream");
    const head = req.method === "HEAD";
    const upstreamRoute = toUpstreamRoute(route, alias);
    if (!upstreamRoute) return sendError(res, "NAME_UNKNOWN", { headers: V2_HEADERS, head });
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    // the cache behind the upstream listener is one client that serves all others: not limited
    const release =
      listener === "client" && upstreamSlots
        ? await upstreamSlots.acquire(remote(req), abort.signal)
        : () => undefined;
    if (!release) return;
    try {
      await relayFromUpstream(req, res, url, route, upstreamRoute, listener, abort, head);
    } finally {
      release();
    }
  }

  async function relayFromUpstream(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    route: Route,
    upstreamRoute: Route,
    listener: "client" | "upstream-listener",
    abort: AbortController,
    head: boolean,
  ): Promise<void> {
    if (!upstream || !alias) throw new Error("no upstream");
    // a tags/list HEAD gets the headers of the rewritten GET body (its Content-Length differs)
    const method = head && route.kind !== "tags" ? "HEAD" : "GET";
    let answer: UpstreamResponse;
    try {
      answer = await upstream.send({
        route: upstreamRoute,
        method,
        range: headerValue(req.headers.range),
        query: url.searchParams,
        signal: abort.signal,
      });
    } catch (e) {
      m.upstream.inc({ route: route.kind, code: "0" });
      if (abort.signal.aborted) return;
      const reason = e instanceof UpstreamUnavailable ? e.message : errorMessage(e);
      log.warn("upstream request failed", { route: route.kind, error: reason });
      return sendError(res, "UNAVAILABLE", {
        headers: V2_HEADERS,
        head,
        detail: { reason: "upstream registry unavailable" },
      });
    }
    m.upstream.inc({ route: route.kind, code: String(answer.status) });
    if (answer.status === 401 || answer.status === 403) {
      // the upstream refused the gateway's own credentials: the client's are fine
      answer.body.destroy();
      log.error("upstream refused the gateway's credentials", {
        route: route.kind,
        status: answer.status,
      });
      return sendError(res, "UNAVAILABLE", {
        status: 502,
        headers: V2_HEADERS,
        head,
        detail: { reason: `upstream answered ${answer.status} to the gateway's credentials` },
      });
    }
    if (route.kind === "tags" && answer.status === 200) {
      return sendTagsList(res, answer, alias, listener, head);
    }
    await stream(res, route, listener, answer, head);
  }

  /** `tags/list` names the repository in its body and in its pagination Link: alias both back. */
  async function sendTagsList(
    res: ServerResponse,
    answer: UpstreamResponse,
    pathAlias: PathAlias,
    listener: "client" | "upstream-listener",
    head: boolean,
  ): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of answer.body) chunks.push(chunk as Buffer);
    let body = Buffer.concat(chunks);
    try {
      const parsed = JSON.parse(body.toString("utf8")) as { name?: unknown; tags?: unknown };
      if (typeof parsed.name === "string")
        parsed.name = pathAlias.toLocal(parsed.name) ?? parsed.name;
      body = Buffer.from(JSON.stringify(parsed));
    } catch {
      // not JSON: pass it on untouched
    }
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
    if (!head) m.bytes.inc({ listener, route: "tags" }, body.length);
  }

  async function stream(
    res: ServerResponse,
    route: Route,
    listener: "client" | "upstream-listener",
    answer: UpstreamResponse,
    head: boolean,
  ): Promise<void> {
    res.writeHead(answer.status, forwardResponseHeaders(answer.headers));
    if (head) {
      answer.body.resume();
      res.end();
      return;
    }
    // counted from the socket rather than per chunk: no listener on the hot path
    const socket = res.socket;
    const before = socket?.bytesWritten ?? 0;
    // a client that stops reading holds the source (an upstream or distribution connection) for
    // as long as it likes: cut it once nothing has moved for the idle time
    let seen = before;
    let stalledSince = Date.now();
    const watchdog = setInterval(
      () => {
        const now = socket?.bytesWritten ?? 0;
        if (now !== seen) {
          seen = now;
          stalledSince = Date.now();
        } else if (Date.now() - stalledSince >= stalledReaderMs) {
          log.debug("client stopped reading", { route: route.kind, remote: socket?.remoteAddress });
          res.destroy();
        }
      },
      Math.max(250, Math.floor(stalledReaderMs / 4)),
    );
    watchdog.unref();
    try {
      await pipeline(answer.body, res);
    } catch (e) {
      // the client went away or the source broke mid-body; the response cannot be amended
      if (e instanceof OciError && e.kind === "protocol") {
        log.error("upstream content refused", { route: route.kind, error: e.message });
      } else {
        log.debug("response stream ended early", { route: route.kind, error: errorMessage(e) });
      }
      answer.body.destroy();
      res.destroy();
    } finally {
      clearInterval(watchdog);
      // TLS and header bytes included: close enough for a throughput metric
      m.bytes.inc({ listener, route: route.kind }, (socket?.bytesWritten ?? before) - before);
    }
  }

  // ---- upstream listener (mode proxy): the stock cache's remoteurl --------------------------------
  //
  // It presents itself as a token-auth registry: distribution's proxy then authenticates with the
  // proxy.username/password of its config (it sends credentials only to Bearer realms), so the
  // listener is not an open door to the upstream for every process on the host, and distribution
  // stops pinging /v2/ before each call as it does with anonymous upstreams (e2e-lab §3.2).

  const tokenKey = randomBytes(32);
  const listenerAuth = config.mode === "proxy" ? config.upstreamListener : undefined;

  function issueToken(): string {
    const expiry = Math.floor(Date.now() / 1000) + LISTENER_TOKEN_TTL_S;
    return `${expiry}.${createHmac("sha256", tokenKey).update(String(expiry)).digest("base64url")}`;
  }

  function tokenValid(header: string | undefined): boolean {
    const m1 = /^Bearer\s+(\d+)\.([A-Za-z0-9_-]+)$/.exec(header ?? "");
    if (!m1?.[1] || !m1[2]) return false;
    if (Number(m1[1]) < Date.now() / 1000) return false;
    const expected = createHmac("sha256", tokenKey).update(m1[1]).digest("base64url");
    return sameSecret(expected, m1[2]);
  }

  async function handleUpstreamListener(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<void> {
    const head = req.method === "HEAD";
    const realm = `http://${formatHostPort(addresses.upstreamListener as HostPort)}/token`;
    if (url.pathname === "/token") {
      const creds = parseBasic(req.headers.authorization);
      if (
        !creds ||
        !listenerAuth ||
        !sameSecret(creds.name, listenerAuth.username) ||
        !sameSecret(creds.password, listenerAuth.password)
      ) {
        res.writeHead(401, { "www-authenticate": `Basic realm="cache"` }).end();
        return;
      }
      const token = issueToken();
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ token, access_token: token, expires_in: LISTENER_TOKEN_TTL_S }));
      return;
    }
    if (!tokenValid(req.headers.authorization)) {
      return sendError(res, "UNAUTHORIZED", {
        headers: { ...V2_HEADERS, "www-authenticate": `Bearer realm="${realm}",service="cache"` },
        head,
      });
    }
    const route = parseRoute(url.pathname);
    if (route.kind === "base") {
      // answered here: the cache's pings must not cost an upstream round trip
      res
        .writeHead(200, { ...V2_HEADERS, "content-type": "application/json" })
        .end(head ? undefined : "{}");
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS, head });
    }
    if (route.kind === "unknown" || route.kind === "catalog" || route.kind === "upload") {
      return sendError(res, "UNSUPPORTED", { headers: V2_HEADERS, head });
    }
    return forwardToUpstream(req, res, url, route, "upstream-listener");
  }

  // ---- monitoring listener ------------------------------------------------------------------------

  let stopping = false;
  async function handleMonitoring(
    _req: IncomingMessage,
    res: ServerResponse,
    url: URL,
  ): Promise<void> {
    const path = url.pathname;
    if (path === "/metrics") {
      m.bcrypt.set(verifier.stats.bcryptChecks);
      res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(metrics.render());
    } else if (path === DISTRIBUTION_METRICS_PATH && config.mode !== "direct") {
      await relayDistributionMetrics(config.distribution.metricsUrl, res);
    } else if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const problem = stopping ? "stopping" : await backendProblem();
      if (problem) res.writeHead(503, { "content-type": "text/plain" }).end(`${problem}\n`);
      else res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
    }
  }

  /** Ready means: the stock distribution behind the gateway answers (modes local and proxy). */
  async function backendProblem(): Promise<string | undefined> {
    if (!backend) return undefined;
    try {
      const r = await backend.send({
        method: "GET",
        path: "/v2/",
        headers: {},
        timeoutMs: 2000,
        signal: AbortSignal.timeout(2000),
        ownConnection: true,
      });
      r.resume();
      const ok = r.statusCode === 200 || r.statusCode === 401;
      return ok ? undefined : `distribution answered ${r.statusCode}`;
    } catch (e) {
      return `distribution unreachable: ${errorMessage(e)}`;
    }
  }

  // ---- wiring ------------------------------------------------------------------------------------

  const instrument =
    (
      listener: "client" | "upstream-listener" | "monitoring",
      handler: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>,
    ) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const started = process.hrtime.bigint();
      const url = requestUrl(req);
      const route =
        listener === "monitoring" ? "monitoring" : url ? parseRoute(url.pathname).kind : "invalid";
      m.inFlight.add(1, { listener });
      res.on("close", () => {
        m.inFlight.add(-1, { listener });
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        m.requests.inc({ listener, route, method: req.method ?? "", code: String(res.statusCode) });
        m.duration.observe(seconds, { listener, route });
      });
      if (!url) {
        // a target the URL parser rejects (`http://[`, `//[`, a port past 65535): before any
        // other look at the request, so no handler ever sees it
        res.shouldKeepAlive = false;
        res.writeHead(400, { "content-type": "text/plain" }).end("400 bad request target\n");
        return;
      }
      handler(req, res, url).catch((e: unknown) => {
        log.error("request failed", { listener, route, error: errorMessage(e) });
        if (!res.headersSent) sendError(res, "UNAVAILABLE", { headers: V2_HEADERS });
        else res.destroy();
      });
    };

  const servers: Server[] = [];
  const tuned = <S extends Server>(s: S): S => {
    // blob uploads and downloads may take longer than Node's default 5-minute request timeout
    s.requestTimeout = 0;
    s.headersTimeout = 60_000;
    s.keepAliveTimeout = 65_000;
    // CONNECT is not a registry method: without a listener Node drops the socket unanswered
    s.on("connect", (_req: IncomingMessage, socket: Duplex) => {
      socket.on("error", () => undefined);
      socket.end(
        "HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
      );
    });
    servers.push(s);
    return s;
  };
  const client = tuned(
    frontend
      ? createHttpServer(instrument("client", handleClient))
      : createHttpsServer(
          { cert: opts.files.tlsCertificate, key: opts.files.tlsKey },
          instrument("client", handleClient),
        ),
  );
  // a client that neither sends nor reads for this long (a stalled reader, a body that never
  // comes) is closed, with whatever it held
  client.timeout = socketIdleMs;
  const monitoring = tuned(createHttpServer(instrument("monitoring", handleMonitoring)));
  const listenerServer = listenerAuth
    ? tuned(createHttpServer(instrument("upstream-listener", handleUpstreamListener)))
    : undefined;

  // monitoring last: once /healthz answers, every listener is up (the static pod's postStart
  // hook waits for it before kubelet starts distribution, which dials the upstream listener)
  const upstreamListener =
    listenerServer && listenerAuth ? await listen(listenerServer, listenerAuth.address) : undefined;
  const addresses: RunningGateway["addresses"] = {
    client: await listen(client, frontend?.address ?? config.listen.address),
    monitoring: await listen(monitoring, config.monitoring.address),
    ...(upstreamListener ? { upstreamListener } : {}),
  };
  log.info("gateway listening", {
    mode: config.mode,
    client: formatHostPort(addresses.client),
    monitoring: formatHostPort(addresses.monitoring),
    ...(addresses.upstreamListener
      ? { upstreamListener: formatHostPort(addresses.upstreamListener) }
      : {}),
    users: config.users.length,
  });

  return {
    addresses,
    metrics,
    verifier,
    async stop() {
      stopping = true;
      await Promise.all(
        servers.map(
          s =>
            new Promise<void>(resolve => {
              s.close(() => resolve());
              s.closeIdleConnections();
              // streams still running after a grace period are cut
              setTimeout(() => s.closeAllConnections(), 2_000).unref();
            }),
        ),
      );
      backend?.close();
      await upstream?.close();
    },
  };
}

async function listen(server: Server, at: HostPort): Promise<HostPort> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return { host: at.host, port: a.port };
}

/** The request target as a URL; undefined for targets the WHATWG parser rejects. */
export function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? "/", "https://gateway");
  } catch {
    return undefined;
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Allows one event per key per period; remembers at most 1024 keys. */
class RateLimit {
  readonly #last = new Map<string, number>();
  constructor(readonly periodMs: number) {}
  allow(key: string): boolean {
    const now = Date.now();
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.periodMs) return false;
    this.#last.delete(key);
    this.#last.set(key, now);
    if (this.#last.size > 1024) {
      const oldest = this.#last.keys().next().value;
      if (oldest !== undefined) this.#last.delete(oldest);
    }
    return true;
  }
}
