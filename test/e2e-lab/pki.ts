// Test PKI through the real `openssl` binary (ECDSA P-256, short validity).
//
//   const ca = await createCa(join(dir, "pki"));                        // ca.crt / ca.key
//   const server = await issueServerCert(ca, "upstream", { ips: ["127.0.0.2"], dns: ["reg.test"] });
//   server.cert, server.key (paths), server.certPem; ca.certPem for clients
//   const signer = await createTokenSigner(join(dir, "pki"));           // for the token server
//
// Server certificates always carry 127.0.0.1 and localhost besides what is asked for.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { run } from "./process";

export interface CertificateAuthority {
  dir: string;
  /** Path of the PEM certificate. */
  cert: string;
  /** Path of the PEM private key. */
  key: string;
  certPem: string;
}

export interface ServerCert {
  cert: string;
  key: string;
  certPem: string;
  /** The CA that signed it (clients trust `ca.cert`). */
  ca: CertificateAuthority;
}

export interface TokenSigner {
  /** Self-signed certificate: distribution's `auth.token.rootcertbundle`, the JWT `x5c`. */
  cert: string;
  key: string;
  certPem: string;
  keyPem: string;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export async function createCa(
  dir: string,
  commonName = "e2e-lab test CA",
): Promise<CertificateAuthority> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, "ca.crt");
  const key = join(dir, "ca.key");
  await run("openssl", [
    "req", "-x509", ...EC, "-keyout", key, "-out", cert, "-days", "30",
    "-subj", `/CN=${commonName}`,
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]); // prettier-ignore
  return { dir, cert, key, certPem: await readFile(cert, "utf8") };
}

export async function issueServerCert(
  ca: CertificateAuthority,
  name: string,
  sans: { ips?: string[]; dns?: string[] } = {},
): Promise<ServerCert> {
  if (!/^[a-z0-9][a-z0-9.-]*$/i.test(name))
    throw new Error(`certificate name "${name}": use [a-z0-9.-]`);
  const ips = [...new Set(["127.0.0.1", ...(sans.ips ?? [])])];
  const dns = [...new Set(["localhost", ...(sans.dns ?? [])])];
  const cert = join(ca.dir, `${name}.crt`);
  const key = join(ca.dir, `${name}.key`);
  const csr = join(ca.dir, `${name}.csr`);
  const ext = join(ca.dir, `${name}.ext`);
  const san = [...ips.map(ip => `IP:${ip}`), ...dns.map(d => `DNS:${d}`)].join(",");
  await writeFile(
    ext,
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n` +
      `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  await run("openssl", ["req", ...EC, "-keyout", key, "-out", csr, "-subj", `/CN=${ips[0]}`]);
  await run("openssl", [
    "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
    "-out", cert, "-days", "30", "-extfile", ext,
  ]); // prettier-ignore
  return { cert, key, certPem: await readFile(cert, "utf8"), ca };
}

export async function createTokenSigner(dir: string, name = "token"): Promise<TokenSigner> {
  await mkdir(dir, { recursive: true });
  const cert = join(dir, `${name}-signer.crt`);
  const key = join(dir, `${name}-signer.key`);
  await run("openssl", [
    "req", "-x509", ...EC, "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=e2e token signer",
  ]); // prettier-ignore
  return {
    cert,
    key,
    certPem: await readFile(cert, "utf8"),
    keyPem: await readFile(key, "utf8"),
  };
}
