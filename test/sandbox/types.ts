// The contract between the sandbox's parts: the scenario a user writes (scenario.ts parses it),
// the engine that plays it on real nodes (sandbox.ts), the pull loop's records, the live view and
// the report (live-view.ts, report.ts). Pure types: nothing here starts a process.

/** `spec.settings.registry` of ModuleConfig/deckhouse, or "legacy" for a cluster without it. */
export type RegistrySettings = Record<string, unknown> | "legacy";

/** Faults the engine knows how to inject while the step's switch runs. */
export type FaultName =
  | "master-down" // one master's static pods killed; pulls go through the other masters
  | "upstream-down" // the upstream registry stopped; cached images pull, uncached fail, then recover
  | "containerd-restart" // containerd on a worker restarted mid-switch
  | "operator-restart"; // addon-operator restarted mid-switch

/** Which upstream a step's settings point at; the engine substitutes its address, CA and user. */
export type UpstreamName = "ee" | "ce";

export type ScenarioStep =
  | {
      kind: "switch";
      /** 1-based line in the scenario file, for messages. */
      line: number;
      name: string;
      settings: RegistrySettings;
      upstream?: UpstreamName;
    }
  | {
      /** A switch the API server must refuse (admission policy); nothing may change. */
      kind: "refused";
      line: number;
      name: string;
      settings: RegistrySettings;
      upstream?: UpstreamName;
    }
  | {
      kind: "fault";
      line: number;
      name: string;
      fault: FaultName;
      /** The switch during which the fault happens; absent: the fault hits the current mode. */
      settings?: RegistrySettings;
      upstream?: UpstreamName;
    };

export interface Scenario {
  file: string;
  steps: ScenarioStep[];
}

/** One pull by the pull loop: a node's CRI, or the in-cluster client through the fixed address. */
export interface PullRecord {
  /** ms since epoch */
  time: number;
  /** node name, or "in-cluster" */
  node: string;
  /** registry-state `mode` when the pull started, and the scenario step's name */
  mode: string;
  step: string;
  image: string;
  ok: boolean;
  ms: number;
  /** the CRI's or client's message, without credentials */
  error?: string;
  /** the step expected this pull could fail (an uncached image with the upstream down) */
  expectedFailure?: boolean;
}

/** What the live view shows at one moment. */
export interface LiveSnapshot {
  step: string;
  mode: string;
  targetMode: string;
  conditions: { type: string; status: string; message?: string }[];
  /** node name -> `registry.deckhouse.io/version` annotation (undefined when absent) */
  nodeVersions: Record<string, string | undefined>;
  pulls: { attempted: number; failed: number };
  elapsedSeconds: number;
}

/** The `--report FILE` JSON, exactly as the issue states it; one entry per step, in order. */
export interface SandboxReport {
  switches: {
    from: string;
    to: string;
    converged: boolean;
    seconds: number;
    hookRuns: number;
    pulls: { attempted: number; failed: number };
    /** a `refused` step: the API server refused the patch and nothing changed (engine addition) */
    refused?: boolean;
  }[];
  faults: {
    name: string;
    pulls: { attempted: number; failed: number; expectedFailures: number };
  }[];
}
