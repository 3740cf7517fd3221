// Node services (docs/architecture.md#node-services): on every master a static pod (stock
// distribution + gateway [+ mirrorer]) written by nodeservices-manager from a per-node config
// secret. The state keeps `{config, version}` per master; readiness comes from the static pods'
// config-version.
import type { MasterNodeSnapshot, StaticPodSnapshot } from "./model";
import type { StageResult } from "./bashible";
import type { CertKey } from "../domain/pki";
import type { OrchestratorDeps } from "./deps";
import { leavesOf, serverPkiConfig } from "./server-pki";
import type { ServerPkiConfig } from "./server-pki";
import type { RegistryUser } from "../domain/users";
import { cappedLines, computeHash, shortVersion } from "./hash";
import { splitImagesRepo } from "./registry-address";

export interface ConfigUser {
  name: string;
  password: string;
  passwordHash: string;
}

export interface NodeServicesConfig extends ServerPkiConfig {
  user_ro: ConfigUser;
  proxy_mode?: {
    upstream: {
      scheme: string;
      host: string;
      path: string;
      user: string;
      password: string;
      ttl?: string;
    };
    upstream_registry_ca?: string;
  };
  local_mode?: {
    user_rw: ConfigUser;
    user_puller: ConfigUser;
    user_pusher: ConfigUser;
    upstreams: string[];
    ingress_client_ca?: string;
  };
}

export interface NodeServicesNode {
  config: NodeServicesConfig;
  version: string;
}

export interface NodeServicesState {
  run?: boolean;
  nodes?: Record<string, NodeServicesNode>;
}

export type NodeServicesMode =
  | {
      mode: "Proxy";
      upstream: {
        imagesRepo: string;
        scheme: string;
        username?: string;
        password?: string;
        ttl?: string;
        ca?: string;
      };
    }
  | {
      mode: "Local";
      rw: RegistryUser;
      puller: RegistryUser;
      pusher: RegistryUser;
      ingressClientCa?: string;
    };

export interface NodeServicesInputs {
  masters: readonly MasterNodeSnapshot[];
  ca: CertKey;
  token: CertKey;
  httpSecret: string;
  ro: RegistryUser;
  mode: NodeServicesMode;
}

const user = (u: RegistryUser): ConfigUser => ({
  name: u.name,
  password: u.password,
  passwordHash: u.password_hash,
});

export function nodeHosts(ip: string): string[] {
  return ["127.0.0.1", "localhost", ip, "registry.d8-system.svc"];
}

function modeSection(
  mode: NodeServicesMode,
  self: MasterNodeSnapshot,
  masters: readonly MasterNodeSnapshot[],
): Pick<NodeServicesConfig, "proxy_mode" | "local_mode"> {
  switch (mode.mode) {
    case "Proxy": {
      const { host, path } = splitImagesRepo(mode.upstream.imagesRepo);
      return {
        proxy_mode: {
          upstream: {
            scheme: mode.upstream.scheme.toLowerCase(),
            host,
            path,
            user: mode.upstream.username ?? "",
            password: mode.upstream.password ?? "",
            ...(mode.upstream.ttl ? { ttl: mode.upstream.ttl } : {}),
          },
          ...(mode.upstream.ca ? { upstream_registry_ca: mode.upstream.ca } : {}),
        },
      };
    }
    case "Local": {
      // The other masters' registries are this one's replication peers.
      const upstreams = masters
        .filter(m => m.name !== self.name && m.ip)
        .map(m => m.ip as string)
        .sort();
      return {
        local_mode: {
          user_rw: user(mode.rw),
          user_puller: user(mode.puller),
          user_pusher: user(mode.pusher),
          upstreams,
          ...(mode.ingressClientCa ? { ingress_client_ca: mode.ingressClientCa } : {}),
        },
      };
    }
  }
}

export async function nodeServicesNodes(
  previous: NodeServicesState | undefined,
  inputs: NodeServicesInputs,
  deps: OrchestratorDeps,
): Promise<Record<string, NodeServicesNode>> {
  const out: Record<string, NodeServicesNode> = {};
  for (const master of [...inputs.masters].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!master.ip) throw new Error(`master node ${master.name} has no InternalIP address`);
    const prev = previous?.nodes?.[master.name]?.config;
    const leaves = await deps.ensureLeaves(leavesOf(prev), inputs.ca, nodeHosts(master.ip));
    const config: NodeServicesConfig = {
      ...serverPkiConfig({ ca: inputs.ca, token: inputs.token }, leaves, inputs.httpSecret),
      user_ro: user(inputs.ro),
      ...modeSection(inputs.mode, master, inputs.masters),
    };
    out[master.name] = { config, version: computeHash(config) };
  }
  return out;
}

export function nodeServicesReadiness(
  nodes: Record<string, NodeServicesNode>,
  masters: readonly MasterNodeSnapshot[],
  pods: readonly StaticPodSnapshot[],
): StageResult {
  const waiting: string[] = [];
  const names = Object.keys(nodes).sort();
  for (const name of names) {
    const expected = nodes[name]?.version ?? "";
    const master = masters.find(m => m.name === name);
    if (!master?.ready) {
      waiting.push(`- ${name}: node is not Ready`);
      continue;
    }
    const ok = pods.some(p => p.node === name && p.ready && p.version === expected);
    if (!ok) {
      waiting.push(
        `- ${name}: services pod(s) is not Ready or config version mismatch (!= "${shortVersion(expected)}")`,
      );
    }
  }
  if (waiting.length === 0) {
    return { ready: true, message: `All ${names.length} node(s) ready.` };
  }
  return {
    ready: false,
    message: [
      `${names.length - waiting.length}/${names.length} node(s) ready. Waiting:`,
      ...cappedLines(waiting),
    ].join("\n"),
  };
}

export function nodeServicesCleanup(pods: readonly StaticPodSnapshot[]): StageResult {
  const remaining = [...new Set(pods.map(p => p.node))].sort();
  if (remaining.length === 0) return { ready: true, message: "" };
  return {
    ready: false,
    message: ["Waiting for nodes cleanup:", ...cappedLines(remaining.map(n => `- ${n}`))].join(
      "\n",
    ),
  };
}
