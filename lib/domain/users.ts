// Users of the module's registries (docs/architecture.md#users): `ro`, `rw`, `mirror-puller`,
// `mirror-pusher`, each `{name, password, password_hash}` in `state.users` (values keys `ro`, `rw`,
// `mirror_puller`, `mirror_pusher`) and in Secret `registry-user-<name>` (keys `name`, `password`,
// `passwordHash`).
//
// A bcrypt check at cost 10 takes ~65 ms in bcryptjs; four of them on every hook run would dwarf
// the run. So a hash from state that an earlier run already checked is trusted after a format
// check (`stateChecked`, docs/adr/0040), and bcryptjs is loaded only when a hash is computed or
// checked.
import type * as BcryptModule from "bcryptjs";
import type { RegistryMode } from "./settings";
import { isBlank, randomString, type RandomSource } from "./secrets";

export const REGISTRY_USER_NAMES = ["ro", "rw", "mirror-puller", "mirror-pusher"] as const;
export type RegistryUserName = (typeof REGISTRY_USER_NAMES)[number];
export type UserValuesKey = "ro" | "rw" | "mirror_puller" | "mirror_pusher";

/** Key of each user under `state.users`. */
export const USER_VALUES_KEY: Readonly<Record<RegistryUserName, UserValuesKey>> = {
  ro: "ro",
  rw: "rw",
  "mirror-puller": "mirror_puller",
  "mirror-pusher": "mirror_pusher",
};

/** User name of each `state.users` key. */
export const USER_NAME_BY_VALUES_KEY: Readonly<Record<UserValuesKey, RegistryUserName>> = {
  ro: "ro",
  rw: "rw",
  mirror_puller: "mirror-puller",
  mirror_pusher: "mirror-pusher",
};

export const USER_PASSWORD_LENGTH = 16;
export const BCRYPT_COST = 10;
export const USER_SECRET_PREFIX = "registry-user-";

export type UserSecretName = `${typeof USER_SECRET_PREFIX}${RegistryUserName}`;

export function userSecretName(name: RegistryUserName): UserSecretName {
  return `${USER_SECRET_PREFIX}${name}`;
}

/** A user as kept in `state.users`. */
export interface RegistryUser {
  name: string;
  password: string;
  password_hash: string;
}

export type UsersState = Partial<Record<UserValuesKey, RegistryUser>>;

/** A `registry-user-<name>` Secret as the orchestrator's users binding projects it. */
export interface UserSecretSnapshot {
  /** When given, it must be `registry-user-<name>` of the user asked for, or the Secret is ignored. */
  secretName?: string;
  name: string;
  password: string;
  passwordHash: string;
}

/**
 * Users each mode runs with (docs/architecture.md#users): Direct and Unmanaged none, Proxy `ro`,
 * Local all four.
 */
export function usersForMode(mode: RegistryMode): readonly RegistryUserName[] {
  switch (mode) {
    case "Direct":
    case "Unmanaged":
      return [];
    case "Proxy":
      return ["ro"];
    case "Local":
      return REGISTRY_USER_NAMES;
  }
}

// ---------------------------------------------------------------------------------------------
// Password hashes.

type Bcrypt = typeof BcryptModule;
let bcryptModule: Promise<Bcrypt> | undefined;
function loadBcrypt(): Promise<Bcrypt> {
  bcryptModule ??= import("bcryptjs").then(m => ("default" in m ? m.default : m) as Bcrypt);
  return bcryptModule;
}

/** `$2a$`/`$2b$`/`$2y$`, two-digit cost, 22 characters of salt and 31 of hash. */
const BCRYPT_SHAPE = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

export function isBcryptHash(hash: string): boolean {
  return BCRYPT_SHAPE.test(hash);
}

/** bcrypt of `password` at cost 10, its salt drawn from `random` (so tests are reproducible). */
export async function hashPassword(password: string, random: RandomSource): Promise<string> {
  const bcrypt = await loadBcrypt();
  const salt = random(16);
  if (salt.length < 16) throw new Error("random source returned fewer than 16 bytes");
  const encodedSalt = bcrypt.encodeBase64(Array.from(salt.subarray(0, 16)), 16);
  return bcrypt.hashSync(password, `$2a$${BCRYPT_COST}$${encodedSalt}`);
}

/** Whether `hash` is a bcrypt hash of `password` (a real bcrypt check). */
export async function passwordMatches(password: string, hash: string): Promise<boolean> {
  if (!isBcryptHash(hash)) return false;
  return (await loadBcrypt()).compareSync(password, hash);
}

export interface HashCheckOptions {
  /**
   * The password `previousHash` was checked against by the run that stored both. When it equals
   * the current password and the hash is well formed, no bcrypt check is done.
   */
  checkedPassword?: string | undefined;
}

