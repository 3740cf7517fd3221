// The upstream transport a gateway config asks for: none (local), lib/oci (direct), lib/oci with
// the tag ttl of the cache's upstream listener (proxy).
import type { GatewayConfig } from "../../../lib/dataplane/gateway-config";
import type { GatewayFiles } from "./config";
import { TagTtlUpstream } from "./tag-ttl";
import { OciUpstream, type UpstreamTransport } from "./upstream";

export function upstreamTransport(
  config: GatewayConfig,
  files: GatewayFiles,
  now?: () => number,
): UpstreamTransport | undefined {
  if (config.mode === "local") return undefined;
  const oci = new OciUpstream(config.upstream, files.upstreamCa);
  const ttl = config.mode === "proxy" ? config.upstreamListener.tagTtlMs : undefined;
  return ttl === undefined ? oci : new TagTtlUpstream(oci, ttl, now);
}
