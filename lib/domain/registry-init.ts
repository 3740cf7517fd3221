// The bootstrap hand-over (docs/architecture.md#bootstrap): dhctl creates Secret
// `d8-system/registry-init` whose `data.config` is YAML `{ca: {cert, key}, ro_user: {name,
// password, password_hash}, rw_user}`. On the first run the orchestrator seeds the module CA and
// users from it (see `ensurePki` `initCa` and `ensureUsers` `seed`). Only the shape is checked
// here; whether the CA is usable is decided by `ensurePki`, which needs the clock.
//
// Read with lib/validation's reader, failing at the first problem. Error messages name the field
// and never quote values: they are keys and passwords.
import type { CertKey } from "./pki";
import type { RegistryUser, UsersState } from "./users";
import { Problems, type Section } from "../validation/reader";

export const INIT_CONFIG_FIELD = "Secret registry-init data.config";

export class InitConfigError extends Error {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = "InitConfigError";
    this.field = field;
    this.reason = reason;
  }
}

export interface InitConfig {
  ca?: CertKey;
  ro_user?: RegistryUser;
  rw_user?: RegistryUser;
}

function parseUser(s: Section | undefined): RegistryUser | undefined {
  if (!s) return undefined;
  // the reader's optional strings: absent, null and "" are all "not set"
  const name = s.string("name");
  const password = s.string("password");
  const passwordHash = s.string("password_hash");
  if (name === undefined && password === undefined && passwordHash === undefined) return undefined;
  if (name === undefined) s.reject("name", "required");
  if (password === undefined) s.reject("password", "required");
  return { name: name as string, password: password as string, password_hash: passwordHash ?? "" };
}

/**
 * The init config from an already parsed document. Unknown keys are ignored (newer dhctl
 * versions may add some); an empty section counts as absent; a CA needs both `cert` and `key`,
 * a user both `name` and `password` (`password_hash` is recomputed when missing or wrong).
 */
export function parseInitConfig(document: unknown, field = INIT_CONFIG_FIELD): InitConfig {
  if (document === undefined || document === null) return {};
  const root = new Problems(field, {
    failFast: ({ field, rule }) => new InitConfigError(field, rule),
  }).root(document, field);
  const out: InitConfig = {};
  const ca = root.section("ca");
  if (ca !== undefined) {
    const cert = ca.string("cert");
    const key = ca.string("key");
    if (cert !== undefined || key !== undefined) {
      if (cert === undefined) ca.reject("cert", "required with ca.key");
      if (key === undefined) ca.reject("key", "required with ca.cert");
      out.ca = { cert: cert as string, key: key as string };
    }
  }
  for (const key of ["ro_user", "rw_user"] as const) {
    const user = parseUser(root.section(key));
    if (user !== undefined) out[key] = user;
  }
  return out;
}

/**
 * Parses the YAML text of `data.config`. The YAML parser is loaded only here: the init secret is
 * read once per cluster.
 */
export async function parseInitConfigYaml(text: string): Promise<InitConfig> {
  const { parseDocument } = await import("yaml");
  const doc = parseDocument(text, { prettyErrors: false });
  const [error] = doc.errors;
  if (error !== undefined) {
    // The parser's own message quotes the offending source line, which may hold a key.
    const offset = Math.min(error.pos[0], text.length);
    const before = text.slice(0, offset);
    const line = before.split("\n").length;
    const column = offset - before.lastIndexOf("\n");
    throw new InitConfigError(
      INIT_CONFIG_FIELD,
      `not valid YAML (${error.code} at line ${line}, column ${column})`,
    );
  }
  return parseInitConfig(doc.toJS());
}

/** The users the init config seeds, keyed as `state.users`. */
export function initSeedUsers(config: InitConfig): UsersState {
  const users: UsersState = {};
  if (config.ro_user !== undefined) users.ro = config.ro_user;
  if (config.rw_user !== undefined) users.rw = config.rw_user;
  return users;
}
