// Where the checker lives in values, and its secret (docs/architecture.md#values, #objects): the
// one place both checker hooks and their tests take these names from.
import type { CheckerParams } from "../../lib/checker/params";
import { stateToValues, type CheckerState } from "../../lib/checker/state";
import type { KubeObject } from "../../lib/runtime/types";
import { MODULE_NAMESPACE } from "../../lib/domain/names";
import { STATE_SECRET } from "./bindings";

export const CHECKER_PATH = "registry.internal.checker";
export const CHECKER_INITIALIZED_PATH = `${CHECKER_PATH}.initialized`;
export const CHECKER_PARAMS_PATH = `${CHECKER_PATH}.params`;
export const CHECKER_STATE_PATH = `${CHECKER_PATH}.state`;
export const MODULE_DIGESTS_PATH = "global.modulesImages.digests";

/** Values form of params: the schema's layout, optional fields left out when empty. */
export function paramsToValues(params: CheckerParams): Record<string, unknown> {
  return {
    registries: params.registries,
    ...(params.version ? { version: params.version } : {}),
    checkMode: params.checkMode,
  };
}

/** The two YAML documents of the checker state secret (the YAML emitter loads only here). */
export async function secretDocuments(state: CheckerState, params: CheckerParams) {
  const { stringify } = await import("yaml");
  return {
    state: stringify(stateToValues(state), { lineWidth: 0 }),
    params: stringify(paramsToValues(params), { lineWidth: 0 }),
  };
}

export function stateSecretObject(docs: { state: string; params: string }): KubeObject {
  const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "registry-checker/state",
    metadata: {
      name: STATE_SECRET,
      namespace: MODULE_NAMESPACE,
      labels: { heritage: "deckhouse", module: "registry" },
    },
    data: { state: b64(docs.state), params: b64(docs.params) },
  };
}
