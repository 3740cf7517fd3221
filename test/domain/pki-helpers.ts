// Helpers of the PKI and users tests: reproducible randomness, a pool of pre-generated real keys
// (RSA 2048 key generation costs ~65 ms; the pool keeps the suite fast while every certificate
// stays real), and the real `openssl` as the judge of what the module produces.
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  createCertificateFactory,
  generateKeyPair,
  type KeyPair,
  type KeyPairSource,
} from "../../lib/domain/certificate-factory";
import type { CertificateFactory, CertKey, KeyAlgorithm, PkiDeps } from "../../lib/domain/pki";
import type { RandomSource } from "../../lib/domain/secrets";
import { run } from "../e2e-lab/process";

/** A deterministic byte stream: SHA-256 of `seed` and a counter. */
export function seededRandom(seed: string): RandomSource {
  let counter = 0;
  let buffer = Buffer.alloc(0);
  return size => {
    while (buffer.length < size) {
      const block = createHash("sha256").update(`${seed}/${counter++}`).digest();
      buffer = Buffer.concat([buffer, block]);
    }
    const out = buffer.subarray(0, size);
    buffer = buffer.subarray(size);
    return new Uint8Array(out);
  };
}

/**
 * Real key pairs, generated once per algorithm up to `size` and then handed out in turn, so
 * consecutive certificates get different keys but a test file generates only a few.
 */
export function keyPool(size = 3): KeyPairSource & { generated(): number } {
  const pools = new Map<KeyAlgorithm, Promise<KeyPair>[]>();
  const next = new Map<KeyAlgorithm, number>();
  let generated = 0;
  const source = (algorithm: KeyAlgorithm): Promise<KeyPair> => {
    const pool = pools.get(algorithm) ?? [];
    pools.set(algorithm, pool);
    const i = next.get(algorithm) ?? 0;
    next.set(algorithm, i + 1);
    if (pool.length < size) {
      generated++;
      pool.push(generateKeyPair(algorithm));
    }
    return pool[i % size] as Promise<KeyPair>;
  };
  return Object.assign(source, { generated: () => generated });
}

/** A factory over a key pool that counts the certificates it issues. */
export function countingFactory(pool: KeyPairSource = keyPool(), seed = "serials") {
  const inner = createCertificateFactory({ keyPairs: pool, random: seededRandom(seed) });
  const issued: string[] = [];
  const factory: CertificateFactory = {
    createCa: request => {
      issued.push(request.commonName);
      return inner.createCa(request);
    },
    createCertificate: (request, issuer) => {
      issued.push(request.commonName);
      return inner.createCertificate(request, issuer);
    },
  };
  return { factory, issued };
}

export const T0 = new Date("2026-11-26T12:00:00Z");

export function depsAt(now: Date, certificates: CertificateFactory): PkiDeps {
  return { now: () => now, certificates };
}

// ---------------------------------------------------------------------------------------------
// openssl

export async function writePair(dir: string, name: string, pair: CertKey) {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await writeFile(cert, pair.cert);
  await writeFile(key, pair.key, { mode: 0o600 });
  return { cert, key };
}

export interface OpensslView {
  text: string;
  subject: string;
  issuer: string;
  publicKey: string;
  /** e.g. ["IP Address:127.0.0.1", "DNS:localhost"] */
  subjectAltNames: string[];
  basicConstraints: string;
  notBefore: Date;
  notAfter: Date;
}

/** What `openssl x509 -noout -text` (and a few `-noout -<field>` runs) say about `certFile`. */
export async function opensslView(certFile: string): Promise<OpensslView> {
  const text = (await run("openssl", ["x509", "-noout", "-text", "-in", certFile])).stdout;
  const field = async (flag: string) =>
    (await run("openssl", ["x509", "-noout", flag, "-nameopt", "RFC2253", "-in", certFile])).stdout
      .trim()
      .replace(/^[a-zA-Z]+=/, "");
  const line = (re: RegExp) => re.exec(text)?.[1]?.trim() ?? "";
  const sanLine = line(/X509v3 Subject Alternative Name:\s*\n\s*(.+)/);
  return {
    text,
    subject: await field("-subject"),
    issuer: await field("-issuer"),
    publicKey: line(/Public Key Algorithm: (.+)/) + " " + line(/Public-Key: \((\d+ bit)\)/),
    subjectAltNames: sanLine === "" ? [] : sanLine.split(/,\s*/),
    basicConstraints: line(/X509v3 Basic Constraints:.*\n\s*(.+)/),
    notBefore: new Date(line(/Not Before\s*: (.+)/)),
    notAfter: new Date(line(/Not After\s*: (.+)/)),
  };
}

/** `openssl verify` of `certFile` against `caFile`, checking hosts as a TLS client would. */
export async function opensslVerify(
  caFile: string,
  certFile: string,
  options: { hosts?: readonly string[]; purpose?: string; at?: Date } = {},
): Promise<string> {
  const args = ["verify", "-CAfile", caFile];
  if (options.purpose) args.push("-purpose", options.purpose);
  if (options.at) args.push("-attime", String(Math.floor(options.at.getTime() / 1000)));
  for (const host of options.hosts ?? []) {
    args.push(/^[\d.]+$|:/.test(host) ? "-verify_ip" : "-verify_hostname", host);
  }
  args.push(certFile);
  return (await run("openssl", args)).stdout.trim();
}

/** Whether OpenSSL derives the same public key from the certificate and the private key. */
export async function opensslKeyMatches(certFile: string, keyFile: string): Promise<boolean> {
  const fromCert = (await run("openssl", ["x509", "-noout", "-pubkey", "-in", certFile])).stdout;
  const fromKey = (await run("openssl", ["pkey", "-pubout", "-in", keyFile])).stdout;
  return fromCert.trim() === fromKey.trim() && fromCert.includes("BEGIN PUBLIC KEY");
}

/** A CA made by OpenSSL (as a bootstrap tool or an operator would make one), PEM. */
export async function opensslCa(
  dir: string,
  name: string,
  options: { key: "ec" | "rsa"; subject: string; days?: number; extra?: string[] },
): Promise<CertKey> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const newkey =
    options.key === "ec"
      ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
      : ["-newkey", "rsa:2048"];
  await run("openssl", [
    "req", "-x509", ...newkey, "-nodes", "-keyout", key, "-out", cert,
    "-days", String(options.days ?? 30), "-subj", options.subject,
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ...(options.extra ?? []),
  ]); // prettier-ignore
  return { cert: await readFile(cert, "utf8"), key: await readFile(key, "utf8") };
}
