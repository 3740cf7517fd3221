// What Secret d8-system/deckhouse-registry says the cluster pulls from: the starting point of the
// first transition, and one of the places a restore finds an upstream password in.
import type { UpstreamRegistryParams } from "./bashible";
import type { DeckhouseRegistrySnapshot } from "./model";

export function paramsFromRegistrySecret(
  secret: DeckhouseRegistrySnapshot,
): UpstreamRegistryParams {
  const address = secret.address ?? "";
  if (!address) throw new Error("Secret d8-system/deckhouse-registry has no address");
  const out: UpstreamRegistryParams = {
    imagesRepo: `${address}${secret.path ?? ""}`.replace(/\/+$/, ""),
    scheme: (secret.scheme ?? "https").toUpperCase(),
  };
  if (secret.ca) out.ca = secret.ca;
  const creds = credentialsFor(secret.dockerConfigJson, address);
  if (creds) Object.assign(out, creds);
  return out;
}

function credentialsFor(
  dockerConfigJson: string | undefined,
  address: string,
): { username: string; password: string } | undefined {
  if (!dockerConfigJson) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(dockerConfigJson);
  } catch {
    throw new Error("Secret d8-system/deckhouse-registry: .dockerconfigjson is not JSON");
  }
  const auths = (parsed as { auths?: Record<string, Record<string, string>> }).auths ?? {};
  const entry = auths[address];
  if (!entry) return undefined;
  if (entry.username || entry.password) {
    return { username: entry.username ?? "", password: entry.password ?? "" };
  }
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}
