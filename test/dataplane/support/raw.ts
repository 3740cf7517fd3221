// Raw HTTP/1.1 over TCP or TLS: request lines and headers no well-behaved client library would
// send (targets the URL parser rejects, declared bodies that never come), read back as far as the
// status line. Loopback only.
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";

export interface RawAnswer {
  /** status code of the first response, or undefined when the connection closed without one */
  status?: number;
  /** everything read (capped) */
  text: string;
  /** the connection was closed by the server (or reset) */
  closed: boolean;
}

export interface RawTarget {
  /** `https://host:port` or `http://host:port` */
  base: string;
  ca?: string;
}

export function basicAuth(name: string, password: string): string {
  return `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}`;
}

/** Opens a connection to the target (TLS for https). */
export function openSocket(target: RawTarget, localAddress?: string): Promise<Socket> {
  const u = new URL(target.base);
  const port = Number(u.port);
  const host = u.hostname;
  return new Promise((resolve, reject) => {
    const s =
      u.protocol === "https:"
        ? tlsConnect(
            // localAddress reaches net.connect underneath (ConnectionOptions does not declare it)
            { host, port, ca: target.ca, servername: "localhost", ...{ localAddress } },
            () => resolve(s),
          )
        : netConnect({ host, port, ...(localAddress ? { localAddress } : {}) }, () => resolve(s));
    s.once("error", reject);
  });
}

/**
 * Sends `bytes` and waits for the status line of the answer (or the close), at most `timeoutMs`.
 * `keepOpen` leaves the socket open after the answer (the caller ends it).
 */
export async function rawExchange(
  target: RawTarget,
  bytes: string | Buffer,
  timeoutMs = 10_000,
): Promise<RawAnswer> {
  const s = await openSocket(target);
  return new Promise(resolve => {
    let text = "";
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ ...(m ? { status: Number(m[1]) } : {}), text: text.slice(0, 4096), closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on("data", (b: Buffer) => {
      text += b.toString("latin1");
      if (/\r\n\r\n/.test(text)) finish(false);
    });
    s.on("error", () => finish(true));
    s.on("close", () => finish(true));
    s.write(bytes);
  });
}
