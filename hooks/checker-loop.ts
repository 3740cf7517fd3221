// Checker loop hook (docs/architecture.md#checker): every 10 s, check that each registry of
// `registry.internal.checker.params` holds the images the cluster needs, report
// `registry.internal.checker.state.{version, ready, message}` for the orchestrator, and persist
// state and params in Secret d8-system/registry-checker-state when they changed.
//
// The orchestrator reads the result: `state.version === params.version && state.ready` means the
// images are there; `state.message` is what it shows in `RegistryContainsRequiredImages`.
import { parseCheckerParams } from "../lib/checker/params";
import { collectRequiredImages } from "../lib/checker/required-images";
import { parseCheckerState, stateToValues } from "../lib/checker/state";
import {
  DEFAULT_OPTIONS,
  runTick,
  type CheckerDeps,
  type CheckerOptions,
  type TickEnv,
} from "../lib/checker/tick";
import { defineHook } from "../lib/runtime/define-hook";
import { egressProxyFromValues, moduleRegistryHosts } from "../lib/domain/egress-proxy";
import { recordCheckerMetrics } from "../lib/domain/registry-metrics";
import type { EgressProxy } from "../lib/oci/proxy";
import { isDeepStrictEqual } from "node:util";
import { criticalModules, deckhouseDeployment, stateSecretForLoop } from "./checker/bindings";
import {
  CHECKER_INITIALIZED_PATH,
  MODULE_DIGESTS_PATH,
  CHECKER_PARAMS_PATH,
  secretDocuments,
  CHECKER_STATE_PATH,
  stateSecretObject,
} from "./checker/values";

export interface CheckerLoopOptions extends CheckerOptions {
  /** Clock and registry sessions; default: the system clock and lib/oci. */
  deps?: Partial<CheckerDeps>;
}

export const SCHEDULE_NAME = "checker loop every 10 sec";

const bindings = {
  modules: criticalModules,
  deckhouse: deckhouseDeployment,
  state: stateSecretForLoop,
};

/** The loop hook with its budget, retry delay, workers per registry (3) or I/O given. */
export function createCheckerLoopHook(options: CheckerLoopOptions = {}) {
  const { deps: given, ...tickOptions } = options;
  const budgetMs = tickOptions.budgetMs ?? DEFAULT_OPTIONS.budgetMs;
  // The OCI client (undici, TLS) loads on the first tick, not at the start of every hook run.
  let openRegistry = given?.openRegistry;
  let proxy: EgressProxy | undefined;
  const env: TickEnv = {
    ...tickOptions,
    now: given?.now ?? (() => new Date()),
    openRegistry: (name, params) => {
      if (!openRegistry) throw new Error("checker: the OCI client is not loaded");
      return openRegistry(name, params);
    },
  };
  return defineHook({
    name: "checker-loop",
    queue: "/modules/registry/checker/loop",
    kubernetes: bindings,
    schedule: [
      {
        name: SCHEDULE_NAME,
        crontab: "*/10 * * * * *",
        includeSnapshotsFrom: Object.keys(bindings),
      },
    ],
    handler: async ({ bindingContexts, snapshots, values, log, kubernetes, metrics }) => {
      // only the schedule ticks: a run for anything else (a lifecycle run of a simulator) is
      // not a tick and must not spend a 30 s budget
      if (!bindingContexts.some(c => c.binding === SCHEDULE_NAME)) return;
      // the init hook restores state from the secret first; before that, writing would lose it
      if (values.get(CHECKER_INITIALIZED_PATH) !== true) {
        log.debug("checker not initialized yet: skipping this tick");
        return;
      }
      const params = parseCheckerParams(values.get(CHECKER_PARAMS_PATH));
      for (const r of Object.values(params.registries)) log.addSecret(r.password);
      if (!openRegistry) {
        const { openOciSession } = await import("../lib/checker/oci-session");
        openRegistry = (_name, p) => openOciSession(p, budgetMs, proxy);
      }
      // the cluster's proxy settings, read every tick: a changed proxy applies at the next one
      proxy = egressProxyFromValues(
        values.get("global"),
        moduleRegistryHosts(Object.values(params.registries).map(r => r.address)),
      );
      const previous = parseCheckerState(values.get(CHECKER_STATE_PATH));
      const started = Date.now();
      const result = await runTick(
        previous,
        params,
        () =>
          collectRequiredImages({
            modules: snapshots.modules.filter((m): m is string => m !== null),
            digests: values.get(MODULE_DIGESTS_PATH),
            deckhouse: snapshots.deckhouse[0],
          }),
        env,
      );
      for (const e of result.events) log.info(`checker: ${e.event}`, { ...e });
      const { state } = result;
      if (state.ready !== previous.ready || result.checked > 0) {
        log.info("Checker loop done", {
          checked: result.checked,
          found: result.found,
          ready: state.ready,
          message: state.message,
          durationMs: Date.now() - started,
        });
      }
      recordCheckerMetrics(metrics, state);
      const next = stateToValues(state);
      if (!isDeepStrictEqual(next, stateToValues(previous))) values.set(CHECKER_STATE_PATH, next);

      const docs = await secretDocuments(state, params);
      const stored = snapshots.state[0];
      if (stored?.state !== docs.state || stored?.params !== docs.params) {
        kubernetes.createOrUpdate(stateSecretObject(docs));
      }
    },
  });
}

export default createCheckerLoopHook();
