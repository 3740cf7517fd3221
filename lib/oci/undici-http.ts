// The undici engine of the registry client (the gateway, the checker, the mirrorer): one Agent
// with bounded keep-alive connections per registry, or, behind a forward proxy, an
// EgressDispatcher that sends each origin direct or through undici's ProxyAgent (CONNECT).
// Loaded by the transport when a client first needs it (import()), so that a process on the
// node:http engine (http.ts) never loads undici.
import type { ConnectionOptions } from "node:tls";
import { Agent, Dispatcher, ProxyAgent } from "undici";
import type { HttpEngine, HttpRequest, HttpResponse } from "./http";
import type { EgressRoutes } from "./proxy";

export function undiciEngine(
  routes: EgressRoutes | undefined,
  agentOptions: Agent.Options,
  connect: ConnectionOptions & { timeout?: number },
): HttpEngine {
  const dispatcher: Dispatcher = routes
    ? new EgressDispatcher(routes, agentOptions, connect)
    : new Agent({ ...agentOptions, connect });
  return {
    request: (req: HttpRequest): Promise<HttpResponse> => dispatcher.request(req),
    close: () => dispatcher.close(),
  };
}

/**
 * Routes each request by its origin: direct through one Agent, or through the ProxyAgent of its
 * proxy (CONNECT tunnel, then TLS to the registry with `requestTls`).
 */
class EgressDispatcher extends Dispatcher {
  readonly routes: EgressRoutes;
  readonly #direct: Agent;
  readonly #proxied = new Map<string, ProxyAgent>();
  readonly #agentOptions: Agent.Options;
  readonly #requestTls: ConnectionOptions & { timeout?: number };

  constructor(
    routes: EgressRoutes,
    agentOptions: Agent.Options,
    requestTls: ConnectionOptions & { timeout?: number },
  ) {
    super();
    this.routes = routes;
    this.#agentOptions = agentOptions;
    this.#requestTls = requestTls;
    this.#direct = new Agent({ ...agentOptions, connect: requestTls });
  }

  override dispatch(
    options: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandlers,
  ): boolean {
    const origin = new URL(String(options.origin));
    const proxy = this.routes.proxyFor(origin);
    if (!proxy) return this.#direct.dispatch(options, handler);
    let agent = this.#proxied.get(proxy.href);
    if (!agent) {
      const { connect: _connect, ...rest } = this.#agentOptions;
      agent = new ProxyAgent({
        ...rest,
        uri: proxy.href,
        requestTls: this.#requestTls,
        proxyTls: { timeout: this.#requestTls.timeout },
      });
      this.#proxied.set(proxy.href, agent);
    }
    return agent.dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = Promise.all([
      this.#direct.close(),
      ...[...this.#proxied.values()].map(a => a.close()),
    ]).then(() => undefined);
    if (callback) void done.then(callback);
    else return done;
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === "function" ? null : (a ?? null);
    const callback = typeof a === "function" ? a : b;
    const done = Promise.all([
      this.#direct.destroy(err),
      ...[...this.#proxied.values()].map(p => p.destroy(err)),
    ]).then(() => undefined);
    if (callback) void done.then(callback);
    else return done;
  }
}
