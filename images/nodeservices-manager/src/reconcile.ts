// What the manager does with what it sees (docs/architecture.md#node-services "Manager behaviour"):
// not a master ⇒ stop the node services; own pod not Ready ⇒ wait (its image-holder containers have
// not pulled the images the static pod will use); config secret missing ⇒ stop; config invalid ⇒
// keep what runs and report; otherwise write the files. Nothing is decided before every watch has
// listed once: an unsynced cache cannot tell "secret deleted" from "not seen yet".
import { errorMessage, type Log } from "../../common/src/log";
import { MetricsRegistry } from "../../common/src/metrics";
import {
  parseEgressProxy,
  parseNodeConfig,
  type NodeConfig,
} from "../../../lib/dataplane/node-config";
import type { ManagerSettings } from "./config";
import { applyFiles, removeFiles, type ApplyReport } from "./files";
import { renderNodeFiles } from "./render";

export const MASTER_LABELS = [
  "node-role.kubernetes.io/master",
  "node-role.kubernetes.io/control-plane",
];

export interface Observed {
  synced: boolean;
  /** the node config secret's decoded data; null when it does not exist */
  secret: { config?: string; version?: string; egressProxy?: string } | null;
  /**
   * null when the Node does not exist. `internalIP`: its first InternalIP address — the address
   * the orchestrator issues the node's certificate for, and the one the services listen on.
   */
  node: { labels: Record<string, string>; internalIP?: string } | null;
  /** own pod readiness; null when the pod is not found (or not watched) */
  podReady: boolean | null;
}

export type Decision =
  | { kind: "wait"; reason: string }
  | { kind: "stop"; reason: string }
  | { kind: "invalid"; reason: string }
  | { kind: "apply"; config: NodeConfig };

/**
 * The node's address: the Node's InternalIP as the API server has it now, HOST_IP (the pod's
 * status.hostIP, frozen when the container started) only while the Node shows none. A master
 * whose address changed gets a re-issued certificate for the new one; reading it from the Node
 * keeps the manager in step without a restart (docs/adr/0091).
 */
export function nodeAddress(o: Observed, settings: ManagerSettings): string {
  return o.node?.internalIP ?? settings.hostIP;
}

export function decide(o: Observed, settings: ManagerSettings): Decision {
  if (!o.synced) return { kind: "wait", reason: "waiting for the initial list of watched objects" };
  if (!o.node) return { kind: "stop", reason: `node ${settings.nodeName} does not exist` };
  if (!MASTER_LABELS.some(l => l in o.node!.labels))
    return { kind: "stop", reason: `node ${settings.nodeName} is not a master` };
  if (settings.podName && o.podReady !== true)
    return { kind: "wait", reason: `own pod ${settings.podName} is not Ready` };
  if (!o.secret) return { kind: "stop", reason: "node config secret is absent" };
  if (!o.secret.config) return { kind: "invalid", reason: "node config secret has no key config" };
  try {
    const config = parseNodeConfig(
      o.secret.config,
      o.secret.version,
      nodeAddress(o, settings),
      "node config secret",
    );
    if (o.secret.egressProxy !== undefined)
      config.egressProxy = parseEgressProxy(o.secret.egressProxy, "node config secret");
    return { kind: "apply", config };
  } catch (e) {
    return { kind: "invalid", reason: errorMessage(e) };
  }
}

export interface ReconcileStatus {
  decision: Decision["kind"];
  /** the node address the last reconcile used */
  hostIP?: string;
  reason?: string;
  version?: string;
  lastRun?: Date;
  lastError?: string;
}

/** Runs `decide` + the file changes, one at a time; requests during a run coalesce into one more. */
export class Reconciler {
  readonly metrics = new MetricsRegistry();
  readonly #runs = this.metrics.counter(
    "registry_nodeservices_manager_reconciles_total",
    "Reconciles by outcome (apply, stop, wait, invalid, error).",
  );
  readonly #fileChanges = this.metrics.counter(
    "registry_nodeservices_manager_file_changes_total",
    "Files written or removed.",
  );
  readonly #lastSuccess = this.metrics.gauge(
    "registry_nodeservices_manager_last_success_timestamp_seconds",
    "When the last reconcile finished without error.",
  );
  status: ReconcileStatus = { decision: "wait", reason: "not started" };
  #observed: Observed = { synced: false, secret: null, node: null, podReady: null };
  #running: Promise<void> | undefined;
  #again = false;

  constructor(
    readonly settings: ManagerSettings,
    readonly log: Log,
  ) {}

  update(change: Partial<Observed>): Promise<void> {
    this.#observed = { ...this.#observed, ...change };
    return this.trigger();
  }

  get observed(): Observed {
    return this.#observed;
  }

  trigger(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#once();
      } while (this.#again);
      this.#running = undefined;
    })();
    return this.#running;
  }

  async #once(): Promise<void> {
    const decision = decide(this.#observed, this.settings);
    const previous = this.status;
    const hostIP = nodeAddress(this.#observed, this.settings);
    if (previous.hostIP !== undefined && previous.hostIP !== hostIP)
      this.log.info("node address changed", { from: previous.hostIP, to: hostIP });
    try {
      const report = await this.#act(decision, hostIP, previous);
      this.#fileChanges.inc({}, report ? report.written.length + report.removed.length : 0);
      this.#logOutcome(decision, report, previous);
      this.status = {
        decision: decision.kind,
        hostIP,
        reason: decisionReason(decision),
        version: decision.kind === "apply" ? decision.config.version : undefined,
        lastRun: new Date(),
      };
      this.#runs.inc({ outcome: decision.kind });
      this.#lastSuccess.set(Date.now() / 1000);
    } catch (e) {
      this.#runs.inc({ outcome: "error" });
      this.status = { ...this.status, lastError: errorMessage(e), lastRun: new Date() };
      this.log.error("reconcile failed", { error: errorMessage(e) });
    }
  }

  /** Brings the files in line with the decision; undefined when it leaves them as they are. */
  async #act(
    decision: Decision,
    hostIP: string,
    previous: ReconcileStatus,
  ): Promise<ApplyReport | undefined> {
    switch (decision.kind) {
      case "wait":
        return undefined;
      case "invalid":
        // a bad config never tears down running services: the last good files stay
        if (previous.reason !== decision.reason)
          this.log.error("node config is invalid; files left as they are", {
            reason: decision.reason,
          });
        return undefined;
      case "stop":
        return removeFiles(this.settings.rootDir);
      case "apply":
        return applyFiles(
          this.settings.rootDir,
          renderNodeFiles(decision.config, { ...this.settings, hostIP }),
        );
    }
  }

  /** Files changed are logged every time; otherwise only a new decision or reason is. */
  #logOutcome(
    decision: Decision,
    report: ApplyReport | undefined,
    previous: ReconcileStatus,
  ): void {
    const changed = report ? report.written.length + report.removed.length : 0;
    if (report && changed > 0) {
      this.log.info(`node services ${decision.kind === "apply" ? "configured" : "stopped"}`, {
        written: report.written,
        removed: report.removed,
        ...(decision.kind === "apply"
          ? { version: decision.config.version }
          : { reason: decisionReason(decision) }),
      });
    } else if (
      decision.kind !== previous.decision ||
      decisionReason(decision) !== previous.reason
    ) {
      this.log.info("reconciled", { decision: decision.kind, reason: decisionReason(decision) });
    }
  }
}

function decisionReason(d: Decision): string | undefined {
  return d.kind === "apply" ? undefined : d.reason;
}
