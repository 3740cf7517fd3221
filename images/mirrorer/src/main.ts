// The mirrorer program, `mirrorer --config <file>` (entry points: run.ts, and the image's
// multi-call executable). Exits 2 listing every config problem (each naming its
// field); SIGTERM stops after the copy in flight is abandoned (the next start resumes: whole blobs
// are kept, the partial one is copied again).
import { parseArgs } from "node:util";
import { createLog, errorMessage } from "../../common/src/log";
import { ConfigError } from "../../../lib/validation/reader";
import { loadMirrorerConfig } from "./config";
import { runMirrorer } from "./mirrorer";

const log = createLog("mirrorer");
export async function main(args: string[]): Promise<void> {
  try {
    const { values } = parseArgs({
      args,
      options: { config: { type: "string" } },
      strict: true,
    });
    if (!values.config)
      throw new ConfigError("mirrorer command line", [{ field: "--config", rule: "required" }]);
    const { config, caPem } = await loadMirrorerConfig(values.config);
    log.addSecret(config.puller.password);
    log.addSecret(config.pusher.password);
    const mirrorer = await runMirrorer(config, caPem, log);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => {
        log.info("stopping", { signal });
        void mirrorer.stop().then(() => process.exit(0));
      });
    }
  } catch (e) {
    log.error(e instanceof ConfigError ? e.message : `cannot start: ${errorMessage(e)}`);
    process.exit(e instanceof ConfigError ? 2 : 1);
  }
}
