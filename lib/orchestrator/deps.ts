// What the state machine needs from outside pure logic: time, and key/secret material that must
// be random. Injected so tests control time and can count generations; the default wiring
// (./default-deps.ts) uses the real PKI and user code.
import type { CertKey, Pki, ServiceCertificates } from "../domain/pki";
import type { RegistryUser, UserSecretSnapshot, UserValuesKey } from "../domain/users";

export interface OrchestratorDeps {
  now(): Date;
  /**
   * CA and token certificate: the first usable of state and the `registry-pki` secret, else new;
   * `initCa` (bootstrap, docs/architecture.md#bootstrap) replaces the CA.
   */
  ensurePki(inputs: {
    state?: Partial<Pki> | undefined;
    secret?: Partial<Pki> | undefined;
    initCa?: CertKey | undefined;
    /** False when the state was restored rather than written by this hook (ADR 0041). */
    stateChecked?: boolean | undefined;
  }): Promise<Pki>;
  /** Server certificates for `hosts`, reused while they chain to `ca` and cover the hosts. */
  ensureLeaves(
    previous: Partial<ServiceCertificates> | undefined,
    ca: CertKey,
    hosts: readonly string[],
    options?: { checked?: boolean },
  ): Promise<ServiceCertificates>;
  /** distribution's HTTP secret, kept while present. */
  ensureHttpSecret(previous: string | undefined): string;
  /** A module user, reused (state, then secret) while its hash matches its password. */
  ensureUser(
    key: UserValuesKey,
    previous: RegistryUser | undefined,
    secret: UserSecretSnapshot | undefined,
    options?: { stateChecked?: boolean },
  ): Promise<RegistryUser>;
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
