// The checker gate (docs/architecture.md#checker; first step of each mode): which registries the
// checker must prove complete for the target, and whether it has. The checker itself is a separate
// hook; they meet in values: the orchestrator writes `registry.internal.checker.params`, the
// checker reports `registry.internal.checker.state.{version, ready, message}` for the params
// version it checked.
import type { CheckMode } from "../domain/settings";
import type { StageResult, UpstreamRegistryParams } from "./bashible";
import type { CheckerStatus, MasterNodeSnapshot } from "./model";
import { computeHash } from "./hash";
import { MANAGED_IMAGES_PATH, splitImagesRepo } from "./registry-address";

// The checker's own params type (lib/checker/params.ts): the orchestrator writes what it reads.
import type { CheckerParams, RegistryParams as CheckerRegistry } from "../checker/params";

export type { CheckerParams };

function scheme(s: string): "HTTP" | "HTTPS" {
  return s.toUpperCase() === "HTTP" ? "HTTP" : "HTTPS";
}

function params(
  registries: Record<string, CheckerRegistry>,
  targetMode: string,
  checkMode: CheckMode,
): CheckerParams {
  return { registries, checkMode, version: computeHash(registries, targetMode, checkMode) };
}

/** Direct, Proxy and configurable Unmanaged: the upstream itself, keyed by its host. */
export function upstreamCheckerParams(
  upstream: UpstreamRegistryParams,
  targetMode: string,
  checkMode: CheckMode,
): CheckerParams {
  const registry: CheckerRegistry = {
    address: upstream.imagesRepo,
    scheme: scheme(upstream.scheme),
    ...(upstream.ca ? { ca: upstream.ca } : {}),
    ...(upstream.username ? { username: upstream.username } : {}),
    ...(upstream.password ? { password: upstream.password } : {}),
  };
  return params({ [splitImagesRepo(upstream.imagesRepo).host]: registry }, targetMode, checkMode);
}

/** Local: every master's own registry, keyed by node name, through the module CA and ro user. */
export function localCheckerParams(
  masters: readonly MasterNodeSnapshot[],
  ca: string,
  ro: { name: string; password: string },
  checkMode: CheckMode,
): CheckerParams {
  const registries: Record<string, CheckerRegistry> = {};
  for (const m of [...masters].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!m.ip) continue;
    registries[m.name] = {
      address: `${m.ip}:5001${MANAGED_IMAGES_PATH}`,
      scheme: "HTTPS",
      ca,
      username: ro.name,
      password: ro.password,
    };
  }
  return params(registries, "Local", checkMode);
}

/** Nothing to check (non-configurable Unmanaged): the checker reports `Stopped`, ready. */
export function emptyCheckerParams(): CheckerParams {
  return params({}, "Unmanaged", "Default");
}

export function checkerReadiness(expected: CheckerParams, status: CheckerStatus): StageResult {
  if (status.version !== expected.version) return { ready: false, message: "Initializing" };
  const message = status.message ?? "";
  return status.ready ? { ready: true, message } : { ready: false, message };
}
