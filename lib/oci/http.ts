// The HTTP layer under the registry client: what the transport asks of it (one request, an
// answer whose body streams), and the engine built on Node's own `node:http`/`node:https` with a
// keep-alive Agent. The other engine is undici (undici-http.ts), loaded only when a client uses
// it: the mirror CLI runs on this one, without undici in the process (docs/adr/0140).
//
//   const http = new NodeHttp({ connections: 6, timeoutMs: 30_000, secureContext });
//   const res = await http.request({ origin: "https://reg:5000", path: "/v2/", method: "GET", headers: {} });
//   res.statusCode; res.headers["www-authenticate"]; await res.body.dump();
import { channel } from "node:diagnostics_channel";
import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
} from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import type { SecureContext } from "node:tls";

/** An answer's body: a stream, with undici's two helpers the client uses. */
export interface ResponseBody extends Readable {
  /** Reads the rest of the body and drops it (the connection stays usable). */
  dump(): Promise<void>;
  json(): Promise<unknown>;
}

export interface HttpResponse {
  statusCode: number;
  /** Lower-case names; a header sent more than once is an array. */
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
}

export interface HttpRequest {
  /** `https://host:port` */
  origin: string;
  /** Path with query. */
  path: string;
  method: "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";
  headers: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
}

export interface HttpEngine {
  request(req: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

const IDLE_MS = 10_000;

/** Published once per new connection of a NodeHttp engine (what undici's `undici:client:connected` is to undici). */
export const NODE_HTTP_CONNECTED = "registry-module:oci:connected";
const connected = channel(NODE_HTTP_CONNECTED);

/** A peer silent for longer than the timeout: classified like undici's timeouts (failures.ts). */
class SocketTimeoutError extends Error {
  override name = "SocketTimeoutError";
  readonly code = "ETIMEDOUT";
}

export interface NodeHttpOptions {
  /** Connections kept per origin; requests beyond wait. */
  connections: number;
  /** Connect, answer and body-idle timeout: the socket may be silent this long. */
  timeoutMs: number;
  secureContext?: SecureContext;
}

/**
 * Requests over `node:http`/`node:https` Agents with keep-alive. Unlike undici, Node keeps the
 * connection after a HEAD, and loads nothing beyond what Node has loaded anyway.
 */
export class NodeHttp implements HttpEngine {
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;
  readonly #timeoutMs: number;

  constructor(options: NodeHttpOptions) {
    const pool = {
      keepAlive: true,
      maxSockets: options.connections,
      maxFreeSockets: options.connections,
      scheduling: "lifo" as const,
      // an idle connection is closed before the registry or a load balancer in front of it
      // closes it (nginx: 75 s, cloud balancers: 60 s): reusing one they closed fails the request
      timeout: IDLE_MS,
    };
    this.#http = new HttpAgent(pool);
    this.#https = new HttpsAgent({
      ...pool,
      ...(options.secureContext ? { secureContext: options.secureContext } : {}),
    });
    this.#timeoutMs = options.timeoutMs;
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.path, req.origin);
    const tls = url.protocol === "https:";
    const send = tls ? httpsRequest : httpRequest;
    return new Promise<HttpResponse>((resolve, reject) => {
      const out = send(url, {
        method: req.method,
        headers: req.headers,
        agent: tls ? this.#https : this.#http,
        ...(req.signal ? { signal: req.signal } : {}),
      });
      out.setTimeout(this.#timeoutMs, () =>
        out.destroy(new SocketTimeoutError(`no data for ${this.#timeoutMs} ms`)),
      );
      out.on("socket", socket => {
        if (!out.reusedSocket && connected.hasSubscribers) connected.publish({ socket });
      });
      out.on("error", reject);
      out.on("response", (res: IncomingMessage) => resolve(answer(res)));
      sendBody(out, req.body);
    });
  }

  async close(): Promise<void> {
    this.#http.destroy();
    this.#https.destroy();
  }
}

function sendBody(out: ClientRequest, body: HttpRequest["body"]): void {
  if (body === undefined) {
    out.end();
    return;
  }
  if (Buffer.isBuffer(body)) {
    out.end(body);
    return;
  }
  // a body that fails (a file read, a digest check) fails the request: nothing is committed
  body.on("error", err => out.destroy(err));
  body.pipe(out);
}

function answer(res: IncomingMessage): HttpResponse {
  const headers: HttpResponse["headers"] = {};
  for (const [name, values] of Object.entries(res.headersDistinct)) {
    if (values) headers[name] = values.length === 1 ? values[0] : values;
  }
  const body = res as IncomingMessage & ResponseBody;
  body.dump = () => dump(res);
  body.json = async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  };
  return { statusCode: res.statusCode ?? 0, headers, body };
}

function dump(res: IncomingMessage): Promise<void> {
  if (res.readableEnded || res.destroyed) return Promise.resolve();
  return new Promise<void>(resolve => {
    res.on("end", resolve);
    res.on("close", resolve);
    res.on("error", () => resolve());
    res.resume();
  });
}
