// The module PKI (docs/architecture.md#pki): the CA `registry-ca`, the token-signing certificate
// and the leaf certificates of the auth and distribution servers
// (docs/architecture.md#in-cluster-proxy, #node-services).
//
// Everything is kept while it is still good and regenerated exactly where it is not, because every
// new certificate rolls out to the nodes and restarts registry pods. "Good" is checked here with
// node:crypto only (cheap, synchronous); generation goes through an injected CertificateFactory
// whose default (lib/domain/certificate-factory.ts) loads @peculiar/x509 on first use, so a
// steady-state hook run neither generates keys nor loads the X.509 builder.
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { REGISTRY_SERVICE_HOST } from "./names";
import { ipFamily } from "../validation/ip";

/** A certificate and its private key, both PEM. */
export interface CertKey {
  cert: string;
  key: string;
}

/** The module CA and the token-signing pair (`state.pki`, Secret `registry-pki`). */
export interface Pki {
  ca: CertKey;
  token: CertKey;
}

export const CA_COMMON_NAME = "registry-ca";
export const TOKEN_COMMON_NAME = "registry-auth-token";
export const AUTH_COMMON_NAME = "registry-auth";
export const DISTRIBUTION_COMMON_NAME = "registry-distribution";

const HOUR_MS = 3_600_000;
/** 87600h, as the original CA. */
export const CA_LIFETIME_MS = 87_600 * HOUR_MS;
/** Token and leaf certificates end this long before their CA (NotAfter = CA NotAfter − 1h). */
export const LEAF_MARGIN_MS = HOUR_MS;
/** notBefore is set this far in the past so nodes whose clock lags a little accept new certs. */
export const BACKDATE_MS = 5 * 60_000;

export type KeyAlgorithm = "ECDSA-P256" | "RSA-2048";

export interface CertificateRequest {
  commonName: string;
  keyAlgorithm: KeyAlgorithm;
  notBefore: Date;
  notAfter: Date;
  /** DNS names and IP addresses for subjectAltName (none for the CA and the token cert). */
  hosts: readonly string[];
}

/** Issues certificates with fresh keys. Injected so tests can supply pre-generated keys. */
export interface CertificateFactory {
  /** A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign/cRLSign). */
  createCa(request: CertificateRequest): Promise<CertKey>;
  /** An end-entity certificate signed by `issuer` (a CA as accepted by `caProblem`). */
  createCertificate(request: CertificateRequest, issuer: CertKey): Promise<CertKey>;
}

export interface PkiDeps {
  now(): Date;
  certificates: CertificateFactory;
}

/** Bad input (a CA handed to the module) that the module must not silently replace. */
export class PkiError extends Error {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = "PkiError";
    this.field = field;
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks. Each returns why a pair is not usable (no key material in the text), or undefined.

interface Parsed {
  cert: X509Certificate;
  notAfter: Date;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Decodes a pair. Parsing an RSA private key is the dearest part of a steady-state run (a few ms
 * per key in a cold process), so `keyChecked` — the pair was stored together by a run that
 * checked the key against the certificate — skips the key.
 */
function parsePair(pair: CertKey, keyChecked: boolean): Parsed | string {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pair.cert);
  } catch (err) {
    return `certificate does not decode: ${errorText(err)}`;
  }
  if (!keyChecked) {
    let key: KeyObject;
    try {
      key = createPrivateKey(pair.key);
    } catch (err) {
      return `private key does not decode: ${errorText(err)}`;
    }
    let matches: boolean;
    try {
      matches = cert.checkPrivateKey(key);
    } catch {
      matches = false;
    }
    if (!matches) return "private key does not match the certificate";
  } else if (!pair.key.includes("PRIVATE KEY-----")) {
    return "private key is not PEM";
  }
  const notAfter = new Date(cert.validTo);
  if (Number.isNaN(notAfter.getTime()))
    return `unreadable notAfter ${JSON.stringify(cert.validTo)}`;
  return { cert, notAfter };
}

/** Key types this module can sign with (what an operator-supplied CA may reasonably hold). */
const SIGNING_CURVES = new Set(["prime256v1", "secp384r1", "secp521r1"]);

