// distribution's own metrics, scraped through the gateway's monitoring listener: distribution's
// debug listener also serves pprof and expvar, so it stays on loopback, and the gateway (which
// already fronts distribution) relays only its Prometheus page at `/metrics/distribution`.
import type { ServerResponse } from "node:http";

export const DISTRIBUTION_METRICS_PATH = "/metrics/distribution";

export async function relayDistributionMetrics(
  url: string | undefined,
  res: ServerResponse,
): Promise<void> {
  if (!url) {
    res
      .writeHead(404, { "content-type": "text/plain" })
      .end("distribution metrics not configured\n");
    return;
  }
  try {
    const answer = await fetch(url, { signal: AbortSignal.timeout(5_000) });
    const body = await answer.text();
    // a failed relay is a failed scrape (the target shows down), not an empty page
    if (answer.status !== 200) {
      res
        .writeHead(502, { "content-type": "text/plain" })
        .end(`distribution answered ${answer.status}\n`);
      return;
    }
    res
      .writeHead(200, {
        "content-type": answer.headers.get("content-type") ?? "text/plain; version=0.0.4",
      })
      .end(body);
  } catch (e) {
    res
      .writeHead(502, { "content-type": "text/plain" })
      .end(`distribution metrics unreachable: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}
