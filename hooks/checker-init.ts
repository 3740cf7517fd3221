// Checker init hook (docs/architecture.md#checker): once per module start — while
// `registry.internal.checker.initialized` is false — restore the checker's state and params
// from Secret d8-system/registry-checker-state. A damaged state starts empty; params that fail
// validation are reset to empty; both are logged, neither fails the run: the loop and the
// orchestrator rebuild what is missing.
import { EMPTY_PARAMS, parseCheckerParams, type CheckerParams } from "../lib/checker/params";
import {
  EMPTY_STATE,
  parseCheckerState,
  stateToValues,
  type CheckerState,
} from "../lib/checker/state";
import { defineHook } from "../lib/runtime/define-hook";
import type { Logger } from "../lib/runtime/logger";
import { isRecord } from "../lib/validation/reader";
import { stateSecret, STATE_SECRET } from "./checker/bindings";
import {
  CHECKER_INITIALIZED_PATH,
  CHECKER_PARAMS_PATH,
  paramsToValues,
  CHECKER_STATE_PATH,
} from "./checker/values";

/** A YAML error without the document excerpt the parser adds (it may show a password). */
function describe(err: unknown): string {
  if (err instanceof Error && "code" in err && "linePos" in err) {
    const at = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    const code = String((err as { code: unknown }).code);
    return `invalid YAML (${code}${at ? ` at line ${at.line}, column ${at.col}` : ""})`;
  }
  return err instanceof Error ? err.message : String(err);
}

type Parse = (text: string) => unknown;

function restoreState(text: string | undefined, parse: Parse, log: Logger): CheckerState {
  if (!text) return EMPTY_STATE;
  try {
    return parseCheckerState(parse(text), "secret state");
  } catch (err) {
    log.warn("Cannot restore checker state from the secret: starting empty", {
      error: describe(err),
    });
    return EMPTY_STATE;
  }
}

function restoreParams(text: string | undefined, parse: Parse, log: Logger): CheckerParams {
  if (!text) return EMPTY_PARAMS;
  try {
    const raw: unknown = parse(text);
    // registered before validation, so no message about a bad entry can show its password
    redactPasswords(raw, log);
    return parseCheckerParams(raw, "secret params");
  } catch (err) {
    log.warn("Checker params from the secret failed validation: reset to empty", {
      error: describe(err),
    });
    return EMPTY_PARAMS;
  }
}

function redactPasswords(raw: unknown, log: Logger): void {
  if (!isRecord(raw) || !isRecord(raw.registries)) return;
  for (const r of Object.values(raw.registries)) {
    if (isRecord(r) && typeof r.password === "string") log.addSecret(r.password);
  }
}

export default defineHook({
  name: "checker-init",
  queue: "/modules/registry/checker/init",
  kubernetes: { state: stateSecret },
  handler: async ({ bindingContexts, snapshots, values, log }) => {
    // restore only from a run that carries the secret's snapshot (its Synchronization): a run
    // without it cannot tell "no secret" from "not delivered" and would reset the params
    if (!bindingContexts.some(c => c.binding === "state")) return;
    if (values.get(CHECKER_INITIALIZED_PATH) === true) return;
    log.info("Checker state not initialized, trying to restore it from the secret");
    let state: CheckerState = EMPTY_STATE;
    let params: CheckerParams = EMPTY_PARAMS;
    const secret = snapshots.state[0];
    // the YAML parser loads only for this once-per-start restore
    const { parse } = await import("yaml");
    if (!secret) {
      log.info(`Secret ${STATE_SECRET} not found: starting with an empty checker state`);
    } else {
      state = restoreState(secret.state, parse, log);
      params = restoreParams(secret.params, parse, log);
      log.info(`Checker state restored from Secret ${STATE_SECRET}`);
    }
    values.set(CHECKER_STATE_PATH, stateToValues(state));
    values.set(CHECKER_PARAMS_PATH, paramsToValues(params));
    values.set(CHECKER_INITIALIZED_PATH, true);
  },
});
