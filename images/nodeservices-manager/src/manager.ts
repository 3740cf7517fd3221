// The manager process: watches → reconciler → files, plus /healthz /readyz /metrics and a periodic
// resync that repairs files changed behind its back.
import type { KubeConfig } from "@kubernetes/client-node";
import type { Log } from "../../common/src/log";
import { startMonitoring } from "../../common/src/monitoring";
import { formatHostPort, type HostPort } from "../../../lib/validation/reader";
import type { ManagerSettings } from "./config";
import { Reconciler } from "./reconcile";
import { startWatches } from "./watch";

export interface RunningManager {
  reconciler: Reconciler;
  health: HostPort;
  stop(): Promise<void>;
}

export async function runManager(
  settings: ManagerSettings,
  kc: KubeConfig,
  log: Log,
): Promise<RunningManager> {
  const reconciler = new Reconciler(settings, log);
  const watches = startWatches({ kc, settings, reconciler, log });
  const resync = setInterval(() => void reconciler.trigger(), settings.resyncMs);
  const started = Date.now();
  const monitoring = await startMonitoring(settings.healthAddress, {
    live: () => {
      // the loop is alive when a reconcile ran recently (each resync runs one, even when waiting)
      const last = reconciler.status.lastRun?.getTime() ?? started;
      const limit = 3 * settings.resyncMs + 30_000;
      return Date.now() - last > limit ? `no reconcile for ${Date.now() - last} ms` : undefined;
    },
    ready: () => (watches.synced() ? undefined : "watches have not listed yet"),
    metrics: () => reconciler.metrics.render(),
  });
  log.info("nodeservices-manager started", {
    node: settings.nodeName,
    hostIP: settings.hostIP,
    rootDir: settings.rootDir,
    health: formatHostPort(monitoring.address),
  });
  return {
    reconciler,
    health: monitoring.address,
    async stop() {
      clearInterval(resync);
      await watches.stop();
      await monitoring.close();
    },
  };
}
