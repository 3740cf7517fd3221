// What the state machine needs from outside pure logic: time, and key/secret material that must
// be random. Injected so tests control time and can count generations; the default wiring
// (./default-deps.ts) uses the real PKI and user code.

export interface CertKey {
  cert: string;
  key: string;
}

export interface PkiState {
  ca: CertKey;
  token: CertKey;
}

export interface UserState {
  name: string;
  password: string;
  password_hash: string;
}

export type UserKey = "ro" | "rw" | "mirror_puller" | "mirror_pusher";

/** A user as the `registry-user-<name>` secret shows it. */
export interface UserSecret {
  name: string;
  password: string;
  passwordHash: string;
}

/** The PKI material a registry server's config carries (spec §7.1, §7.2), in its JSON keys. */
export interface ServerPkiConfig {
  ca: string;
  auth_cert: string;
  auth_key: string;
  token_cert: string;
  token_key: string;
  distribution_cert: string;
  distribution_key: string;
  http_secret: string;
}

/** That material for a server with these leaves. */
export function serverPkiConfig(
  pki: PkiState,
  leaves: LeafCertificates,
  httpSecret: string,
): ServerPkiConfig {
  return {
    ca: pki.ca.cert,
    auth_cert: leaves.auth.cert,
    auth_key: leaves.auth.key,
    token_cert: pki.token.cert,
    token_key: pki.token.key,
    distribution_cert: leaves.distribution.cert,
    distribution_key: leaves.distribution.key,
    http_secret: httpSecret,
  };
}

/** The leaves a previous server config holds, for reuse. */
export function leavesOf(config: ServerPkiConfig | undefined): LeafCertificates | undefined {
  return (
    config && {
      auth: { cert: config.auth_cert, key: config.auth_key },
      distribution: { cert: config.distribution_cert, key: config.distribution_key },
    }
  );
}

export interface LeafCertificates {
  auth: CertKey;
  distribution: CertKey;
}

export interface OrchestratorDeps {
  now(): Date;
  /**
   * CA and token certificate: the first usable of state and the `registry-pki` secret, else new;
   * `initCa` (bootstrap, spec §13) replaces the CA.
   */
  ensurePki(inputs: {
    state?: Partial<PkiState> | undefined;
    secret?: Partial<PkiState> | undefined;
    initCa?: CertKey | undefined;
    /** False when the state was restored rather than written by this hook (ADR 0041). */
    stateChecked?: boolean | undefined;
  }): Promise<PkiState>;
  /** Server certificates for `hosts`, reused while they chain to `ca` and cover the hosts. */
  ensureLeaves(
    previous: Partial<LeafCertificates> | undefined,
    ca: CertKey,
    hosts: readonly string[],
    options?: { checked?: boolean },
  ): Promise<LeafCertificates>;
  /** distribution's HTTP secret, kept while present. */
  ensureHttpSecret(previous: string | undefined): string;
  /** A module user, reused (state, then secret) while its hash matches its password. */
  ensureUser(
    key: UserKey,
    previous: UserState | undefined,
    secret: UserSecret | undefined,
    options?: { stateChecked?: boolean },
  ): Promise<UserState>;
  /**
   * bcrypt of `password`, `previousHash` kept while it matches; when `previousPassword` (what the
   * hash was made for) equals `password`, a well-formed hash is kept without running bcrypt.
   */
  ensurePasswordHash(
    password: string,
    previousHash: string | undefined,
    previousPassword: string | undefined,
  ): Promise<string>;
  /** Test hook: called before each step; a throw there simulates a crash at that step. */
  beforeStep?(step: string): void;
}
