// The module's own metrics, emitted by the hooks through the metrics recorder (lib/runtime) in
// explicit groups, so that each run replaces its group as a whole (a condition that disappeared
// takes its series with it). Deckhouse adds `hook` and `module` labels. docs/adr/0093.
//
//   group registry_orchestrator
//     d8_registry_mode{mode, target_mode}                                    1
//     d8_registry_switch_in_progress                                         1 while mode != target_mode or not Ready
//     d8_registry_condition_status{type}                                     1 True, 0 False
//     d8_registry_condition_last_transition_timestamp_seconds{type}          lastTransitionTime
//   group registry_checker
//     d8_registry_checker_ready                                              1 when every image was found
//     d8_registry_checker_items{registry, state}   processed: found; remaining: still to find;
//                                                   failed: of those, the ones whose last check failed
import type { Metrics } from "../runtime/collectors";

export const ORCHESTRATOR_METRICS_GROUP = "registry_orchestrator";
export const CHECKER_METRICS_GROUP = "registry_checker";

export interface OrchestratorSnapshot {
  mode?: string;
  target_mode?: string;
  ready: boolean;
  conditions?: readonly { type: string; status: string; lastTransitionTime?: string }[];
}

export function recordOrchestratorMetrics(metrics: Metrics, s: OrchestratorSnapshot): void {
  const g = ORCHESTRATOR_METRICS_GROUP;
  // a batch with ops of a group replaces the whole group: stale series (old mode, dropped
  // conditions) go with it, so no explicit expire (which could race the sets in the same batch)
  const mode = s.mode ?? "Unmanaged";
  const target = s.target_mode ?? mode;
  metrics.set("d8_registry_mode", 1, { mode, target_mode: target }, g);
  metrics.set("d8_registry_switch_in_progress", mode !== target || !s.ready ? 1 : 0, {}, g);
  for (const c of s.conditions ?? []) {
    metrics.set("d8_registry_condition_status", c.status === "True" ? 1 : 0, { type: c.type }, g);
    const at = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
    if (Number.isFinite(at)) {
      metrics.set(
        "d8_registry_condition_last_transition_timestamp_seconds",
        Math.floor(at / 1000),
        { type: c.type },
        g,
      );
    }
  }
}

export interface CheckerSnapshot {
  ready: boolean;
  queues: Record<
    string,
    { processed: number; items: readonly unknown[]; retry: readonly unknown[] }
  >;
}

export function recordCheckerMetrics(metrics: Metrics, s: CheckerSnapshot): void {
  const g = CHECKER_METRICS_GROUP;
  metrics.set("d8_registry_checker_ready", s.ready ? 1 : 0, {}, g);
  for (const [registry, q] of Object.entries(s.queues)) {
    metrics.set("d8_registry_checker_items", q.processed, { registry, state: "processed" }, g);
    const pending = [...q.items, ...q.retry];
    const failed = pending.filter(i => (i as { error?: string }).error !== undefined).length;
    metrics.set("d8_registry_checker_items", pending.length, { registry, state: "remaining" }, g);
    metrics.set("d8_registry_checker_items", failed, { registry, state: "failed" }, g);
  }
}
