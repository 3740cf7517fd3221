// The monitoring listener: the gateway's metrics, the stock distribution's (relayed), liveness
// and readiness.
import { errorMessage } from "../../common/src/log";
import { PROMETHEUS_CONTENT_TYPE } from "../../common/src/metrics";
import type { DistributionBackend } from "./backend";
import type { GatewayContext, Handler } from "./context";
import { DISTRIBUTION_METRICS_PATH, relayDistributionMetrics } from "./distribution-metrics";

/** `stopping()`: true once the gateway is shutting down (it is then no longer ready). */
export function monitoringHandler(ctx: GatewayContext, stopping: () => boolean): Handler {
  const { config, verifier } = ctx;
  const text = { "content-type": "text/plain" };
  return async (_req, res, url) => {
    const path = url.pathname;
    if (path === "/metrics") {
      ctx.metrics.bcrypt.set(verifier.stats.bcryptChecks);
      res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(ctx.registry.render());
    } else if (path === DISTRIBUTION_METRICS_PATH && config.mode !== "direct") {
      await relayDistributionMetrics(config.distribution.metricsUrl, res);
    } else if (path === "/healthz") {
      res.writeHead(200, text).end("ok\n");
    } else if (path === "/readyz") {
      const problem = stopping() ? "stopping" : await backendProblem(ctx.backend);
      if (problem) res.writeHead(503, text).end(`${problem}\n`);
      else res.writeHead(200, text).end("ok\n");
    } else {
      res.writeHead(404, text).end("404 page not found\n");
    }
  };
}

/** Ready means: the stock distribution behind the gateway answers (modes local and proxy). */
async function backendProblem(
  backend: DistributionBackend | undefined,
): Promise<string | undefined> {
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
