// Real CNCF distribution (`docker-registry` 2.8) on a loopback address and port 0.
//
//   const reg = await startRegistry({ dir: join(lab, "up") });                   // plain HTTP
//   const reg = await startRegistry({ dir, tls: serverCert, htpasswd: { alice: "pw" } });
//   const reg = await startRegistry({ dir, tokenAuth: tokens.registryAuth("svc") });
//   const reg = await startRegistry({ dir, proxy: { remoteUrl: up.url, ca: up.caPem } });
//   reg.url ("http://127.0.0.1:40123"), reg.hostPort, reg.host, reg.port, reg.caPem
//   reg.accessLog()   // parsed combined-log lines: method, path, status, bytes
//   await reg.stop()  // or stopAll()
//
// Ready means: the log said `listening on <host>:<port>` and `GET /v2/` answered 200 or 401.
// `storageDir` lets two registries share storage (reads) or a restarted registry keep its data.
// For proxies, start the upstream first (2.8 panics when the upstream /v2/ is unreachable) and
// pass its CA as `proxy.ca`: it goes to SSL_CERT_FILE, which replaces Go's system roots.
import { mkdir, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import type { ServerCert } from "./pki";
import { freePort } from "./network";
import { run, spawnProcess, type LabProcess } from "./process";
import type { RegistryTokenAuth } from "./token-server";

export interface RegistryOptions {
  /** Working directory for config, htpasswd and (by default) storage; created if missing. */
  dir: string;
  /** Name in error messages; default the last path segment of dir. */
  name?: string;
  /** Loopback address (127.0.0.x); default 127.0.0.1. */
  host?: string;
  /** `host` is the sandbox's own address on the bridge it created (test/sandbox/nodes.ts). */
  onSandboxBridge?: boolean;
  /** Fixed port, for peers that must name it before the registry starts; default 0 (any). */
  port?: number;
  tls?: ServerCert;
  /** user → password, written with `htpasswd -B` (distribution accepts only bcrypt). */
  htpasswd?: Record<string, string>;
  tokenAuth?: RegistryTokenAuth;
  proxy?: { remoteUrl: string; username?: string; password?: string; ca?: string };
  storageDir?: string;
  /** Headers distribution adds to every answer (`http.headers`). */
  headers?: Record<string, string>;
  /** Extra top-level config sections merged over the generated ones (e.g. `{ validation: … }`). */
  extraConfig?: Record<string, unknown>;
  /** Readiness timeout; default 15 s. */
  timeoutMs?: number;
  /**
   * Log errors only, no access log: for benchmarks, where per-request log lines cost both
   * processes CPU. The port is then picked before start (the `listening on` line is info level).
   */
  quiet?: boolean;
}

export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  bytes: number;
}

export interface Registry {
  name: string;
  scheme: "http" | "https";
  host: string;
  port: number;
  /** `host:port`, the registry part of image references. */
  hostPort: string;
  url: string;
  dir: string;
  storageDir: string;
  configPath: string;
  /** The CA clients must trust (HTTPS only). */
  caPem?: string;
  process: LabProcess;
  accessLog(): AccessLogEntry[];
  stop(): Promise<void>;
}

/** Writes an htpasswd file with bcrypt entries through the real `htpasswd -B`. */
export async function writeHtpasswd(file: string, users: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  for (const [user, password] of Object.entries(users)) {
    // -i reads the password from stdin: it never appears in a process listing
    const { stdout } = await run("htpasswd", ["-niB", user], { input: `${password}\n` });
    lines.push(stdout.trim());
  }
  await writeFile(file, lines.join("\n") + "\n", { mode: 0o600 });
}

