// The gateway's HTTP(S) servers: per-request instrumentation, server tuning, listening and
// closing.
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { HostPort } from "../../../lib/validation/reader";
import { errorMessage } from "../../common/src/log";
import { V2_HEADERS, type GatewayContext, type Handler, type RegistryListener } from "./context";
import { sendError } from "./errors";
import { parseRoute } from "./routes";

export type ListenerName = RegistryListener | "monitoring";

/** A request handler that counts, times and guards every request of one listener. */
export function instrument(
  ctx: GatewayContext,
  listener: ListenerName,
  handler: Handler,
): (req: IncomingMessage, res: ServerResponse) => void {
  const m = ctx.metrics;
  return (req, res) => {
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
      ctx.log.error("request failed", { listener, route, error: errorMessage(e) });
      if (!res.headersSent) sendError(res, "UNAVAILABLE", { headers: V2_HEADERS });
      else res.destroy();
    });
  };
}

/** The request target as a URL; undefined for targets the WHATWG parser rejects. */
export function requestUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? "/", "https://gateway");
  } catch {
    return undefined;
  }
}

/** Timeouts for registry traffic, and CONNECT refused. */
export function tuned<S extends Server>(s: S): S {
  // blob uploads and downloads may take longer than Node's default 5-minute request timeout
  s.requestTimeout = 0;
  s.headersTimeout = 60_000;
  s.keepAliveTimeout = 65_000;
  // CONNECT is not a registry method: without a listener Node drops the socket unanswered
  s.on("connect", (_req: IncomingMessage, socket: Duplex) => {
    socket.on("error", () => undefined);
    socket.end("HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  });
  return s;
}

export async function listen(server: Server, at: HostPort): Promise<HostPort> {
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

/** Stops accepting, closes idle connections, and cuts streams still running after a grace period. */
export async function closeServers(servers: readonly Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      s =>
        new Promise<void>(resolve => {
          s.close(() => resolve());
          s.closeIdleConnections();
          setTimeout(() => s.closeAllConnections(), 2_000).unref();
        }),
    ),
  );
}
