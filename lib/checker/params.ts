// Checker params (`registry.internal.checker.params`, written by the orchestrator, restored from
// the checker state secret): registries to check, keyed by queue name (registry host, or master
// node name in Local mode), the params version and the check mode. Spec §3.3, §10, §21.7 item 37.
import type { CheckMode } from "../domain/settings";
// the OCI modules themselves, not the barrel: the barrel brings the HTTP client, which a hook run
// that does not check images must not load
import { OciError } from "../oci/errors";
import { parseRepository, type RepositoryName } from "../oci/reference";

export interface RegistryParams {
  /** Repository address: `host[:port]/path`. */
  address: string;
  scheme: "HTTP" | "HTTPS";
  ca?: string;
  username?: string;
  password?: string;
}

export interface CheckerParams {
  registries: Record<string, RegistryParams>;
  version: string;
  checkMode: CheckMode;
}

export class CheckerParamsError extends Error {
  override name = "CheckerParamsError";
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function optionalString(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new CheckerParamsError(`${field}: must be a string`);
  return v;
}

export const EMPTY_PARAMS: CheckerParams = { registries: {}, version: "", checkMode: "Default" };

/**
 * Validates params as the orchestrator and the state secret give them. Every error names the
 * field (`params.registries.<name>.<field>`) and the rule.
 */
export function parseCheckerParams(value: unknown, at = "params"): CheckerParams {
  if (value === undefined || value === null) return { ...EMPTY_PARAMS, registries: {} };
  if (!isRecord(value)) throw new CheckerParamsError(`${at}: must be an object`);
  const version = optionalString(value.version, `${at}.version`) ?? "";
  const mode = value.checkMode ?? "Default";
  if (mode !== "Default" && mode !== "Relax") {
    throw new CheckerParamsError(
      `${at}.checkMode: must be one of Default, Relax (got ${JSON.stringify(mode)})`,
    );
  }
  const raw = value.registries ?? {};
  if (!isRecord(raw)) throw new CheckerParamsError(`${at}.registries: must be an object`);
  const registries: Record<string, RegistryParams> = {};
  for (const name of Object.keys(raw).sort()) {
    registries[name] = parseRegistryParams(raw[name], `${at}.registries.${name}`);
  }
  return { registries, version, checkMode: mode };
}

function parseRegistryParams(value: unknown, at: string): RegistryParams {
  if (!isRecord(value)) throw new CheckerParamsError(`${at}: must be an object`);
  const address = optionalString(value.address, `${at}.address`);
  if (address === undefined) throw new CheckerParamsError(`${at}.address: required`);
  const scheme = value.scheme ?? "HTTPS";
  if (scheme !== "HTTP" && scheme !== "HTTPS") {
    throw new CheckerParamsError(
      `${at}.scheme: must be one of HTTP, HTTPS (got ${JSON.stringify(scheme)})`,
    );
  }
  const ca = optionalString(value.ca, `${at}.ca`);
  const username = optionalString(value.username, `${at}.username`);
  const password = optionalString(value.password, `${at}.password`);
  if (username !== undefined && password === undefined) {
    throw new CheckerParamsError(`${at}.password: required when username is set`);
  }
  if (password !== undefined && username === undefined) {
    throw new CheckerParamsError(`${at}.username: required when password is set`);
  }
  try {
    parseRepository(address);
  } catch (err) {
    const why = err instanceof OciError ? err.message : String(err);
    throw new CheckerParamsError(`${at}.address: ${why}`);
  }
  return {
    address,
    scheme,
    ...(ca === undefined ? {} : { ca }),
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

/** The repository the registry's items live in. */
export function registryRepository(params: RegistryParams): RepositoryName {
  return parseRepository(params.address);
}
