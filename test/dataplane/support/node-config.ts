// Node config secrets (docs/architecture.md#node-services keys) as the orchestrator would render
// them, for tests.
import bcrypt from "bcryptjs";
import { readFile } from "node:fs/promises";
import { stringify } from "yaml";
import { type CertificateAuthority, issueServerCert } from "../../e2e-lab";

export interface TestUser {
  name: string;
  password: string;
  passwordHash: string;
}

/** bcrypt at a low cost keeps unit tests fast; the format is the same. */
export function user(name: string, password = `${name}-secret-pw`, cost = 4): TestUser {
  return { name, password, passwordHash: bcrypt.hashSync(password, cost) };
}

export interface NodePki {
  ca: string;
  cert: string;
  key: string;
}

export async function nodePki(ca: CertificateAuthority, nodeIP: string): Promise<NodePki> {
  const server = await issueServerCert(ca, `node-${nodeIP.replace(/[.:]/g, "-")}`, {
    ips: [nodeIP],
    dns: ["registry.d8-system.svc"],
  });
  return { ca: ca.certPem, cert: server.certPem, key: await readFile(server.key, "utf8") };
}

export interface ProxyModeInput {
  scheme: "http" | "https";
  host: string;
  path: string;
  user?: string;
  password?: string;
  ca?: string;
  ttl?: string;
}

export interface LocalModeInput {
  rw: TestUser;
  puller: TestUser;
  pusher: TestUser;
  upstreams: string[];
  ingressClientCa?: string;
}

export function nodeConfigYaml(
  pki: NodePki,
  ro: TestUser,
  mode: { proxy: ProxyModeInput } | { local: LocalModeInput },
  httpSecret = "0123456789abcdefghijklmno",
): string {
  const doc: Record<string, unknown> = {
    ca: pki.ca,
    distribution_cert: pki.cert,
    distribution_key: pki.key,
    user_ro: ro,
    http_secret: httpSecret,
  };
  if ("proxy" in mode) {
    const p = mode.proxy;
    doc.proxy_mode = {
      upstream: {
        scheme: p.scheme,
        host: p.host,
        path: p.path,
        ...(p.user ? { user: p.user, password: p.password } : {}),
        ...(p.ttl ? { ttl: p.ttl } : {}),
      },
      ...(p.ca ? { upstream_registry_ca: p.ca } : {}),
    };
  } else {
    const l = mode.local;
    doc.local_mode = {
      user_rw: l.rw,
      user_puller: l.puller,
      user_pusher: l.pusher,
      upstreams: l.upstreams,
      ...(l.ingressClientCa ? { ingress_client_ca: l.ingressClientCa } : {}),
    };
  }
  return stringify(doc);
}

/** The Secret object `registry-node-config-<node>` carrying it. */
export function nodeConfigSecret(
  node: string,
  config: string,
  version: string,
  namespace = "d8-system",
) {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "registry/node-services-config",
    metadata: {
      name: `registry-node-config-${node}`,
      namespace,
      labels: { app: "registry", type: "registry-node-services-config" },
    },
    data: { config: b64(config), version: b64(version) },
  };
}
