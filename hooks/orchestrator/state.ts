// The orchestrator's own record in values (`registry.internal.orchestrator`) and its restore from
// the `registry-state` secret (spec §5.2 steps 1–2). The state machine that fills the rest of the
// state lives in the domain core; this file only reads what is there and fails on a shape it
// cannot trust, naming the field.
import type { RegistryMode } from "../../lib/domain/settings";
import { REGISTRY_MODES } from "../../lib/domain/settings";
import { isRecord, NarrowError } from "../../lib/runtime/narrow";

export type StateMode = RegistryMode;

export const ORCHESTRATOR_PATH = "registry.internal.orchestrator";

export interface OrchestratorState {
  mode?: StateMode;
  target_mode?: StateMode;
  /** Everything else the state machine keeps (pki, users, bashible, conditions …), carried as is. */
  [key: string]: unknown;
}

export interface OrchestratorValues {
  hash?: string;
  ready?: boolean;
  state?: OrchestratorState;
}

function mode(value: unknown, field: string): StateMode | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value === "string" && (REGISTRY_MODES as readonly string[]).includes(value)) {
    return value as StateMode;
  }
  throw new NarrowError(
    `${field}: must be one of ${REGISTRY_MODES.join(", ")}, got ${JSON.stringify(value)}`,
  );
}

export function narrowState(value: unknown, field: string): OrchestratorState {
  if (!isRecord(value)) throw new NarrowError(`${field}: expected an object`);
  const state: OrchestratorState = { ...value };
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
export async function parseStateDocument(document: string): Promise<OrchestratorState> {
  const { parse } = await import("yaml");
  return narrowState(parse(document), "Secret registry-state data.state");
}
