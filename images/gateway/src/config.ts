// The gateway's config file: the format is lib/dataplane/gateway-config.ts (shared with the
// renderers); here the gateway loads it and the files it names.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseGatewayConfig, type GatewayConfig } from "../../../lib/dataplane/gateway-config";
import { readConfigFile } from "../../../lib/validation/config-file";
import { Problems } from "../../../lib/validation/reader";

/** PEM material the config refers to, read at start. */
export interface GatewayFiles {
  tlsCertificate: string;
  tlsKey: string;
  upstreamCa?: string;
}

/** Reads and parses the config file, then reads the files it names; every problem names a field. */
export async function loadGatewayConfig(
  file: string,
): Promise<{ config: GatewayConfig; files: GatewayFiles }> {
  const source = `gateway config ${file}`;
  const raw = await readConfigFile(file, source);
  const config = parseGatewayConfig(raw, source);
  const p = new Problems(source);
  const cert = await readPem(p, "listen.tls.certificate", config.listen.tls.certificate);
  const key = await readPem(p, "listen.tls.key", config.listen.tls.key);
  if (cert !== undefined) checkKeyPair(p, cert, key);
  let upstreamCa: string | undefined;
  if ((config.mode === "direct" || config.mode === "proxy") && config.upstream.ca) {
    upstreamCa = await readPem(p, "upstream.ca", config.upstream.ca);
    if (upstreamCa !== undefined && !isCertificate(upstreamCa)) {
      p.add("upstream.ca", "is not a PEM certificate");
    }
  }
  p.finish();
  return { config, files: { tlsCertificate: cert as string, tlsKey: key as string, upstreamCa } };
}

/** The key is checked against the certificate only once the certificate itself parses. */
function checkKeyPair(p: Problems, cert: string, key: string | undefined): void {
  let x: X509Certificate;
  try {
    x = new X509Certificate(cert);
  } catch {
    p.add("listen.tls.certificate", "is not a PEM certificate");
    return;
  }
  if (key === undefined) return;
  try {
    if (!x.checkPrivateKey(createPrivateKey(key)))
      p.add("listen.tls.key", "does not match listen.tls.certificate");
  } catch {
    p.add("listen.tls.key", "is not a PEM private key");
  }
}

function isCertificate(pem: string): boolean {
  try {
    new X509Certificate(pem);
    return true;
  } catch {
    return false;
  }
}

async function readPem(p: Problems, field: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (e) {
    p.add(field, `cannot read ${file}: ${errorCode(e)}`);
    return undefined;
  }
}

function errorCode(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return code ?? (e as Error).message;
}
