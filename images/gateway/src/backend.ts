// The hop to the stock distribution on loopback: node:http with kept-alive connections. (undici
// closes its connection after every HEAD — it guards against servers that send HEAD bodies — and
// manifest HEADs are the most frequent request of a pull by tag: a new connection each would add
// a connect and a slow-start to every one of them.)
import { Agent, request, type IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

export interface BackendRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  /** streamed request body (uploads) */
  body?: Readable;
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * A connection of its own, outside the pool: a probe must not queue behind requests that
   * hold every pooled connection (slow uploads), or it would measure the queue, not distribution.
   */
  ownConnection?: boolean;
}

export class DistributionBackend {
  readonly #agent = new Agent({
    keepAlive: true,
    maxSockets: 256,
    maxFreeSockets: 64,
    scheduling: "lifo",
  });
  readonly #host: string;
  readonly #port: number;

  constructor(url: string) {
    const u = new URL(url);
    this.#host = u.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(u.port || 80);
  }

  send(r: BackendRequest): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request({
        host: this.#host,
        port: this.#port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        agent: r.ownConnection ? false : this.#agent,
        ...(r.signal ? { signal: r.signal } : {}),
        ...(r.timeoutMs ? { timeout: r.timeoutMs } : {}),
      });
      req.once("response", resolve);
      req.once("error", reject);
      req.once("timeout", () => req.destroy(new Error(`no answer within ${r.timeoutMs} ms`)));
      if (r.body) pipeline(r.body, req).catch(reject);
      else req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
