// A real HTTP forward proxy on loopback (Debian's tinyproxy), for the egress-proxy tests: what a
// cluster behind a corporate proxy has between its nodes and the registries.
//
//   const proxy = await startForwardProxy({ dir: lab.path("proxy") });
//   proxy.url                       http://127.0.0.1:<port>
//   proxy.connects()                ["127.0.0.1:5000", …] — CONNECT targets, from its log
//   proxy.requests()                every request line it logged (CONNECT and plain GETs)
//   await proxy.stop(); await proxy.start()   (the same port again)
//   startForwardProxy({ dir, basicAuth: { user, password } })   only authenticated clients;
//   proxy.authUrl is http://user:password@127.0.0.1:<port>
//
// Every port may be tunnelled (no ConnectPort line: tinyproxy then allows all), and only loopback
// clients are served.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort } from "./network";
import { requireTools, spawnProcess, type LabProcess } from "./process";

export interface ForwardProxy {
  host: string;
  port: number;
  url: string;
  /** `url` with the BasicAuth credentials in it (equal to `url` without BasicAuth) */
  authUrl: string;
  /** CONNECT targets (`host:port`) in the order the proxy saw them. */
  connects(): Promise<string[]>;
  /** Request lines (`CONNECT 127.0.0.1:5000 HTTP/1.1`, `GET http://… HTTP/1.1`). */
  requests(): Promise<string[]>;
  running(): boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startForwardProxy(options: {
  dir: string;
  host?: string;
  basicAuth?: { user: string; password: string };
}): Promise<ForwardProxy> {
  requireTools("tinyproxy");
  const host = options.host ?? "127.0.0.1";
  await mkdir(options.dir, { recursive: true });
  const port = await freePort(host);
  const logFile = join(options.dir, "tinyproxy.log");
  const configFile = join(options.dir, "tinyproxy.conf");
  await writeFile(logFile, "", { mode: 0o666 });
  await writeFile(
    configFile,
    [
      `Port ${port}`,
      `Listen ${host}`,
      "Timeout 60",
      `LogFile "${logFile}"`,
      "LogLevel Connect",
      "MaxClients 50",
      `Allow ${host}`,
      "DisableViaHeader Yes",
      ...(options.basicAuth
        ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`]
        : []),
      "",
    ].join("\n"),
  );
  let proc: LabProcess | undefined;
  const readLines = async () => (await readFile(logFile, "utf8")).split("\n");
  const requests = async () =>
    (await readLines()).flatMap(l => {
      const m = /Request \(file descriptor \d+\): (.+)$/.exec(l);
      return m?.[1] ? [m[1].trim()] : [];
    });
  const start = async () => {
    proc = spawnProcess("tinyproxy", "tinyproxy", ["-d", "-c", configFile]);
    // listening once it accepts a connection
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        // a TCP connect, not an HTTP request: with BasicAuth, tinyproxy drops a request without
        // credentials before answering
        await new Promise<void>((resolve, reject) => {
          const socket = connect({ host, port, timeout: 1000 }, () => {
            socket.destroy();
            resolve();
          });
          socket.once("error", reject);
          socket.once("timeout", () => socket.destroy(new Error("connect timeout")));
        });
        return;
      } catch (e) {
        if (!proc.running) throw new Error(`tinyproxy exited at start\n${proc.tail()}`);
        if (Date.now() > deadline) throw new Error(`tinyproxy not listening: ${String(e)}`);
        await new Promise(r => setTimeout(r, 50));
      }
    }
  };
  await start();
  return {
    host,
    port,
    url: `http://${host}:${port}`,
    authUrl: options.basicAuth
      ? `http://${encodeURIComponent(options.basicAuth.user)}:${encodeURIComponent(options.basicAuth.password)}@${host}:${port}`
      : `http://${host}:${port}`,
    requests,
    connects: async () =>
      (await requests()).flatMap(r => {
        const m = /^CONNECT (\S+) HTTP/.exec(r);
        return m?.[1] ? [m[1]] : [];
      }),
    running: () => proc?.running ?? false,
    start,
    stop: async () => {
      await proc?.stop();
    },
  };
}