function signingKeyProblem(publicKey: KeyObject): string | undefined {
  const type = publicKey.asymmetricKeyType;
  if (type === "rsa") return undefined;
  if (type === "ec") {
    const curve = publicKey.asymmetricKeyDetails?.namedCurve ?? "unknown";
    return SIGNING_CURVES.has(curve) ? undefined : `unsupported CA key curve ${curve}`;
  }
  return `unsupported CA key type ${type ?? "unknown"}`;
}

function parseCa(pair: CertKey, now: Date, keyChecked = false): Parsed | string {
  const parsed = parsePair(pair, keyChecked);
  if (typeof parsed === "string") return parsed;
  if (!parsed.cert.ca) return "not a CA certificate (basicConstraints CA:TRUE missing)";
  // A CA this close to its end could only issue leaves that are already expired.
  if (parsed.notAfter.getTime() - LEAF_MARGIN_MS <= now.getTime()) {
    return `expires ${parsed.notAfter.toISOString()}, less than 1h from now`;
  }
  return signingKeyProblem(parsed.cert.publicKey) ?? parsed;
}

/** Why `ca` cannot serve as the module CA at `now`, or undefined when it can. */
export function caProblem(ca: CertKey, now: Date): string | undefined {
  const parsed = parseCa(ca, now);
  return typeof parsed === "string" ? parsed : undefined;
}

function hostProblem(cert: X509Certificate, hosts: readonly string[]): string | undefined {
  const missing = hosts.filter(host =>
    ipFamily(host) === 0
      ? cert.checkHost(host, { subject: "never" }) === undefined
      : cert.checkIP(host) === undefined,
  );
  return missing.length > 0 ? `subjectAltName does not cover ${missing.join(", ")}` : undefined;
}

/** What an issued certificate is checked against; `keyChecked` skips the key-pair check. */
interface IssuedCheck {
  now: Date;
  hosts: readonly string[];
  keyChecked?: boolean;
}

function issuedProblem(pair: CertKey, ca: Parsed, { now, hosts, keyChecked = false }: IssuedCheck) {
  const parsed = parsePair(pair, keyChecked);
  if (typeof parsed === "string") return parsed;
  if (parsed.cert.ca) return "a CA certificate where an end-entity one belongs";
  if (parsed.notAfter.getTime() <= now.getTime()) {
    return `expired ${parsed.notAfter.toISOString()}`;
  }
  let signed: boolean;
  try {
    signed = parsed.cert.checkIssued(ca.cert) && parsed.cert.verify(ca.cert.publicKey);
  } catch {
    signed = false;
  }
  if (!signed) return "not signed by the module CA";
  return hostProblem(parsed.cert, hosts);
}

/**
 * Why `pair` is not a usable certificate of the module CA `ca` at `now` for `hosts` (every DNS
 * name / IP must be in subjectAltName), or undefined when it is. Also reports a bad CA.
 */
export function certificateProblem(
  pair: CertKey,
  ca: CertKey,
  now: Date,
  hosts: readonly string[] = [],
): string | undefined {
  const parsedCa = parseCa(ca, now);
  if (typeof parsedCa === "string") return `CA: ${parsedCa}`;
  return issuedProblem(pair, parsedCa, { now, hosts });
}

// ---------------------------------------------------------------------------------------------
// CA and token certificate.

export type PkiSource = "state" | "secret" | "init" | "generated";

export interface PkiInputs {
  /** `state.pki` from values. */
  state?: Partial<Pki> | undefined;
  /**
   * True when `state` comes from values this hook wrote (each key was checked against its
   * certificate before): state keys are then not parsed again (docs/adr/0041). Leave it false
   * for state restored from the `registry-state` Secret.
   */
  stateChecked?: boolean | undefined;
  /** The `registry-pki` Secret snapshot: used for a part the state lacks or holds unusable. */
  secret?: Partial<Pki> | undefined;
  /**
   * The CA of `registry-init` (docs/architecture.md#bootstrap), passed only on the initialisation
   * run: it replaces the CA (and so everything the previous CA signed). An unusable one is an
   * error, not replaced.
   */
  initCa?: CertKey | undefined;
}

