// The checker's registry sessions over lib/oci: one RegistryClient per registry and tick, HEAD
// manifest per item (Accept: every manifest type), Basic or Bearer as the registry asks, the
// registry CA on top of the system roots, plain HTTP when the scheme says so.
import { OciError, parseImageReference, RegistryClient, manifestReference } from "../oci";
import { registryRepository, type RegistryParams } from "./params";
import { CheckFailure, REQUEST_TIMEOUT, type RegistrySession } from "./tick";

export function openOciSession(params: RegistryParams, timeoutMs: number): RegistrySession {
  const client = new RegistryClient({
    registry: registryRepository(params).registry,
    scheme: params.scheme === "HTTP" ? "http" : "https",
    ...(params.ca ? { ca: params.ca } : {}),
    ...(params.username ? { username: params.username, password: params.password ?? "" } : {}),
    timeoutMs,
    // workers are few; a little headroom for the token realm on the same origin
    connections: 8,
  });
  return {
    async check(image, signal) {
      const ref = parseImageReference(image);
      try {
        await client.headManifest(ref.repository, manifestReference(ref), { signal });
      } catch (err) {
        if (err instanceof OciError) {
          throw new CheckFailure(err.kind === "timeout" ? REQUEST_TIMEOUT : err.reason);
        }
        throw err;
      }
    },
    close: () => client.close(),
  };
}
