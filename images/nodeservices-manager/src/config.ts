// nodeservices-manager's own settings (environment of the DaemonSet pod, docs/dataplane.md). The
// node config it reads from Secret `registry-node-config-<node>` is lib/dataplane/node-config.ts,
// shared with the renderer.
import { isIP } from "node:net";
import { MODULE_NAMESPACE } from "../../../lib/domain/names";
import { type HostPort, Problems } from "../../../lib/validation/reader";

// ---- settings (environment) ---------------------------------------------------------------------

export interface ManagerSettings {
  nodeName: string;
  hostIP: string;
  namespace: string;
  /** own pod; when set, the manager waits for it to be Ready (its image holders pulled) */
  podName?: string;
  images: { gateway: string; distribution: string; mirrorer: string };
  /** host filesystem root the manager writes under (`/` in production, a temp dir in tests) */
  rootDir: string;
  /** /healthz, /readyz, /metrics */
  healthAddress: HostPort;
  /** where the static pod's internal listeners bind; loopback in production */
  loopbackAddress: string;
  /** full reconcile even without events, to repair drift on disk */
  resyncMs: number;
  /** pause between two mirrorer passes (Local mode), written into the mirrorer config */
  mirrorerIntervalMs: number;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IMAGE_REF =
  /^[^\s@:]+(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$|^[^\s@]+@sha256:[a-f0-9]{64}$/;

/** Reads the settings from environment variables; throws ConfigError naming each bad variable. */
export function parseManagerSettings(env: Record<string, string | undefined>): ManagerSettings {
  // environment variables are flat strings: read them as a section so problems name the variable
  const p = new Problems("nodeservices-manager environment");
  const root = p.root(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
  const dns = { pattern: DNS_SUBDOMAIN, rule: "must be a DNS subdomain (lower-case)" };
  const image = { required: true, pattern: IMAGE_REF, rule: "must be an image reference" };
  const nodeName = root.string("NODE_NAME", { required: true, ...dns });
  const hostIP = root.string("HOST_IP", {
    required: true,
    pattern: /^[0-9a-fA-F:.]+$/,
    rule: "must be an IP address",
  });
  if (hostIP && !isIP(hostIP)) root.reject("HOST_IP", "must be an IP address");
  const namespace = root.string("POD_NAMESPACE", dns) ?? MODULE_NAMESPACE;
  const podName = root.string("POD_NAME", dns);
  const gateway = root.string("IMAGE_GATEWAY", image);
  const distribution = root.string("IMAGE_DISTRIBUTION", image);
  const mirrorer = root.string("IMAGE_MIRRORER", image);
  const rootDir = root.path_("ROOT_DIR") ?? "/";
  const healthAddress = root.address("HEALTH_ADDRESS", { listener: true }) ?? {
    host: "0.0.0.0",
    port: 8097,
  };
  const loopbackAddress = root.string("LOOPBACK_ADDRESS", {
    pattern: /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/,
    rule: "must be an IPv4 loopback address (127.x.y.z)",
  });
  const resyncMs = root.duration("RESYNC_PERIOD", { minMs: 1000 }) ?? 60_000;
  const mirrorerIntervalMs = root.duration("MIRRORER_INTERVAL", { minMs: 1000 }) ?? 60_000;
  p.finish();
  return {
    nodeName: nodeName as string,
    hostIP: hostIP as string,
    namespace,
    podName,
    images: {
      gateway: gateway as string,
      distribution: distribution as string,
      mirrorer: mirrorer as string,
    },
    rootDir,
    healthAddress,
    loopbackAddress: loopbackAddress ?? "127.0.0.1",
    resyncMs,
    mirrorerIntervalMs,
  };
}
