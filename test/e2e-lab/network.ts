// Loopback network helpers.
//
//   const hole = await startBlackhole();    // accepts TCP connections, never answers: timeouts
//   hole.hostPort, hole.url, hole.connections; await hole.stop()   (or stopAll())
//   const port = await freePort("127.0.0.3"); // for programs that cannot listen on port 0 (nginx)
//   const port = await closedPort();           // nothing listens there: connection refused
//   const drop = await startDroppingListener(); // connects hang (SYNs dropped): a black-holed host
//   const wan = await startLatencyProxy({ target: reg.hostPort, oneWayMs: 10 });  // 20 ms RTT
//   wan.hostPort; wan.connections; await wan.stop()
import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { requireTools, spawnProcess, trackCloser } from "./process";

export interface Blackhole {
  host: string;
  port: number;
  hostPort: string;
  /** `http://host:port` (no scheme is ever answered). */
  url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  stop(): Promise<void>;
}

export async function startBlackhole(host = "127.0.0.1"): Promise<Blackhole> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer(socket => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  const { port, stop } = await listenTracked(server, host, sockets);
  return {
    host,
    port,
    hostPort: `${host}:${port}`,
    url: `http://${host}:${port}`,
    get connections() {
      return connections;
    },
    stop,
  };
}

/** A port that was free a moment ago on `host` (the kernel picked it). */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>(resolve => server.close(() => resolve()));
  return port;
}

/** Same as freePort: nothing listens there, so connecting is refused. */
export const closedPort = freePort;

export interface LatencyProxy {
  host: string;
  port: number;
  hostPort: string;
  /** Connections accepted so far. */
  readonly connections: number;
  stop(): Promise<void>;
}

/**
 * A TCP relay that delays every chunk by `oneWayMs` in each direction: a registry "far away"
 * on loopback (TLS passes through untouched). Connection set-up itself is not delayed, so a
 * new-connection-per-request client is, if anything, favoured.
 */
export async function startLatencyProxy(options: {
  target: string;
  oneWayMs: number;
  host?: string;
}): Promise<LatencyProxy> {
  const host = options.host ?? "127.0.0.1";
  const colon = options.target.lastIndexOf(":");
  const targetHost = options.target.slice(0, colon);
  const targetPort = Number(options.target.slice(colon + 1));
  const sockets = new Set<Socket>();
  let connections = 0;
  const relay = (from: Socket, to: Socket): void => {
    from.on("data", chunk => {
      // equal delays fire in order: the byte stream stays in sequence
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, options.oneWayMs);
    });
    from.on("end", () => setTimeout(() => to.end(), options.oneWayMs));
    from.on("error", () => to.destroy());
    from.on("close", () => setTimeout(() => to.destroy(), options.oneWayMs));
  };
  const server = createServer(client => {
    connections++;
    const upstream = connect(targetPort, targetHost);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on("close", () => sockets.delete(s));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  const { port, stop } = await listenTracked(server, host, sockets);
  return {
    host,
    port,
    hostPort: `${host}:${port}`,
    get connections() {
      return connections;
    },
    stop,
  };
}

/**
 * Listens on a free port of `host` and registers the server with the lab's cleanup: `stop`
 * destroys the open sockets, closes the server and unregisters it.
 */
async function listenTracked(
  server: Server,
  host: string,
  sockets: Set<Socket>,
): Promise<{ port: number; stop: () => Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const close = (): Promise<void> =>
    new Promise(resolve => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  const untrack = trackCloser(close);
  return {
    port,
    stop: async () => {
      untrack();
      await close();
    },
  };
}

export interface DroppingListener {
  hostPort: string;
  stop(): Promise<void>;
}

/**
 * An address where TCP connects hang, as to a host that drops packets (not one that refuses):
 * a socket listening with a backlog of 0 that never accepts, its one queue slot taken by a first
 * connection, so the kernel drops every further SYN. perl (Debian's perl-base, always present)
 * holds the socket: Node's servers always accept.
 */
export async function startDroppingListener(host = "127.0.0.1"): Promise<DroppingListener> {
  requireTools("perl");
  const port = await freePort(host);
  const script =
    `use Socket; socket(S, PF_INET, SOCK_STREAM, 0) or die "socket: $!"; ` +
    `setsockopt(S, SOL_SOCKET, SO_REUSEADDR, 1); ` +
    `bind(S, sockaddr_in(${port}, inet_aton("${host}"))) or die "bind: $!"; ` +
    `listen(S, 0) or die "listen: $!"; $| = 1; print "listening\\n"; sleep 86400;`;
  const proc = spawnProcess(`dropping-${host}:${port}`, "perl", ["-e", script]);
  await proc.waitForLine(/^listening$/);
  // take the one queue slot: from now on SYNs to the port are dropped
  const filler = await new Promise<Socket>((resolve, reject) => {
    const s = connect(port, host, () => resolve(s));
    s.once("error", reject);
  });
  filler.on("error", () => undefined);
  return {
    hostPort: `${host}:${port}`,
    stop: async () => {
      filler.destroy();
      await proc.stop();
    },
  };
}