export interface EnsuredPki {
  pki: Pki;
  sources: { ca: PkiSource; token: PkiSource };
  /** Why candidates were passed over, e.g. `state.pki.token: not signed by the module CA`. */
  problems: string[];
}

function caRequest(now: Date): CertificateRequest {
  return {
    commonName: CA_COMMON_NAME,
    keyAlgorithm: "ECDSA-P256",
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
    hosts: [],
  };
}

function leafRequest(commonName: string, ca: Parsed, now: Date, hosts: readonly string[]) {
  return {
    commonName,
    keyAlgorithm: "RSA-2048",
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(ca.notAfter.getTime() - LEAF_MARGIN_MS),
    hosts: [...hosts],
  } satisfies CertificateRequest;
}

async function generate(what: string, make: () => Promise<CertKey>): Promise<CertKey> {
  try {
    return await make();
  } catch (err) {
    throw new Error(`cannot generate ${what} certificate: ${errorText(err)}`, { cause: err });
  }
}

/**
 * The CA and token certificate for this run (docs/architecture.md#pki):
 *   * CA: the `registry-init` CA when given (must be usable, else PkiError), else the first
 *     usable of state and secret, else a new ECDSA P-256 `registry-ca` valid 10 years;
 *   * token: the first of state and secret that is usable (key matches, not expired, signed by
 *     that CA), else a new RSA 2048 `registry-auth-token` ending 1h before the CA.
 * Usable means decodable, key matching the certificate (taken as checked for state pairs with
 * `stateChecked`), not expired; for the CA also CA:TRUE, a key it can sign with and more than 1h
 * left; for the token not a CA certificate. Nothing is regenerated that passes.
 */
export async function ensurePki(inputs: PkiInputs, deps: PkiDeps): Promise<EnsuredPki> {
  const now = deps.now();
  const problems: string[] = [];

  let ca: { pair: CertKey; parsed: Parsed; source: PkiSource } | undefined;
  if (inputs.initCa !== undefined) {
    const parsed = parseCa(inputs.initCa, now);
    if (typeof parsed === "string") throw new PkiError("Secret registry-init config.ca", parsed);
    ca = { pair: inputs.initCa, parsed, source: "init" };
  }
  const candidates: [Exclude<PkiSource, "init" | "generated">, Partial<Pki> | undefined][] = [
    ["state", inputs.state],
    ["secret", inputs.secret],
  ];
  const keyChecked = (source: PkiSource) => source === "state" && inputs.stateChecked === true;
  for (const [source, from] of candidates) {
    if (ca !== undefined) break;
    if (from?.ca === undefined) continue;
    const parsed = parseCa(from.ca, now, keyChecked(source));
    if (typeof parsed === "string") problems.push(`${source}.pki.ca: ${parsed}`);
    else ca = { pair: from.ca, parsed, source };
  }
  if (ca === undefined) {
    const pair = await generate("CA", () => deps.certificates.createCa(caRequest(now)));
    const parsed = parseCa(pair, now);
    if (typeof parsed === "string") throw new Error(`generated CA is not usable: ${parsed}`);
    ca = { pair, parsed, source: "generated" };
  }

  let token: { pair: CertKey; source: PkiSource } | undefined;
  for (const [source, from] of candidates) {
    if (from?.token === undefined) continue;
    const problem = issuedProblem(from.token, ca.parsed, {
      now,
      hosts: [],
      keyChecked: keyChecked(source),
    });
    if (problem === undefined) {
      token = { pair: from.token, source };
      break;
    }
    problems.push(`${source}.pki.token: ${problem}`);
  }
  if (token === undefined) {
    const { parsed, pair: issuer } = ca;
    const pair = await generate(TOKEN_COMMON_NAME, () =>
      deps.certificates.createCertificate(leafRequest(TOKEN_COMMON_NAME, parsed, now, []), issuer),
    );
    token = { pair, source: "generated" };
  }

  return {
    pki: { ca: copy(ca.pair), token: copy(token.pair) },
    sources: { ca: ca.source, token: token.source },
    problems,
  };
}

