// The default CertificateFactory: real keys from Node's WebCrypto, certificates built by
// @peculiar/x509. The X.509 builder is loaded on first use (it costs ~100 ms to load), so a hook
// run that only checks existing certificates never pays for it.
import { createPrivateKey, webcrypto } from "node:crypto";
import type * as X509 from "@peculiar/x509";
import type { CertificateFactory, CertificateRequest, CertKey, KeyAlgorithm } from "./pki";
import { cryptoRandom, type RandomSource } from "./secrets";
import { ipFamily } from "../validation/ip";

export type KeyPair = webcrypto.CryptoKeyPair;
export type KeyPairSource = (algorithm: KeyAlgorithm) => Promise<KeyPair>;

const RSA_2048: webcrypto.RsaHashedKeyGenParams = {
  name: "RSASSA-PKCS1-v1_5",
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: "SHA-256",
};
const ECDSA_P256: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };

/** Fresh extractable key pairs from WebCrypto. */
export const generateKeyPair: KeyPairSource = async algorithm => {
  switch (algorithm) {
    case "RSA-2048":
      return webcrypto.subtle.generateKey(RSA_2048, true, ["sign", "verify"]);
    case "ECDSA-P256":
      return webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  }
};

export interface CertificateFactoryOptions {
  /** Where key pairs come from (default: freshly generated). Tests pass pre-generated ones. */
  keyPairs?: KeyPairSource;
  /** Source of serial numbers (default: node:crypto). */
  random?: RandomSource;
}

let x509Module: Promise<typeof X509> | undefined;
function loadX509(): Promise<typeof X509> {
  x509Module ??= import("@peculiar/x509").then(x509 => {
    x509.cryptoProvider.set(webcrypto);
    return x509;
  });
  return x509Module;
}

function pem(label: string, der: ArrayBuffer): string {
  const lines =
    Buffer.from(der)
      .toString("base64")
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** 16 random bytes, positive and without a leading zero byte (RFC 5280: ≤ 20 octets, > 0). */
function serialNumber(random: RandomSource): string {
  const bytes = Buffer.from(random(16).subarray(0, 16));
  if (bytes.length < 16) throw new Error("random source returned fewer than 16 bytes");
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes.toString("hex");
}

/** OpenSSL curve name → WebCrypto curve and the hash that goes with it. */
const EC_SIGNING: Partial<Record<string, { namedCurve: string; hash: string }>> = {
  prime256v1: { namedCurve: "P-256", hash: "SHA-256" },
  secp384r1: { namedCurve: "P-384", hash: "SHA-384" },
  secp521r1: { namedCurve: "P-521", hash: "SHA-512" },
};

type SigningAlgorithm = webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams;

/** How to sign with a PEM private key of the CA: WebCrypto import and signature parameters. */
function signingParameters(keyPem: string): {
  der: Buffer;
  importAs: SigningAlgorithm;
  sign: webcrypto.Algorithm | webcrypto.EcdsaParams;
} {
  const key = createPrivateKey(keyPem);
  const der = key.export({ type: "pkcs8", format: "der" });
  const type = key.asymmetricKeyType;
  if (type === "rsa") {
    return {
      der,
      importAs: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      sign: { name: "RSASSA-PKCS1-v1_5" },
    };
  }
  if (type === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve ?? "unknown";
    const params = EC_SIGNING[curve];
    if (params === undefined) throw new Error(`unsupported CA key curve ${curve}`);
    return {
      der,
      importAs: { name: "ECDSA", namedCurve: params.namedCurve },
      sign: { name: "ECDSA", hash: params.hash },
    };
  }
  throw new Error(`unsupported CA key type ${type ?? "unknown"}`);
}

function signatureFor(pair: KeyPair): webcrypto.Algorithm | webcrypto.EcdsaParams {
  const alg = pair.privateKey.algorithm;
  return alg.name === "ECDSA" ? { name: "ECDSA", hash: "SHA-256" } : { name: alg.name };
}

function subjectAltNames(x509: typeof X509, hosts: readonly string[]) {
  return new x509.SubjectAlternativeNameExtension(
    hosts.map(host => ({
      type: ipFamily(host) === 0 ? ("dns" as const) : ("ip" as const),
      value: host,
    })),
  );
}

/**
 * A CertificateFactory producing real certificates: the CA with basicConstraints CA:TRUE
 * (critical), keyUsage keyCertSign + cRLSign (critical) and a subject key identifier; end-entity
 * certificates with CA:FALSE, keyUsage digitalSignature + keyEncipherment, extended key usage
 * serverAuth + clientAuth, key identifiers, and subjectAltName when hosts are given. Keys are
 * PKCS#8 PEM (`PRIVATE KEY`), which distribution, nginx, OpenSSL and Node all read.
 */
export function createCertificateFactory(
  options: CertificateFactoryOptions = {},
): CertificateFactory {
  const keyPairs = options.keyPairs ?? generateKeyPair;
  const random = options.random ?? cryptoRandom;

  const exportKey = async (pair: KeyPair) =>
    pem("PRIVATE KEY", await webcrypto.subtle.exportKey("pkcs8", pair.privateKey));

  return {
    async createCa(request: CertificateRequest): Promise<CertKey> {
      const [x509, keys] = await Promise.all([loadX509(), keyPairs(request.keyAlgorithm)]);
      const cert = await x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: serialNumber(random),
        name: [{ CN: [request.commonName] }],
        notBefore: request.notBefore,
        notAfter: request.notAfter,
        keys: keys,
        signingAlgorithm: signatureFor(keys),
        extensions: [
          new x509.BasicConstraintsExtension(true, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
            true,
          ),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
          ...(request.hosts.length > 0 ? [subjectAltNames(x509, request.hosts)] : []),
        ],
      });
      return { cert: pem("CERTIFICATE", cert.rawData), key: await exportKey(keys) };
    },

    async createCertificate(request: CertificateRequest, issuer: CertKey): Promise<CertKey> {
      const [x509, keys] = await Promise.all([loadX509(), keyPairs(request.keyAlgorithm)]);
      const caCert = new x509.X509Certificate(issuer.cert);
      const signing = signingParameters(issuer.key);
      const signingKey = await webcrypto.subtle.importKey(
        "pkcs8",
        signing.der,
        signing.importAs,
        false,
        ["sign"],
      );
      // The authority key identifier must repeat the CA's own subject key identifier (a CA from
      // registry-init may compute it differently), or chain building fails in OpenSSL.
      const caKeyId = caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
      const authorityKeyId =
        caKeyId !== undefined
          ? new x509.AuthorityKeyIdentifierExtension(caKeyId)
          : await x509.AuthorityKeyIdentifierExtension.create(caCert);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serialNumber(random),
        subject: [{ CN: [request.commonName] }],
        // the CA's encoded name as is, so the issuer matches it byte for byte
        issuer: caCert.subjectName,
        notBefore: request.notBefore,
        notAfter: request.notAfter,
        publicKey: keys.publicKey,
        signingKey: signingKey,
        signingAlgorithm: signing.sign,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
            true,
          ),
          new x509.ExtendedKeyUsageExtension([
            x509.ExtendedKeyUsage.serverAuth,
            x509.ExtendedKeyUsage.clientAuth,
          ]),
          await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
          authorityKeyId,
          ...(request.hosts.length > 0 ? [subjectAltNames(x509, request.hosts)] : []),
        ],
      });
      return { cert: pem("CERTIFICATE", cert.rawData), key: await exportKey(keys) };
    },
  };
}
