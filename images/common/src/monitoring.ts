// Plain-HTTP /healthz, /readyz and /metrics for a data-plane program.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PROMETHEUS_CONTENT_TYPE } from "./metrics";
import type { HostPort } from "../../../lib/validation/reader";

export interface Probes {
  /** undefined when healthy, else the reason */
  live(): string | undefined | Promise<string | undefined>;
  ready(): string | undefined | Promise<string | undefined>;
  metrics(): string;
}

export async function startMonitoring(
  at: HostPort,
  probes: Probes,
): Promise<{ address: HostPort; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const answer = async () => {
      if (path === "/metrics") {
        res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(probes.metrics());
        return;
      }
      const check =
        path === "/healthz" ? probes.live : path === "/readyz" ? probes.ready : undefined;
      if (!check) {
        res.writeHead(404, { "content-type": "text/plain" }).end("404 page not found\n");
        return;
      }
      const problem = await check();
      res
        .writeHead(problem ? 503 : 200, { "content-type": "text/plain" })
        .end(`${problem ?? "ok"}\n`);
    };
    answer().catch((e: unknown) => {
      res.writeHead(500, { "content-type": "text/plain" }).end(`${String(e)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(at.port, at.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: { host: at.host, port },
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
