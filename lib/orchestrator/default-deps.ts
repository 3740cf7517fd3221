// The real key material behind the state machine: module PKI (lib/domain/pki.ts), HTTP secret
// and users (lib/domain/secrets.ts, users.ts) with the system's randomness and clock.
//
// State handed to these functions comes from values this hook wrote after checking it, so it is
// passed as checked: a steady-state run parses no private key and runs no bcrypt (expiry, chain
// and hosts are still checked every run).
import type { CertificateFactory } from "../domain/pki";
import { ensurePki, ensureServiceCertificates } from "../domain/pki";
import type { RandomSource } from "../domain/secrets";
import { cryptoRandom, ensureSecrets } from "../domain/secrets";
import { ensurePasswordHash, ensureUser, USER_NAME_BY_VALUES_KEY } from "../domain/users";
import type { OrchestratorDeps } from "./deps";

export interface DefaultDepsOptions {
  now?: () => Date;
  random?: RandomSource;
  certificates?: CertificateFactory;
}

/**
 * The certificate factory, loaded on first use: it brings the X.509 library, which a run that
 * issues no certificate (nearly every run) should not pay for.
 */
function lazyCertificates(random: RandomSource): CertificateFactory {
  let factory: Promise<CertificateFactory> | undefined;
  const load = () =>
    (factory ??= import("../domain/certificate-factory").then(m =>
      m.createCertificateFactory({ random }),
    ));
  return {
    createCa: async request => (await load()).createCa(request),
    createCertificate: async (request, issuer) => (await load()).createCertificate(request, issuer),
  };
}

export function createDefaultDeps(options: DefaultDepsOptions = {}): OrchestratorDeps {
  const now = options.now ?? (() => new Date());
  const random = options.random ?? cryptoRandom;
  const pkiDeps = { now, certificates: options.certificates ?? lazyCertificates(random) };
  return {
    now,
    async ensurePki({ state, secret, initCa, stateChecked = true }) {
      const pair = (p: typeof state) => (p?.ca && p.token ? { ca: p.ca, token: p.token } : p);
      const inputs = { state: pair(state), stateChecked, secret: pair(secret), initCa };
      return (await ensurePki(inputs, pkiDeps)).pki;
    },
    async ensureLeaves(previous, ca, hosts, { checked = true } = {}) {
      const ensured = await ensureServiceCertificates({ previous, ca, hosts, checked }, pkiDeps);
      return ensured.certificates;
    },
    ensureHttpSecret: previous => ensureSecrets({ http: previous }, random).secrets.http,
    async ensureUser(key, previous, secret, { stateChecked = true } = {}) {
      const name = USER_NAME_BY_VALUES_KEY[key];
      const inputs = { state: previous, stateChecked, secret };
      return (await ensureUser(name, inputs, random)).user;
    },
    ensurePasswordHash: (password, previousHash, previousPassword) =>
      ensurePasswordHash(password, previousHash, random, { checkedPassword: previousPassword }),
  };
}
