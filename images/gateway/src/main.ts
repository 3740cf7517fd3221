// The gateway program (entry points: run.ts, and the image's multi-call executable).
//
//   gateway --config <file>                 serve; exits 2 listing every config problem (each
//                                           naming its field) before listening on anything
//   gateway wait-ready --url <url> [--timeout 60s]
//                                           polls the URL until it answers 200: the static pod's
//                                           postStart hook, so that kubelet starts distribution
//                                           (which dials the gateway at start) only after it
//
// SIGTERM drains and exits 0.
import { parseArgs } from "node:util";
import { createLog, errorMessage } from "../../common/src/log";
import { ConfigError, parseDuration } from "../../../lib/validation/reader";
import { loadGatewayConfig } from "./config";
import { startGateway } from "./server";
import { upstreamTransport } from "./upstream-transport";

const log = createLog("gateway");

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: "string" } }, strict: true });
  if (!values.config)
    throw new ConfigError("gateway command line", [{ field: "--config", rule: "required" }]);
  const { config, files } = await loadGatewayConfig(values.config);
  for (const u of config.users) log.addSecret(u.passwordHash);
  if (config.mode !== "local") {
    log.addSecret(config.upstream.password);
    for (const url of [config.upstream.proxy?.httpProxy, config.upstream.proxy?.httpsProxy])
      log.addSecret(proxyPassword(url));
  }
  if (config.mode === "proxy") log.addSecret(config.upstreamListener.password);
  const upstream = upstreamTransport(config, files);
  const gateway = await startGateway({ config, files, log, upstream });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      log.info("stopping", { signal });
      void gateway.stop().then(() => process.exit(0));
    });
  }
}

function proxyPassword(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    const password = new URL(url.includes("://") ? url : `http://${url}`).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}

async function waitReady(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { url: { type: "string" }, timeout: { type: "string", default: "60s" } },
    strict: true,
  });
  const problems = [];
  if (!values.url || !/^https?:\/\//.test(values.url))
    problems.push({ field: "--url", rule: "required, an http(s) URL" });
  const timeoutMs = parseDuration(values.timeout ?? "");
  if (!timeoutMs) problems.push({ field: "--timeout", rule: "must be a duration like 60s" });
  if (problems.length > 0 || !values.url || !timeoutMs)
    throw new ConfigError("gateway wait-ready command line", problems);
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  for (;;) {
    try {
      const res = await fetch(values.url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = errorMessage(e);
    }
    if (Date.now() > deadline)
      throw new Error(`${values.url} not ready within ${values.timeout}: ${last}`);
    await new Promise(r => setTimeout(r, 100));
  }
}

export async function main(args: string[]): Promise<void> {
  try {
    const [first, ...rest] = args;
    if (first === "wait-ready") {
      await waitReady(rest);
      process.exit(0);
    } else {
      await serve(args);
    }
  } catch (e) {
    log.error(e instanceof ConfigError ? e.message : `cannot start: ${errorMessage(e)}`);
    process.exit(e instanceof ConfigError ? 2 : 1);
  }
}
