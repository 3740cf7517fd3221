// Conditions bookkeeping of the orchestrator state (docs/architecture.md#orchestrator): the list
// reads in execution order, `lastTransitionTime` moves only when the status flips, every condition
// carries the settings generation it was computed for.

export const CONDITION_TYPES = [
  "Ready",
  "RegistryContainsRequiredImages",
  "ContainerdConfigPreflightReady",
  "TransitionContainerdConfigReady",
  "InClusterProxyReady",
  "NodeServicesReady",
  "DeckhouseRegistrySwitchReady",
  "FinalContainerdConfigReady",
  "CleanupInClusterProxy",
  "CleanupNodeServices",
  "ErrTransitionNotSupported",
] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export type ConditionReason = "Ready" | "Processing" | "Error";

export interface Condition {
  type: string;
  status: "True" | "False";
  reason?: string;
  message?: string;
  lastTransitionTime: string;
  observedGeneration: number;
}

export interface ConditionInput {
  type: ConditionType;
  status: "True" | "False";
  reason?: ConditionReason;
  message?: string;
}

/**
 * Removes the same type and appends the new condition at the end (docs/architecture.md#orchestrator
 * setCondition).
 */
export function setCondition(
  conditions: readonly Condition[],
  input: ConditionInput,
  generation: number,
  now: Date,
): Condition[] {
  const previous = conditions.find(c => c.type === input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    ...(input.reason ? { reason: input.reason } : {}),
    ...(input.message ? { message: input.message } : {}),
    // metav1.Time: RFC 3339 in whole seconds
    lastTransitionTime: now.toISOString().replace(/\.\d+Z$/, "Z"),
    observedGeneration: generation,
  };
  const rest = conditions.filter(c => c.type !== input.type);
  if (!previous) return [...rest, next];
  const same =
    previous.status === next.status &&
    (previous.reason ?? "") === (next.reason ?? "") &&
    (previous.message ?? "") === (next.message ?? "") &&
    previous.observedGeneration === next.observedGeneration;
  if (same) return [...rest, previous];
  if (previous.status === next.status) next.lastTransitionTime = previous.lastTransitionTime;
  return [...rest, next];
}

/**
 * Drops types outside the supported set, then records Ready (docs/architecture.md#orchestrator
 * setReadyCondition).
 */
interface ReadyInput {
  ready: boolean;
  targetMode: string;
  generation: number;
  now: Date;
}

export function setReadyCondition(
  conditions: readonly Condition[],
  { ready, targetMode, generation, now }: ReadyInput,
): Condition[] {
  const supported = conditions.filter(c => (CONDITION_TYPES as readonly string[]).includes(c.type));
  return setCondition(
    supported,
    ready
      ? { type: "Ready", status: "True" }
      : {
          type: "Ready",
          status: "False",
          reason: "Processing",
          message: `Transitioning to ${targetMode}`,
        },
    generation,
    now,
  );
}
