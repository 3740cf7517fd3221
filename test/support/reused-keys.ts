// Real certificates on reused key pairs, for tests that switch modes many times: generating RSA
// 2048 keys dominates their run time, and key freshness is not what they check. Certificates,
// chains, SANs and validity stay real (lib/domain/certificate-factory.ts); the PKI tests use
// fresh keys.
import { hooks } from "../../hooks/index";
import { createOrchestratorHook } from "../../hooks/orchestrator";
import type { KeyPair, KeyPairSource } from "../../lib/domain/certificate-factory";
import { createCertificateFactory, generateKeyPair } from "../../lib/domain/certificate-factory";
import { createDefaultDeps } from "../../lib/orchestrator/default-deps";
import type { OrchestratorDeps } from "../../lib/orchestrator/deps";
import type { AnyHook } from "../../lib/runtime/define-hook";

const pairs = new Map<string, Promise<KeyPair>>();

export const reusedKeyPairs: KeyPairSource = algorithm => {
  let pair = pairs.get(algorithm);
  if (!pair) {
    pair = generateKeyPair(algorithm);
    pairs.set(algorithm, pair);
  }
  return pair;
};

export function depsWithReusedKeys(extra: Partial<OrchestratorDeps> = {}): OrchestratorDeps {
  return {
    ...createDefaultDeps({ certificates: createCertificateFactory({ keyPairs: reusedKeyPairs }) }),
    ...extra,
  };
}

/** The module's hooks in their order, the orchestrator's deps on reused key pairs. */
export function hooksWithReusedKeys(): AnyHook[] {
  return hooks.map(h =>
    h.name === "orchestrator" ? createOrchestratorHook(() => depsWithReusedKeys()) : h,
  );
}
