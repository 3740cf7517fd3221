// The real key material behind the state machine: module PKI (lib/domain/pki.ts), HTTP secret
// and users (lib/domain/secrets.ts, users.ts) with the system's randomness and clock.
import { createCertificateFactory } from "../domain/certificate-factory";
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

export function createDefaultDeps(options: DefaultDepsOptions = {}): OrchestratorDeps {
  const now = options.now ?? (() => new Date());
  const random = options.random ?? cryptoRandom;
  const pkiDeps = {
    now,
    certificates: options.certificates ?? createCertificateFactory({ random }),
  };
  return {
    now,
    async ensurePki({ state, secret, initCa }) {
      const usable = (p: typeof state) => (p?.ca && p.token ? { ca: p.ca, token: p.token } : p);
      return (await ensurePki({ state: usable(state), secret: usable(secret), initCa }, pkiDeps))
        .pki;
    },
    async ensureLeaves(previous, ca, hosts) {
      return (await ensureServiceCertificates(previous, ca, hosts, pkiDeps)).certificates;
    },
    ensureHttpSecret: previous => ensureSecrets({ http: previous }, random).secrets.http,
    async ensureUser(key, previous, secret) {
      const name = USER_NAME_BY_VALUES_KEY[key];
      // State users come from values this hook wrote after checking them: no bcrypt to re-check.
      const inputs = {
        state: previous,
        stateChecked: true,
        secret: secret && { secretName: `registry-user-${name}`, ...secret },
      };
      return (await ensureUser(name, inputs, random)).user;
    },
    ensurePasswordHash: (password, previousHash, previousPassword) =>
      ensurePasswordHash(password, previousHash, random, { checkedPassword: previousPassword }),
  };
}
