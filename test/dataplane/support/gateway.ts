// Helpers for tests that talk to a gateway: raw HTTPS requests with the test CA, gateway config
// documents, a started in-process gateway.
import { request } from "node:https";
import { writeFile } from "node:fs/promises";
import { stringify } from "yaml";
import { createLog, type Log } from "../../../images/common/src/log";
import { loadGatewayConfig } from "../../../images/gateway/src/config";
import { type RunningGateway, startGateway } from "../../../images/gateway/src/server";
import { OciUpstream } from "../../../images/gateway/src/upstream";

export interface RawResponse {
  status: number;
  /** the status line's reason phrase as sent */
  statusMessage: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTPS request; `auth` is `user:password` for Basic. */
export function https(
  url: string,
  opts: {
    ca: string;
    method?: string;
    auth?: string;
    headers?: Record<string, string>;
    body?: Buffer | string;
    /** a loopback source address other than 127.0.0.1 (another client) */
    localAddress?: string;
  },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
    if (opts.body !== undefined) headers["content-length"] = String(Buffer.byteLength(opts.body));
    const req = request(
      url,
      {
        method: opts.method ?? "GET",
        ca: opts.ca,
        headers,
        agent: false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      res => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            statusMessage: res.statusMessage ?? "",
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** Writes a gateway config file (its documented YAML form). */
export async function writeGatewayConfig(
  file: string,
  doc: Record<string, unknown>,
): Promise<void> {
  await writeFile(file, stringify(doc), { mode: 0o600 });
}

export const collectedLogs: string[] = [];

/** Loads the config file and starts the gateway in this process, as main.ts does. */
export async function startGatewayFromFile(
  file: string,
  opts: { unauthenticated?: boolean; log?: Log } = {},
): Promise<RunningGateway> {
  const { config, files } = await loadGatewayConfig(file);
  const log = opts.log ?? createLog("gateway", l => collectedLogs.push(l), "debug");
  const upstream =
    config.mode === "local" ? undefined : new OciUpstream(config.upstream, files.upstreamCa);
  return startGateway({ config, files, log, upstream, unauthenticated: opts.unauthenticated });
}
