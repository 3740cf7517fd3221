// The binding-context engine: one hook's config + the fake cluster + its snapshot caches. It plays
// shell-operator's kube events manager and schedule manager for tests (like the Go
// BindingContextController of shell-operator's test/hook/context): first state → Synchronization,
// later states → Events, schedules and lifecycle bindings → contexts with the current snapshots.
import type { BindingContext, Snapshots } from "../runtime/types";
import type { ClusterInput, ClusterState } from "./cluster";
import type { PendingContext } from "./contexts";
import { renderContext, renderRun } from "./contexts";
import type { HookConfig, ModuleLifecycle } from "./hook-config";
import type { JqEngine } from "./jq";
import type { HarnessLog } from "./snapshots";
import { SnapshotStore } from "./snapshots";

export class BindingContextEngine {
  readonly store: SnapshotStore;
  private synchronized = false;

  constructor(
    readonly config: HookConfig,
    readonly cluster: ClusterState,
    jq: JqEngine | undefined,
    log?: HarnessLog,
  ) {
    this.store = new SnapshotStore(config.kubernetes, jq, log);
  }

  get started(): boolean {
    return this.synchronized;
  }

  /**
   * Replaces the cluster state. The first call lists every binding (Synchronization contexts);
   * later calls produce the watch events of the difference. Nothing is rendered yet.
   */
  changeState(state: ClusterInput): PendingContext[] {
    this.cluster.set(state);
    return this.observe();
  }

  /** Events for whatever changed in the cluster since the caches last looked (e.g. hook writes). */
  observe(): PendingContext[] {
    if (!this.synchronized) {
      this.synchronized = true;
      return this.store.synchronize(this.cluster);
    }
    return this.store.observe(this.cluster);
  }

  /** What one run receives for these pending contexts: combined, compacted, current snapshots. */
  render(pending: readonly PendingContext[]): BindingContext[] {
    return renderRun(pending, this.store);
  }

  /** Deckhouse's KubeStateSet: the new state's contexts, as one combined run. */
  kubeStateSet(state: ClusterInput): BindingContext[] {
    return this.render(this.changeState(state));
  }

  /** Several states in a row whose events queue up and are delivered to one run. */
  kubeStateSequence(states: readonly ClusterInput[]): BindingContext[] {
    return this.render(states.flatMap(s => this.changeState(s)));
  }

  /** Schedule bindings fired by name, or by crontab (every binding with that crontab). */
  schedule(nameOrCrontab: string): BindingContext[] {
    const byName = this.config.schedule.filter(s => s.name === nameOrCrontab);
    const fired =
      byName.length > 0 ? byName : this.config.schedule.filter(s => s.crontab === nameOrCrontab);
    if (fired.length === 0)
      throw new Error(`no schedule binding named or timed ${JSON.stringify(nameOrCrontab)}`);
    return this.render(fired.map(binding => ({ source: "schedule", binding })));
  }

  lifecycle(binding: ModuleLifecycle): BindingContext[] {
    return [renderContext({ source: "lifecycle", binding }, this.store)];
  }

  onStartup(): BindingContext[] {
    return [{ binding: "onStartup" }];
  }

  /** Every binding's current snapshot, as a lifecycle context would carry it. */
  snapshots(): Snapshots {
    return (
      renderContext({ source: "lifecycle", binding: "beforeHelm" }, this.store).snapshots ?? {}
    );
  }
}
