// Entry point: `gateway --config <file>`. Exits 2 with every problem of the config listed (each
// naming its field) before listening on anything; SIGTERM drains and exits 0.
import { parseArgs } from "node:util";
import { createLog, errorMessage } from "../../common/src/log";
import { ConfigError } from "../../common/src/validate";
import { loadGatewayConfig } from "./config";
import { startGateway } from "./server";
import { OciUpstream } from "./upstream";

const log = createLog("gateway");
try {
  const { values } = parseArgs({ options: { config: { type: "string" } }, strict: true });
  if (!values.config)
    throw new ConfigError("gateway command line", [{ field: "--config", rule: "required" }]);
  const { config, files } = await loadGatewayConfig(values.config);
  for (const u of config.users) log.addSecret(u.passwordHash);
  if (config.mode !== "local") log.addSecret(config.upstream.password);
  if (config.mode === "proxy") log.addSecret(config.upstreamListener.password);
  const upstream =
    config.mode === "local" ? undefined : new OciUpstream(config.upstream, files.upstreamCa);
  const gateway = await startGateway({ config, files, log, upstream });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      log.info("stopping", { signal });
      void gateway.stop().then(() => process.exit(0));
    });
  }
} catch (e) {
  log.error(e instanceof ConfigError ? e.message : `cannot start: ${errorMessage(e)}`);
  process.exit(e instanceof ConfigError ? 2 : 1);
}
