// The orchestrator's own record in values (`registry.internal.orchestrator`) and its restore from
// the `registry-state` secret (docs/architecture.md#orchestrator steps 1–2). The state machine that
// fills the rest of the state lives in the domain core (lib/orchestrator/state.ts owns its type);
// this file only reads what is there and fails on a shape it cannot trust, naming the field.
import type { RegistryMode } from "../../lib/domain/settings";
import { REGISTRY_MODES } from "../../lib/domain/settings";
import type { State } from "../../lib/orchestrator/state";
import { isRecord } from "../../lib/validation/reader";
import { NarrowError } from "../../lib/runtime/narrow";

export const ORCHESTRATOR_PATH = "registry.internal.orchestrator";

export interface OrchestratorValues {
  hash?: string;
  ready?: boolean;
  state?: State;
}

function mode(value: unknown, field: string): RegistryMode | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "string" && (REGISTRY_MODES as readonly string[]).includes(value)) {
    return value as RegistryMode;
  }
  throw new NarrowError(
    `${field}: must be one of ${REGISTRY_MODES.join(", ")}, got ${JSON.stringify(value)}`,
  );
}

/**
 * The modes are checked here, since every run branches on them; everything else the state
 * machine keeps (pki, users, bashible, conditions …) is carried as is. In values the operator
 * has checked it against openapi/values.yaml, and the registry-state document is what this hook
 * wrote there (publicState).
 */
export function narrowState(value: unknown, field: string): State {
  if (!isRecord(value)) throw new NarrowError(`${field}: expected an object`);
  const state = { ...value } as State;
  const m = mode(value.mode, `${field}.mode`);
  const t = mode(value.target_mode, `${field}.target_mode`);
  if (m === undefined) delete state.mode;
  else state.mode = m;
  if (t === undefined) delete state.target_mode;
  else state.target_mode = t;
  return state;
}

export function narrowOrchestratorValues(value: unknown): OrchestratorValues {
  if (value === undefined) return {};
  if (!isRecord(value)) throw new NarrowError(`${ORCHESTRATOR_PATH}: expected an object`);
  const out: OrchestratorValues = {};
  if (value.hash !== undefined) {
    if (typeof value.hash !== "string")
      throw new NarrowError(`${ORCHESTRATOR_PATH}.hash: expected a string`);
    out.hash = value.hash;
  }
  if (value.ready !== undefined) {
    if (typeof value.ready !== "boolean")
      throw new NarrowError(`${ORCHESTRATOR_PATH}.ready: expected a boolean`);
    out.ready = value.ready;
  }
  if (value.state !== undefined) out.state = narrowState(value.state, `${ORCHESTRATOR_PATH}.state`);
  return out;
}

/**
 * Parses `data.state` of the `registry-state` secret (YAML, as the original module writes it).
 * The YAML parser is loaded only here: restoring happens once after an operator restart.
 */
export async function parseStateDocument(document: string): Promise<State> {
  const { parse } = await import("yaml");
  return narrowState(parse(document), "Secret registry-state data.state");
}
