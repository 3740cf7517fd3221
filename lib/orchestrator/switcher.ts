// Registry switcher (docs/architecture.md#registry-switcher): what `d8-system/deckhouse-registry`
// must say for the target mode, the patch that makes it say so, and whether deckhouse-controller
// already runs with it.
import type { DeckhouseRegistrySnapshot, SwitcherPodSnapshot } from "./model";
import type { UpstreamRegistryParams, StageResult } from "./bashible";
import { computeHash } from "./hash";
import { REGISTRY_ADDRESS } from "../domain/names";
import { MANAGED_IMAGES_PATH, splitImagesRepo } from "./registry-address";

export interface RegistrySecretConfig {
  address: string;
  path: string;
  scheme: string;
  ca?: string;
  dockerConfigJson: string;
}

export type SwitchParams =
  | { managed: { ca: string; username: string; password: string } }
  | { unmanaged: UpstreamRegistryParams };

function dockerConfigJson(host: string, username?: string, password?: string): string {
  if (!username && !password) return JSON.stringify({ auths: { [host]: {} } });
  const u = username ?? "";
  const p = password ?? "";
  const auth = Buffer.from(`${u}:${p}`).toString("base64");
  return JSON.stringify({ auths: { [host]: { username: u, password: p, auth } } });
}

export function desiredRegistrySecret(params: SwitchParams): RegistrySecretConfig {
  if ("managed" in params) {
    const m = params.managed;
    return {
      address: REGISTRY_ADDRESS,
      path: MANAGED_IMAGES_PATH,
      scheme: "https",
      ca: m.ca,
      dockerConfigJson: dockerConfigJson(REGISTRY_ADDRESS, m.username, m.password),
    };
  }
  const u = params.unmanaged;
  const { host, path } = splitImagesRepo(u.imagesRepo);
  return {
    address: host,
    path,
    scheme: u.scheme.toLowerCase(),
    ...(u.ca ? { ca: u.ca } : {}),
    dockerConfigJson: dockerConfigJson(host, u.username, u.password),
  };
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/**
 * The version deckhouse-controller stamps on its pod as `checksum/registry-version` once it runs
 * with this registry: SHA-256 of the JSON of the secret's fields, bytes as base64 as Go marshals
 * `[]byte`.
 */
export function registrySecretHash(c: RegistrySecretConfig): string {
  return computeHash({
    address: b64(c.address),
    path: b64(c.path),
    scheme: b64(c.scheme),
    ...(c.ca ? { ca: b64(c.ca) } : {}),
    ".dockerconfigjson": b64(c.dockerConfigJson),
  });
}

export function sameRegistrySecret(
  desired: RegistrySecretConfig,
  current: DeckhouseRegistrySnapshot | undefined,
): boolean {
  return (
    current !== undefined &&
    desired.address === (current.address ?? "") &&
    desired.path === (current.path ?? "") &&
    desired.scheme === (current.scheme ?? "") &&
    (desired.ca ?? "") === (current.ca ?? "") &&
    desired.dockerConfigJson === (current.dockerConfigJson ?? "")
  );
}

/** Merge patch of the secret's `data` (a `null` removes a CA the target no longer has). */
export function registrySecretPatch(desired: RegistrySecretConfig): Record<string, unknown> {
  return {
    data: {
      address: b64(desired.address),
      path: b64(desired.path),
      scheme: b64(desired.scheme),
      ca: desired.ca ? b64(desired.ca) : null,
      ".dockerconfigjson": b64(desired.dockerConfigJson),
    },
  };
}

export function switchReadiness(
  desired: RegistrySecretConfig,
  current: DeckhouseRegistrySnapshot | undefined,
  pod: SwitcherPodSnapshot | undefined,
): StageResult {
  if (!sameRegistrySecret(desired, current)) {
    return { ready: false, message: "Updating registry for deckhouse components" };
  }
  if (pod === undefined) return { ready: false, message: "Waiting for deckhouse-controller pod" };
  if (pod.registryVersion !== registrySecretHash(desired)) {
    return { ready: false, message: "Applying new registry to deckhouse-controller" };
  }
  if (!pod.ready) {
    return { ready: false, message: "Waiting for deckhouse-controller to become ready" };
  }
  return { ready: true, message: "" };
}
