// The PKI material every registry server of the module carries in its config (in-cluster proxy,
// node services), in the JSON keys of those configs.
import type { Pki, ServiceCertificates } from "../domain/pki";

/**
 * The PKI material a registry server's config carries (docs/architecture.md#in-cluster-proxy,
 * #node-services), in its JSON keys.
 */
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
  pki: Pki,
  leaves: ServiceCertificates,
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
export function leavesOf(config: ServerPkiConfig | undefined): ServiceCertificates | undefined {
  return (
    config && {
      auth: { cert: config.auth_cert, key: config.auth_key },
      distribution: { cert: config.distribution_cert, key: config.distribution_key },
    }
  );
}
