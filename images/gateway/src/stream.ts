// A backend's answer streamed to the client: headers, then the body piped as it comes, with a
// watchdog for clients that stop reading.
import type { ServerResponse } from "node:http";
import { pipeline } from "node:stream/promises";
import { OciError } from "../../../lib/oci";
import { errorMessage } from "../../common/src/log";
import type { GatewayContext, RegistryListener } from "./context";
import { forwardResponseHeaders } from "./http";
import type { Route } from "./routes";
import type { UpstreamResponse } from "./upstream";

/** Where an answer goes: the route and listener it is counted under, and whether it is a HEAD. */
export interface Reply {
  route: Route;
  listener: RegistryListener;
  head: boolean;
}

export async function streamAnswer(
  ctx: GatewayContext,
  res: ServerResponse,
  answer: UpstreamResponse,
  reply: Reply,
): Promise<void> {
  res.writeHead(answer.status, forwardResponseHeaders(answer.headers));
  if (reply.head) {
    answer.body.resume();
    res.end();
    return;
  }
  // counted from the socket rather than per chunk: no listener on the hot path
  const socket = res.socket;
  const before = socket?.bytesWritten ?? 0;
  const watchdog = stalledReaderWatchdog(ctx, res, reply.route);
  try {
    await pipeline(answer.body, res);
  } catch (e) {
    // the client went away or the source broke mid-body; the response cannot be amended
    if (e instanceof OciError && e.kind === "protocol") {
      ctx.log.error("upstream content refused", { route: reply.route.kind, error: e.message });
    } else {
      ctx.log.debug("response stream ended early", {
        route: reply.route.kind,
        error: errorMessage(e),
      });
    }
    answer.body.destroy();
    res.destroy();
  } finally {
    clearInterval(watchdog);
    // TLS and header bytes included: close enough for a throughput metric
    ctx.metrics.bytes.inc(
      { listener: reply.listener, route: reply.route.kind },
      (socket?.bytesWritten ?? before) - before,
    );
  }
}

/**
 * A client that stops reading holds the source (an upstream or distribution connection) for as
 * long as it likes: its response is cut once nothing has moved for the stalled-reader time.
 */
function stalledReaderWatchdog(
  ctx: GatewayContext,
  res: ServerResponse,
  route: Route,
): NodeJS.Timeout {
  const socket = res.socket;
  const limitMs = ctx.stalledReaderMs;
  let seen = socket?.bytesWritten ?? 0;
  let stalledSince = Date.now();
  const watchdog = setInterval(
    () => {
      const now = socket?.bytesWritten ?? 0;
      if (now !== seen) {
        seen = now;
        stalledSince = Date.now();
      } else if (Date.now() - stalledSince >= limitMs) {
        ctx.log.debug("client stopped reading", {
          route: route.kind,
          remote: socket?.remoteAddress,
        });
        res.destroy();
      }
    },
    Math.max(250, Math.floor(limitMs / 4)),
  );
  watchdog.unref();
  return watchdog;
}
