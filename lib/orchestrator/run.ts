// One run of the state machine: the working copy of the state, and how a step records its
// condition. Steps (./steps.ts) write to it; ./reconcile.ts turns it into the result.
import type { StageResult } from "./bashible";
import type { CheckerParams } from "./checker-gate";
import type { Condition, ConditionType } from "./conditions";
import { setCondition } from "./conditions";
import type { OrchestratorDeps } from "./deps";
import type { OrchestratorInputs } from "./model";
import type { State } from "./state";

/** One run: the working copy of the state plus what the steps decide besides it. */
export class Run {
  readonly state: State;
  conditions: Condition[];
  checkerParams: CheckerParams | undefined;
  registrySecretPatch: Record<string, unknown> | undefined;
  readonly now: Date;

  constructor(
    previous: State,
    readonly inputs: OrchestratorInputs,
    readonly deps: OrchestratorDeps,
  ) {
    this.state = structuredClone(previous);
    this.conditions = this.state.conditions ?? [];
    this.now = deps.now();
  }

  get generation(): number {
    return this.inputs.params.generation;
  }

  /** Records a step's condition; true when the transition may go on. */
  step(type: ConditionType, result: StageResult, readyReason?: "Ready"): boolean {
    this.conditions = setCondition(
      this.conditions,
      result.ready
        ? {
            type,
            status: "True",
            ...(readyReason ? { reason: readyReason, message: result.message } : {}),
          }
        : { type, status: "False", reason: "Processing", message: result.message },
      this.generation,
      this.now,
    );
    return result.ready;
  }

  /** Records a step that cannot go on until its input changes (reason Error); false. */
  fail(type: ConditionType, message: string): false {
    this.conditions = setCondition(
      this.conditions,
      { type, status: "False", reason: "Error", message },
      this.generation,
      this.now,
    );
    return false;
  }

  /**
   * A step with nothing left to do this run keeps the condition it recorded (moved to the end like
   * any step's), so the list stays in execution order on the runs after it finished.
   */
  keep(type: ConditionType): void {
    const previous = this.conditions.find(c => c.type === type);
    if (previous) this.conditions = [...this.conditions.filter(c => c !== previous), previous];
  }

  /** Fault-injection point before each step (OrchestratorDeps.beforeStep; tests crash here). */
  beforeStep(name: string): void {
    this.deps.beforeStep?.(name);
  }
}
