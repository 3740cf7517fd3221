// Orchestrator hook: the mode state machine's input side (spec §5.1–§5.2 steps 1–4, 7, 11).
// Bound on beforeHelm and on every watched object, in its own queue, because each run recomputes
// from snapshots: events may be combined or skipped, and values patches are lost on restart.
import { createHash } from "node:crypto";
import { parseRegistrySettings } from "../lib/domain/settings";
import { defineHook } from "../lib/runtime/define-hook";
import * as b from "./orchestrator/bindings";
import type { OrchestratorState } from "./orchestrator/state";
import {
  narrowOrchestratorValues,
  ORCHESTRATOR_PATH,
  parseStateDocument,
} from "./orchestrator/state";

export default defineHook({
  name: "orchestrator",
  queue: "/modules/registry/orchestrator",
  group: "main",
  beforeHelm: 10,
  kubernetes: {
    config: b.moduleConfig,
    state: b.stateSecret,
    "registry-secret": b.deckhouseRegistrySecret,
    pki: b.pkiSecret,
    users: b.userSecrets,
    "registry-service": b.registryService,
    "incluster-proxy": b.inClusterProxy,
    "registry-switcher": b.registrySwitcher,
    "bashible-->nodes": b.bashibleNodes,
    "bashible-->secret": b.bashibleSecret,
    "node-services-->master-nodes": b.masterNodes,
    "node-services-->static-pods": b.staticPods,
    "node-services-->configs": b.nodeConfigSecrets,
    "init-secret": b.initSecret,
  },
  async handler({ snapshots, hasSnapshot, values, log }) {
    // Fail closed: a run without the settings snapshot cannot tell "absent" from "not delivered".
    if (!hasSnapshot("config")) throw new Error("the run carries no snapshot of binding config");
    const current = narrowOrchestratorValues(values.get(ORCHESTRATOR_PATH));
    let state: OrchestratorState = current.state ?? {};

    if (!state.mode) {
      state = await restoreState(snapshots.state[0]?.state, state, log.warn);
      state.mode ??= "Unmanaged";
    }

    const config = snapshots.config[0];
    if (!config) {
      // No ModuleConfig/deckhouse: nothing to orchestrate, and nothing stale may drive templates.
      values.remove(ORCHESTRATOR_PATH);
      log.info("ModuleConfig deckhouse is absent: orchestrator is idle");
      return;
    }

    // Invalid settings fail the run: the operator retries, and values stay as they were.
    const params = parseRegistrySettings(config.registry ?? {}, config.generation);
    log.addSecret(params.upstream?.password);

    const hash = inputsHash([params, snapshots, values.get("registry.internal.checker.state")]);
    values.set(ORCHESTRATOR_PATH, {
      ...(current.ready === undefined ? {} : { ready: current.ready }),
      hash,
      state,
    });
  },
});

async function restoreState(
  document: string | undefined,
  fallback: OrchestratorState,
  warn: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<OrchestratorState> {
  if (document === undefined) return fallback;
  try {
    return { ...fallback, ...(await parseStateDocument(document)) };
  } catch (err) {
    // A damaged state secret must not block the module: start over from Unmanaged, loudly.
    warn("cannot restore state from Secret registry-state", { error: (err as Error).message });
    return fallback;
  }
}

/** sha256 over the JSON of every input, as the original's helpers.ComputeHash. */
function inputsHash(inputs: unknown[]): string {
  const hash = createHash("sha256");
  for (const input of inputs) hash.update(JSON.stringify(input) ?? "null");
  return hash.digest("hex");
}
