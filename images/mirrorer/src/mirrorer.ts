// The mirrorer process: a pass, a pause, again; /healthz /readyz /metrics.
import { RegistryClient } from "../../../lib/oci";
import { errorMessage, type Log } from "../../common/src/log";
import { MetricsRegistry } from "../../common/src/metrics";
import { startMonitoring } from "../../common/src/monitoring";
import { formatHostPort, type HostPort } from "../../../lib/validation/reader";
import type { MirrorerConfig } from "./config";
import { Mirror, type PassReport } from "./sync";

export interface RunningMirrorer {
  monitoring: HostPort;
  /** resolves with the report of the next pass to finish */
  nextPass(): Promise<PassReport>;
  stop(): Promise<void>;
}

export async function runMirrorer(
  config: MirrorerConfig,
  caPem: string,
  log: Log,
): Promise<RunningMirrorer> {
  const { local, remotes } = registryClients(config, caPem);
  const mirror = new Mirror(local, remotes, { concurrency: config.concurrency, log });
  const metrics = new MetricsRegistry();
  const m = passMetrics(metrics);

  const abort = new AbortController();
  let lastPassEnd = Date.now();
  let completedOnce = false;
  /** callers waiting for a pass numbered at least `from` */
  const waiters: { from: number; resolve: (r: PassReport) => void }[] = [];
  let passNumber = 0;
  let wake: (() => void) | undefined;

  const loop = (async () => {
    while (!abort.signal.aborted) {
      const started = Date.now();
      const number = ++passNumber;
      let report: PassReport;
      try {
        report = await mirror.pass(abort.signal);
      } catch (e) {
        if (abort.signal.aborted) break;
        log.error("pass failed", { error: errorMessage(e) });
        m.passes.inc({ result: "failed" });
        await pause(config.intervalMs);
        continue;
      }
      lastPassEnd = Date.now();
      if (recordPass(m, report, lastPassEnd) === "ok") completedOnce = true;
      logPass(log, report, lastPassEnd - started);
      for (const w of waiters.filter(w => w.from <= number)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(report);
      }
      // someone asked for a pass that starts after this one: no pause
      if (waiters.length === 0) await pause(config.intervalMs);
    }
  })();

  function pause(ms: number): Promise<void> {
    return new Promise(resolve => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        abort.signal.removeEventListener("abort", done);
        wake = undefined;
        resolve();
      }
      wake = done;
      abort.signal.addEventListener("abort", done);
    });
  }

  const monitoring = await startMonitoring(config.monitoring.address, {
    live: () => stuck(lastPassEnd, config.intervalMs),
    ready: () => (completedOnce ? undefined : "no complete pass yet"),
    metrics: () => metrics.render(),
  });
  log.info("mirrorer started", {
    local: formatHostPort(config.local),
    remotes: remotes.map(r => r.name),
    monitoring: formatHostPort(monitoring.address),
  });

  return {
    monitoring: monitoring.address,
    nextPass: () => {
      // a pass already running may have read the registries before the caller's changes
      const p = new Promise<PassReport>(resolve => waiters.push({ from: passNumber + 1, resolve }));
      wake?.();
      return p;
    },
    async stop() {
      abort.abort();
      await loop;
      await monitoring.close();
      await Promise.all([local.close(), ...remotes.map(r => r.client.close())]);
    },
  };
}

/** A pass may take long (a large first copy): stuck means no pass end for a long time. */
function stuck(lastPassEnd: number, intervalMs: number): string | undefined {
  const limit = Math.max(6 * intervalMs, 30 * 60_000);
  return Date.now() - lastPassEnd > limit
    ? `no pass finished for ${Date.now() - lastPassEnd} ms`
    : undefined;
}

/** The client of this master's registry (as pusher) and of every other master's (as puller). */
function registryClients(config: MirrorerConfig, caPem: string) {
  const client = (at: HostPort, creds: { name: string; password: string }) =>
    new RegistryClient({
      registry: formatHostPort(at),
      ca: caPem,
      username: creds.name,
      password: creds.password,
      connections: config.concurrency + 2,
      timeoutMs: 120_000,
      userAgent: "deckhouse-registry-mirrorer",
    });
  return {
    local: client(config.local, config.pusher),
    remotes: config.remotes.map(r => ({
      name: formatHostPort(r),
      client: client(r, config.puller),
    })),
  };
}

type PassMetrics = ReturnType<typeof passMetrics>;

function passMetrics(metrics: MetricsRegistry) {
  return {
    passes: metrics.counter(
      "registry_mirrorer_passes_total",
      "Sync passes by result (ok, partial, failed).",
    ),
    lastOk: metrics.gauge(
      "registry_mirrorer_last_complete_pass_timestamp_seconds",
      "End of the last pass without errors.",
    ),
    tags: metrics.counter(
      "registry_mirrorer_tags_copied_total",
      "Tags created or moved on this registry.",
    ),
    manifests: metrics.counter("registry_mirrorer_manifests_copied_total", "Manifests copied."),
    blobs: metrics.counter(
      "registry_mirrorer_blobs_copied_total",
      "Blobs copied, by how (stream, mount).",
    ),
    bytes: metrics.counter(
      "registry_mirrorer_bytes_copied_total",
      "Blob bytes streamed from other masters.",
    ),
    conflicts: metrics.gauge(
      "registry_mirrorer_tag_conflicts",
      "Tags whose digest differs from another master's and was kept (last pass).",
    ),
    errors: metrics.gauge("registry_mirrorer_errors", "Errors in the last pass."),
  };
}

/** Counts a finished pass in the metrics; "ok" when it had no errors. */
function recordPass(m: PassMetrics, report: PassReport, endedAt: number): "ok" | "partial" {
  const result = report.errors.length === 0 ? "ok" : "partial";
  m.passes.inc({ result });
  m.tags.inc({}, report.tagsCopied);
  m.manifests.inc({}, report.manifestsCopied);
  m.blobs.inc({ how: "stream" }, report.blobsCopied);
  m.blobs.inc({ how: "mount" }, report.blobsMounted);
  m.bytes.inc({}, report.bytesCopied);
  m.conflicts.set(report.conflicts.length);
  m.errors.set(report.errors.length);
  if (result === "ok") m.lastOk.set(endedAt / 1000);
  return result;
}

/** A quiet pass (nothing copied, no errors) is logged at debug level only. */
function logPass(log: Log, report: PassReport, ms: number): void {
  const summary = {
    ...report,
    conflicts: report.conflicts.length,
    errors: report.errors.length,
    ms,
  };
  if (report.tagsCopied > 0 || report.errors.length > 0) log.info("pass done", summary);
  else log.debug("pass done", summary);
  for (const c of report.conflicts) log.warn("tag conflict", { conflict: c });
  for (const e of report.errors) log.warn("copy failed; retried next pass", { error: e });
}
