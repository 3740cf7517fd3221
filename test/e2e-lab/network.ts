// Loopback network helpers.
//
//   const hole = await startBlackhole();    // accepts TCP connections, never answers: timeouts
//   hole.hostPort, hole.url, hole.connections; await hole.stop()   (or stopAll())
//   const port = await freePort("127.0.0.3"); // for programs that cannot listen on port 0 (nginx)
//   const port = await closedPort();           // nothing listens there: connection refused
import { createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { trackCloser } from "./process";

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
    host,
    port,
    hostPort: `${host}:${port}`,
    url: `http://${host}:${port}`,
    get connections() {
      return connections;
    },
    stop: async () => {
      untrack();
      await close();
    },
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
