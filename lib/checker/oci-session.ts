// The checker's registry sessions over lib/oci: one RegistryClient per registry and tick, one
// manifest request per item (Accept: every manifest type) — HEAD, or GET once the registry has
// shown it closes the connection after HEAD —, Basic or Bearer as the registry asks, the registry
// CA on top of the system roots, plain HTTP when the scheme says so.
import {
  OciError,
  parseImageReference,
  RegistryClient,
  manifestReference,
  type EgressProxy,
} from "../oci";
import { registryRepository, type RegistryParams } from "./params";
import { CheckFailure, REQUEST_TIMEOUT, type RegistrySession } from "./tick";

/** `proxy`: the cluster's egress proxy; undefined = the process environment (HTTPS_PROXY, …). */
export function openOciSession(
  params: RegistryParams,
  timeoutMs: number,
  proxy?: EgressProxy,
): RegistrySession {
  const client = new RegistryClient({
    registry: registryRepository(params).registry,
    scheme: params.scheme === "HTTP" ? "http" : "https",
    ...(params.ca ? { ca: params.ca } : {}),
    ...(params.username ? { username: params.username, password: params.password ?? "" } : {}),
    timeoutMs,
    // workers are few; a little headroom for the token realm on the same origin
    connections: 8,
    ...(proxy ? { proxy } : {}),
  });
  return {
    async check(image, signal) {
      const ref = parseImageReference(image);
      const reference = manifestReference(ref);
      try {
        // HEAD first, as the spec has it; a registry that closes the connection after each
        // HEAD (distribution 2.x) is asked with GET instead, over kept-alive connections, and
        // the body is checked against the digest on the way (docs/adr/0011)
        if (client.headClosesConnection)
          await client.getManifest(ref.repository, reference, { signal });
        else await client.headManifest(ref.repository, reference, { signal });
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