/**
 * The bcrypt hash to keep for `password` (docs/architecture.md#in-cluster-proxy, upstream user of
 * the in-cluster proxy): empty password ⇒ "" (no hash); `previousHash` kept while it matches; else
 * a new cost-10 hash.
 */
export async function ensurePasswordHash(
  password: string,
  previousHash: string | undefined,
  random: RandomSource,
  options: HashCheckOptions = {},
): Promise<string> {
  if (password === "") return "";
  if (previousHash !== undefined && previousHash !== "") {
    if (options.checkedPassword === password && isBcryptHash(previousHash)) return previousHash;
    if (await passwordMatches(password, previousHash)) return previousHash;
  }
  return hashPassword(password, random);
}

// ---------------------------------------------------------------------------------------------
// Users.

export interface UserInputs {
  /** The user under `state.users`. */
  state?: RegistryUser | undefined;
  /**
   * True when `state` comes from values this hook wrote, whose hash was checked against its
   * password before it was written: a well-formed hash is then trusted without bcrypt. Leave it
   * false for state restored from the `registry-state` Secret.
   */
  stateChecked?: boolean | undefined;
  /** The user from `registry-init` (`ro_user`, `rw_user`) on the initialisation run. */
  seed?: RegistryUser | undefined;
  /** The `registry-user-<name>` Secret snapshot. */
  secret?: UserSecretSnapshot | undefined;
}

export type UserSource = "seed" | "state" | "secret" | "generated";

export interface EnsuredUser {
  user: RegistryUser;
  source: UserSource;
  /** True when the hash was recomputed (missing or not matching the password). */
  rehashed: boolean;
}

/**
 * One user (docs/architecture.md#users, `processUser` of the original): the first usable of seed
 * (registry-init), state and the `registry-user-<name>` Secret — usable meaning named `name` and
 * with a non-blank password — else a new user with a 16-character password from `[a-zA-Z0-9]`. Then
 * the hash is recomputed (cost 10) unless it matches the password.
 *
 * Unlike the original, a record whose name is not `name` is not usable: the Secret name and the
 * registry ACL are keyed by it (docs/adr/0040).
 */
export async function ensureUser(
  name: RegistryUserName,
  inputs: UserInputs,
  random: RandomSource,
): Promise<EnsuredUser> {
  const usable = (u: RegistryUser | undefined): u is RegistryUser =>
    u !== undefined && u.name === name && !isBlank(u.password);
  const fromSecret: RegistryUser | undefined =
    inputs.secret !== undefined &&
    (inputs.secret.secretName === undefined || inputs.secret.secretName === userSecretName(name))
      ? {
          name: inputs.secret.name,
          password: inputs.secret.password,
          password_hash: inputs.secret.passwordHash,
        }
      : undefined;

  let source: UserSource;
  let user: RegistryUser;
  if (usable(inputs.seed)) {
    source = "seed";
    user = inputs.seed;
  } else if (usable(inputs.state)) {
    source = "state";
    user = inputs.state;
  } else if (usable(fromSecret)) {
    source = "secret";
    user = fromSecret;
  } else {
    const password = randomString(USER_PASSWORD_LENGTH, random);
    const password_hash = await hashPassword(password, random);
    return { user: { name, password, password_hash }, source: "generated", rehashed: false };
  }

  const checked = source === "state" && inputs.stateChecked === true;
  const password_hash = await ensurePasswordHash(user.password, user.password_hash, random, {
    checkedPassword: checked ? user.password : undefined,
  });
  return {
    user: { name, password: user.password, password_hash },
    source,
    rehashed: password_hash !== user.password_hash,
  };
}

export interface UsersInputs {
  state?: UsersState | undefined;
  stateChecked?: boolean | undefined;
  /** `registry-init` users: `ro_user` seeds `ro`, `rw_user` seeds `rw`. */
  seed?: UsersState | undefined;
  secrets?: readonly UserSecretSnapshot[] | undefined;
}

export interface EnsuredUsers {
  /** Exactly the requested users; others are dropped from the state. */
  users: UsersState;
  outcomes: Partial<Record<RegistryUserName, Omit<EnsuredUser, "user">>>;
}

/** `ensureUser` for each of `names` (e.g. `usersForMode(mode)`), in the order given. */
export async function ensureUsers(
  names: readonly RegistryUserName[],
  inputs: UsersInputs,
  random: RandomSource,
): Promise<EnsuredUsers> {
  const users: UsersState = {};
  const outcomes: EnsuredUsers["outcomes"] = {};
  for (const name of names) {
    const key = USER_VALUES_KEY[name];
    const secretName = userSecretName(name);
    const { user, source, rehashed } = await ensureUser(
      name,
      {
        state: inputs.state?.[key],
        stateChecked: inputs.stateChecked,
        seed: inputs.seed?.[key],
        secret: inputs.secrets?.find(s => s.secretName === secretName),
      },
      random,
    );
    users[key] = user;
    outcomes[name] = { source, rehashed };
  }
  return { users, outcomes };
}