function copy(pair: CertKey): CertKey {
  return { cert: pair.cert, key: pair.key };
}

// ---------------------------------------------------------------------------------------------
// Leaf certificates of the auth and distribution servers.

/** SANs of the in-cluster proxy's certificates (docs/architecture.md#in-cluster-proxy). */
export const IN_CLUSTER_PROXY_HOSTS: readonly string[] = [
  "127.0.0.1",
  "localhost",
  REGISTRY_SERVICE_HOST,
];

/** SANs of a master's node-services certificates (docs/architecture.md#node-services). */
export function nodeServicesHosts(nodeInternalIP: string): string[] {
  if (ipFamily(nodeInternalIP) === 0) {
    throw new PkiError(
      "node InternalIP",
      `must be an IP address, got ${JSON.stringify(nodeInternalIP)}`,
    );
  }
  return ["127.0.0.1", "localhost", nodeInternalIP, REGISTRY_SERVICE_HOST];
}

export type ServiceCertificateName = "auth" | "distribution";

export interface ServiceCertificates {
  auth: CertKey;
  distribution: CertKey;
}

const SERVICE_COMMON_NAMES: Record<ServiceCertificateName, string> = {
  auth: AUTH_COMMON_NAME,
  distribution: DISTRIBUTION_COMMON_NAME,
};

export interface ServiceCertificateRequest {
  previous?: Partial<ServiceCertificates> | undefined;
  /** The module CA; must be usable (see `ensurePki`). */
  ca: CertKey;
  /** Every DNS name / IP the certificates must cover. */
  hosts: readonly string[];
  /**
   * True when `previous` comes from values this hook wrote and `ca` from `ensurePki` in this
   * run: their private keys were checked against their certificates already and are not parsed
   * again. Expiry, chain and hosts are always checked.
   */
  checked?: boolean | undefined;
}

export interface EnsuredServiceCertificates {
  certificates: ServiceCertificates;
  /** Which of the two were issued by this call. */
  generated: ServiceCertificateName[];
  /** Why the previous ones were passed over, e.g. `distribution: subjectAltName does not cover 10.0.0.2`. */
  problems: string[];
}

/**
 * The `registry-auth` and `registry-distribution` certificates of one server (in-cluster proxy or
 * one master's node services): each previous one is kept while it is usable (key matches, not
 * expired, signed by `ca`, subjectAltName covers every host), else a new RSA 2048 one is issued by
 * `ca` with exactly `hosts`, ending 1h before the CA. `ca` must be usable (see `ensurePki`).
 */
export async function ensureServiceCertificates(
  { previous, ca, hosts, checked }: ServiceCertificateRequest,
  deps: PkiDeps,
): Promise<EnsuredServiceCertificates> {
  const now = deps.now();
  const parsedCa = parseCa(ca, now, checked === true);
  if (typeof parsedCa === "string") throw new PkiError("pki.ca", parsedCa);
  for (const host of hosts) {
    if (host.trim() === "") throw new PkiError("hosts", "must not contain an empty host");
  }

  const problems: string[] = [];
  const generated: ServiceCertificateName[] = [];
  const ensure = async (name: ServiceCertificateName): Promise<CertKey> => {
    const old = previous?.[name];
    if (old !== undefined) {
      const problem = issuedProblem(old, parsedCa, { now, hosts, keyChecked: checked === true });
      if (problem === undefined) return copy(old);
      problems.push(`${name}: ${problem}`);
    }
    generated.push(name);
    const commonName = SERVICE_COMMON_NAMES[name];
    return generate(commonName, () =>
      deps.certificates.createCertificate(leafRequest(commonName, parsedCa, now, hosts), ca),
    );
  };
  // Both keys are generated concurrently: RSA key generation runs on the libuv thread pool.
  const [auth, distribution] = await Promise.all([ensure("auth"), ensure("distribution")]);
  generated.sort();
  return { certificates: { auth, distribution }, generated, problems };
}
