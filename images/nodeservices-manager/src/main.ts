// The nodeservices-manager program, settings from the environment (docs/dataplane.md); entry
// points: run.ts, and the image's multi-call executable. Exits 2 with every problem listed when
// the settings are invalid. Stopping the manager leaves the node services running: only a
// decision (secret gone, node no longer a master) stops them.
import { KubeConfig } from "@kubernetes/client-node";
import { createLog, errorMessage } from "../../common/src/log";
import { ConfigError } from "../../../lib/validation/reader";
import { parseManagerSettings } from "./config";
import { runManager } from "./manager";

const log = createLog("nodeservices-manager");
export async function main(): Promise<void> {
  try {
    const settings = parseManagerSettings(process.env);
    const kc = new KubeConfig();
    // in the pod: the service account; elsewhere KUBECONFIG or ~/.kube/config
    kc.loadFromDefault();
    const manager = await runManager(settings, kc, log);
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => {
        log.info("stopping", { signal });
        void manager.stop().then(() => process.exit(0));
      });
    }
  } catch (e) {
    log.error(e instanceof ConfigError ? e.message : `cannot start: ${errorMessage(e)}`);
    process.exit(e instanceof ConfigError ? 2 : 1);
  }
}