export async function startRegistry(options: RegistryOptions): Promise<Registry> {
  const host = options.host ?? "127.0.0.1";
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) && !options.onSandboxBridge) {
    throw new Error(`startRegistry host "${host}": must be a loopback address 127.x.y.z`);
  }
  const dir = options.dir;
  const name = options.name ?? dir.split("/").filter(Boolean).pop() ?? "registry";
  const storageDir = options.storageDir ?? join(dir, "data");
  await mkdir(dir, { recursive: true });
  await mkdir(storageDir, { recursive: true });

  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: "info", formatter: "text", accesslog: { disabled: false } },
    storage: {
      filesystem: { rootdirectory: storageDir },
      delete: { enabled: true },
      cache: { blobdescriptor: "inmemory" },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr: `${host}:${options.port ?? (options.quiet ? await freePort(host) : 0)}`,
      secret: `e2e-${name}`,
      ...(options.tls ? { tls: { certificate: options.tls.cert, key: options.tls.key } } : {}),
      ...(options.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(options.headers).map(([name, value]) => [name, [value]]),
            ),
          }
        : {}),
    },
  };
  if (options.htpasswd && options.tokenAuth) {
    throw new Error(`startRegistry ${name}: choose htpasswd or tokenAuth, not both`);
  }
  if (options.htpasswd) {
    const path = join(dir, "htpasswd");
    await writeHtpasswd(path, options.htpasswd);
    config.auth = { htpasswd: { realm: `e2e-${name}`, path } };
  }
  if (options.tokenAuth) config.auth = { token: { ...options.tokenAuth } };
  const env: NodeJS.ProcessEnv = {};
  if (options.proxy) {
    const { remoteUrl, username, password, ca } = options.proxy;
    config.proxy = { remoteurl: remoteUrl, ...(username ? { username, password } : {}) };
    if (ca) {
      const caFile = join(dir, "upstream-ca.crt");
      await writeFile(caFile, ca);
      env.SSL_CERT_FILE = caFile;
    }
  }
  if (options.quiet)
    config.log = { level: "error", formatter: "text", accesslog: { disabled: true } };
  Object.assign(config, options.extraConfig ?? {});
  const configPath = join(dir, "config.yml");
  // JSON is YAML: distribution reads it as is
  await writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });

  const proc = spawnProcess(name, "docker-registry", ["serve", configPath], { env });
  const timeoutMs = options.timeoutMs ?? 15_000;
  try {
    let port: number;
    if (options.quiet) {
      port = Number(
        String((config.http as { addr: string }).addr)
          .split(":")
          .pop(),
      );
    } else {
      const hostRe = host.replace(/\./g, "\\.");
      const m = await proc.waitForLine(new RegExp(`listening on ${hostRe}:(\\d+)`), timeoutMs);
      port = Number(m[1]);
    }
    const scheme = options.tls ? "https" : "http";
    const url = `${scheme}://${host}:${port}`;
    await waitForV2(url, options.tls?.ca.certPem, timeoutMs, proc);
    return {
      name,
      scheme,
      host,
      port,
      hostPort: `${host}:${port}`,
      url,
      dir,
      storageDir,
      configPath,
      ...(options.tls ? { caPem: options.tls.ca.certPem } : {}),
      process: proc,
      accessLog: () => parseAccessLog(proc.lines),
      stop: () => proc.stop(),
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

const ACCESS_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/;

function parseAccessLog(lines: readonly string[]): AccessLogEntry[] {
  const out: AccessLogEntry[] = [];
  for (const line of lines) {
    // combined-log lines start with the client address; the app's own lines start with time=
    if (line.startsWith("time=")) continue;
    const m = line.match(ACCESS_LINE);
    if (m) {
      out.push({
        method: m[1] as string,
        path: m[2] as string,
        status: Number(m[3]),
        bytes: m[4] === "-" ? 0 : Number(m[4]),
      });
    }
  }
  return out;
}

/** Polls `GET /v2/` until it answers 200 or 401. */
export async function waitForV2(
  url: string,
  caPem: string | undefined,
  timeoutMs = 15_000,
  proc?: LabProcess,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  for (;;) {
    const status = await new Promise<number>(resolve => {
      const request = url.startsWith("https:") ? httpsRequest : httpRequest;
      const req = request(
        `${url}/v2/`,
        { ...(caPem ? { ca: caPem } : {}), timeout: 1_000, agent: false },
        res => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", err => {
        last = err.message;
        resolve(0);
      });
      req.end();
    });
    if (status === 200 || status === 401) return status;
    if (status) last = `HTTP ${status}`;
    if (proc && !proc.running) throw new Error(`${proc.name} exited\n${proc.tail()}`);
    if (Date.now() > deadline) {
      throw new Error(`${url}/v2/ not ready within ${timeoutMs} ms (${last})`);
    }
    await new Promise(r => setTimeout(r, 20));
  }
}
