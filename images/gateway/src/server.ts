// The gateway: an OCI distribution reverse proxy in front of stock distribution (modes `local`,
// `proxy`) or of the upstream registry itself (mode `direct`).
//
//   client ──TLS, Basic──► gateway ──► distribution (local storage | pull-through cache)
//                                   │                               │ proxy.remoteurl
//                                   └─ direct ─► upstream ◄── upstream listener (loopback)
//
// Bodies are streamed in both directions; nothing is buffered whole except the small JSON of
// `tags/list`, whose repository name the alias rewrites.
//
// This file wires the listeners; each serves what its file says: client-listener.ts (registry
// clients, nginx's verdicts), upstream-listener.ts (the cache's remoteurl), monitoring.ts;
// forward.ts and stream.ts carry requests to distribution or the upstream; context.ts is what
// they share.
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { formatHostPort, type HostPort } from "../../../lib/validation/reader";
import type { Log } from "../../common/src/log";
import type { MetricsRegistry } from "../../common/src/metrics";
import type { CredentialVerifier } from "./authn";
import { handleClient } from "./client-listener";
import type { GatewayConfig } from "../../../lib/dataplane/gateway-config";
import type { GatewayFiles } from "./config";
import { gatewayContext, type GatewayContext } from "./context";
import { closeServers, instrument, listen, tuned } from "./listeners";
import { monitoringHandler } from "./monitoring";
import { upstreamListenerHandler } from "./upstream-listener";
import type { UpstreamTransport } from "./upstream";

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

type Addresses = RunningGateway["addresses"];

interface Servers {
  client: Server;
  monitoring: Server;
  upstreamListener: Server | undefined;
}

export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const { config, log } = opts;
  if ((config.mode === "direct" || config.mode === "proxy") && !opts.upstream)
    throw new Error(`mode ${config.mode} needs an upstream transport`);
  const ctx = gatewayContext({
    config,
    log,
    ...(opts.upstream ? { upstream: opts.upstream } : {}),
    ...(opts.unauthenticated ? { unauthenticated: true } : {}),
    stalledReaderMs: opts.limits?.stalledReaderMs ?? 60_000,
  });
  let stopping = false;
  const listening: { addresses?: Addresses } = {};
  const servers = createServers(ctx, opts, {
    stopping: () => stopping,
    upstreamListener: () => listening.addresses?.upstreamListener,
  });
  const addresses = await listenAll(ctx, servers);
  listening.addresses = addresses;
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
    metrics: ctx.registry,
    verifier: ctx.verifier,
    async stop() {
      stopping = true;
      const { client, monitoring, upstreamListener } = servers;
      await closeServers([client, monitoring, ...(upstreamListener ? [upstreamListener] : [])]);
      ctx.backend?.close();
      await ctx.upstream?.close();
    },
  };
}

function createServers(
  ctx: GatewayContext,
  opts: GatewayOptions,
  state: { stopping: () => boolean; upstreamListener: () => HostPort | undefined },
): Servers {
  const onClient = instrument(ctx, "client", (req, res, url) => handleClient(ctx, req, res, url));
  const client = tuned(
    ctx.frontend
      ? createHttpServer(onClient)
      : createHttpsServer({ cert: opts.files.tlsCertificate, key: opts.files.tlsKey }, onClient),
  );
  // a client that neither sends nor reads for this long (a stalled reader, a body that never
  // comes) is closed, with whatever it held
  client.timeout = opts.limits?.socketIdleMs ?? 300_000;
  const monitoring = tuned(
    createHttpServer(instrument(ctx, "monitoring", monitoringHandler(ctx, state.stopping))),
  );
  const auth = ctx.config.mode === "proxy" ? ctx.config.upstreamListener : undefined;
  const upstreamListener = auth
    ? tuned(
        createHttpServer(
          instrument(
            ctx,
            "upstream-listener",
            upstreamListenerHandler(ctx, auth, state.upstreamListener),
          ),
        ),
      )
    : undefined;
  return { client, monitoring, upstreamListener };
}

/**
 * Monitoring last: once /healthz answers, every listener is up (the static pod's postStart hook
 * waits for it before kubelet starts distribution, which dials the upstream listener).
 */
async function listenAll(ctx: GatewayContext, servers: Servers): Promise<Addresses> {
  const { config } = ctx;
  const upstreamListener =
    servers.upstreamListener && config.mode === "proxy"
      ? await listen(servers.upstreamListener, config.upstreamListener.address)
      : undefined;
  return {
    client: await listen(servers.client, ctx.frontend?.address ?? config.listen.address),
    monitoring: await listen(servers.monitoring, config.monitoring.address),
    ...(upstreamListener ? { upstreamListener } : {}),
  };
}
