// Checker params (`registry.internal.checker.params`, written by the orchestrator, restored from
// the checker state secret): registries to check, keyed by queue name (registry host, or master
// node name in Local mode), the params version and the check mode. docs/architecture.md#values,
// #checker item 37.
import type { CheckMode } from "../domain/settings";
// the OCI modules themselves, not the barrel: the barrel brings the HTTP client, which a hook run
// that does not check images must not load
import { OciError } from "../oci/errors";
import { parseRepository, type RepositoryName } from "../oci/reference";
import { Problems, type Section } from "../validation/reader";

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

export const EMPTY_PARAMS: CheckerParams = { registries: {}, version: "", checkMode: "Default" };

/** Reads fail fast: the first problem is the error, `<field>: <rule>`. */
function problems(): Problems {
  return new Problems("checker params", {
    failFast: ({ field, rule }) => new CheckerParamsError(`${field}: ${rule}`),
  });
}

/**
 * Validates params as the orchestrator and the state secret give them. Every error names the
 * field (`params.registries.<name>.<field>`) and the rule.
 */
export function parseCheckerParams(value: unknown, at = "params"): CheckerParams {
  if (value === undefined || value === null) return { ...EMPTY_PARAMS, registries: {} };
  const root = problems().root(value, at);
  const version = root.string("version") ?? "";
  const checkMode = oneOf(root, "checkMode", CHECK_MODES) ?? "Default";
  const registries: Record<string, RegistryParams> = {};
  const raw = root.section("registries");
  for (const name of (raw?.keys() ?? []).sort()) {
    registries[name] = parseRegistryParams(raw?.section(name, { required: true }) as Section);
  }
  return { registries, version, checkMode };
}

const CHECK_MODES = ["Default", "Relax"] as const;
const SCHEMES = ["HTTP", "HTTPS"] as const;

/** One of `allowed`; the rule quotes what was given (these values are never secret). */
function oneOf<T extends string>(s: Section, key: string, allowed: readonly T[]): T | undefined {
  const v = s.get(key);
  if (v === undefined || (allowed as readonly unknown[]).includes(v)) return v as T | undefined;
  s.reject(key, `must be one of ${allowed.join(", ")} (got ${JSON.stringify(v)})`);
  return undefined;
}

function parseRegistryParams(s: Section): RegistryParams {
  const address = s.string("address");
  if (address === undefined) s.reject("address", "required");
  const scheme = oneOf(s, "scheme", SCHEMES) ?? "HTTPS";
  const ca = s.string("ca");
  const username = s.string("username");
  const password = s.string("password");
  if (username !== undefined && password === undefined)
    s.reject("password", "required when username is set");
  if (password !== undefined && username === undefined)
    s.reject("username", "required when password is set");
  try {
    parseRepository(address as string);
  } catch (err) {
    s.reject("address", err instanceof OciError ? err.message : String(err));
  }
  return {
    address: address as string,
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
