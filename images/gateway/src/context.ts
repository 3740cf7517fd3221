// What the gateway's handlers share, built once by startGateway from its options: the
// configuration, the backends (stock distribution, the upstream), the metrics, and how a
// request's client address is read.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Log } from "../../common/src/log";
import { MetricsRegistry } from "../../common/src/metrics";
import { CredentialVerifier } from "./authn";
import { DistributionBackend } from "./backend";
import type { GatewayConfig, TlsFrontend } from "../../../lib/dataplane/gateway-config";
import { gatewayMetrics, type GatewayMetrics } from "./gateway-metrics";
import { headerValue } from "./http";
import { PerKeyLimiter } from "./limits";
import { RateLimit } from "./rate-limit";
import { PathAlias } from "./routes";
import type { UpstreamTransport } from "./upstream";
import { UpstreamHealth } from "./upstream-health";

export const V2_HEADERS = { "docker-distribution-api-version": "registry/2.0" };

/** The listeners that serve registry requests (the third, monitoring, serves no registry API). */
export type RegistryListener = "client" | "upstream-listener";

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

export interface GatewayContext {
  config: GatewayConfig;
  log: Log;
  /** benchmarks only: no client authentication */
  unauthenticated: boolean;
  verifier: CredentialVerifier;
  registry: MetricsRegistry;
  metrics: GatewayMetrics;
  /** modes direct and proxy: the local repository path ↔ the upstream's */
  alias: PathAlias | undefined;
  /** modes direct and proxy */
  upstream: UpstreamTransport | undefined;
  /** mode direct: upstream connections per client address */
  upstreamSlots: PerKeyLimiter | undefined;
  /** what the upstream listener last saw of the upstream (docs/adr/0160) */
  upstreamHealth: UpstreamHealth;
  /** modes local and proxy: the stock distribution behind the gateway */
  backend: DistributionBackend | undefined;
  /** behind nginx (docs/adr/0110) */
  frontend: TlsFrontend | undefined;
  stalledReaderMs: number;
  /** a client retrying a wrong password must not flood the log: one line per user and address a minute */
  failureLogs: RateLimit;
  /** the client's address */
  remote(req: IncomingMessage): string;
}

export interface ContextOptions {
  config: GatewayConfig;
  log: Log;
  upstream?: UpstreamTransport;
  unauthenticated?: boolean;
  stalledReaderMs: number;
}

export function gatewayContext(opts: ContextOptions): GatewayContext {
  const { config, upstream } = opts;
  const registry = new MetricsRegistry();
  // behind nginx (docs/adr/0110): plain HTTP on loopback, the client's address in X-Forwarded-For
  // (set, never appended, by nginx), and verdict subrequests for the blobs nginx streams itself
  const frontend = config.mode !== "direct" ? config.tlsFrontend : undefined;
  return {
    config,
    log: opts.log,
    unauthenticated: Boolean(opts.unauthenticated),
    verifier: new CredentialVerifier(config.users),
    registry,
    metrics: gatewayMetrics(registry),
    alias:
      config.mode === "local" ? undefined : new PathAlias(config.localPath, config.upstream.path),
    upstream,
    upstreamSlots: upstream ? upstreamSlots(upstream) : undefined,
    upstreamHealth: new UpstreamHealth(),
    backend:
      config.mode === "local" || config.mode === "proxy"
        ? new DistributionBackend(config.distribution.url)
        : undefined,
    frontend,
    stalledReaderMs: opts.stalledReaderMs,
    failureLogs: new RateLimit(60_000),
    remote: frontend ? forwardedClient : socketPeer,
  };
}

/**
 * Direct: a client address holds at most a quarter of the connections to the upstream, so
 * clients that stop reading their blobs starve only themselves (their excess requests wait).
 */
function upstreamSlots(upstream: UpstreamTransport): PerKeyLimiter {
  return new PerKeyLimiter(Math.max(1, Math.floor(upstream.connections / 4)));
}

function forwardedClient(req: IncomingMessage): string {
  const forwarded = headerValue(req.headers["x-forwarded-for"]);
  if (forwarded) return forwarded.split(",")[0]?.trim() ?? "";
  return socketPeer(req);
}

function socketPeer(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? "";
}
