// Node config → the files of one master's node services: PKI, the configs of the stock
// distribution, the gateway and the mirrorer, and the static pod that runs them. Pure: the same
// inputs give byte-identical files, so unchanged configs never touch the disk or restart the pod.
import { createHash, createHmac } from "node:crypto";
import { stringify } from "yaml";
import { formatHostPort, type HostPort, parseDuration } from "../../../lib/validation/reader";
import { renderTemplate } from "../../../lib/templates";
import { formatGatewayConfig, type GatewayConfig } from "../../../lib/dataplane/gateway-config";
import { formatMirrorerConfig, type MirrorerConfig } from "../../mirrorer/src/config";
import type { NodeConfig, NodeUser } from "../../../lib/dataplane/node-config";
import type { ManagerSettings } from "./config";
import { NODE_SERVICES_POD_SELECTOR } from "../../../lib/domain/node-services";

/** Host paths, relative to the manager's root directory. */
export const PATHS = {
  registryDir: "etc/kubernetes/registry",
  pkiDir: "etc/kubernetes/registry/pki",
  distributionDir: "etc/kubernetes/registry/distribution",
  gatewayDir: "etc/kubernetes/registry/gateway",
  mirrorerDir: "etc/kubernetes/registry/mirrorer",
  nginxDir: "etc/kubernetes/registry/nginx",
  manifest: "etc/kubernetes/manifests/registry-nodeservices.yaml",
  /** storage of the stock distribution (not written by the manager, kept on stop) */
  data: "opt/deckhouse/registry/local_data",
} as const;

/** nginx in the data-plane image (images/oci-image.ts) */
export const NGINX = "/usr/bin/nginx";

/** Where each container sees its files. */
export const MOUNTS = {
  pki: "/pki",
  config: "/config",
  data: "/data",
  /** nginx's pid file and temporary directories (an emptyDir) */
  nginxRun: "/run/registry-nginx",
} as const;

/** Ports of the static pod (host network). Only the registry port listens on the node address. */
export const PORTS = {
  registry: 5001,
  distribution: 5000,
  distributionDebug: 5002,
  gatewayMonitoring: 5003,
  upstreamListener: 5004,
  mirrorerMonitoring: 5005,
  /** the gateway behind nginx (plain HTTP): what nginx forwards, and its verdict subrequests */
  gateway: 5006,
  /** nginx's own /healthz (plain HTTP), for the probes */
  nginxHealth: 5007,
} as const;

export const STATIC_POD_LABELS = { ...NODE_SERVICES_POD_SELECTOR, tier: "control-plane" } as const;

export interface RenderedFile {
  /** relative to the root directory */
  path: string;
  content: string;
  mode: number;
}

/** Every file the manager may own, for removal when the services stop. */
export const MANAGED_DIRS = [
  PATHS.pkiDir,
  PATHS.distributionDir,
  PATHS.gatewayDir,
  PATHS.mirrorerDir,
  PATHS.nginxDir,
];

export function renderNodeFiles(cfg: NodeConfig, settings: ManagerSettings): RenderedFile[] {
  const lo = settings.loopbackAddress;
  const files: RenderedFile[] = [];
  const pki = (name: string, content: string, mode = 0o644) =>
    files.push({ path: `${PATHS.pkiDir}/${name}`, content, mode });
  pki("ca.crt", cfg.ca);
  pki("distribution.crt", cfg.distributionCert);
  pki("distribution.key", cfg.distributionKey, 0o600);
  if (cfg.mode.kind === "proxy" && cfg.mode.proxy.upstreamRegistryCa)
    pki("upstream-registry-ca.crt", cfg.mode.proxy.upstreamRegistryCa);
  if (cfg.mode.kind === "local" && cfg.mode.local.ingressClientCa)
    pki("ingress-client-ca.crt", cfg.mode.local.ingressClientCa);

  const listenerAuth = upstreamListenerCredentials(cfg.httpSecret);
  files.push({
    path: `${PATHS.distributionDir}/config.yaml`,
    content: yaml(distributionConfig(cfg, lo, listenerAuth)),
    mode: 0o600,
  });
  files.push({
    path: `${PATHS.gatewayDir}/config.yaml`,
    content: yaml(formatGatewayConfig(gatewayConfig(cfg, settings, listenerAuth))),
    mode: 0o600,
  });
  files.push({
    path: `${PATHS.nginxDir}/nginx.conf`,
    content: renderNginxConfig({
      listen: { host: settings.hostIP, port: PORTS.registry },
      certificate: `${MOUNTS.pki}/distribution.crt`,
      key: `${MOUNTS.pki}/distribution.key`,
      gateway: { host: lo, port: PORTS.gateway },
      distribution: { host: lo, port: PORTS.distribution },
      health: { host: lo, port: PORTS.nginxHealth },
      runDir: MOUNTS.nginxRun,
      storage: { root: MOUNTS.data, headers: DISTRIBUTION_HEADERS },
      pullThroughCache: cfg.mode.kind === "proxy",
    }),
    mode: 0o644,
  });
  const mirrorer = mirrorerConfig(cfg, settings);
  if (mirrorer) {
    files.push({
      path: `${PATHS.mirrorerDir}/config.yaml`,
      content: yaml(formatMirrorerConfig(mirrorer)),
      mode: 0o600,
    });
  }
  files.push({
    path: PATHS.manifest,
    content: yaml(staticPod(cfg, settings, configHash(files), mirrorer !== undefined)),
    mode: 0o600,
  });
  return files;
}

export interface NginxConfigInput {
  /** the registry address clients use (TLS) */
  listen: HostPort;
  certificate: string;
  key: string;
  /** the gateway's `tlsFrontend.address` */
  gateway: HostPort;
  /** the stock distribution (plain HTTP, loopback) */
  distribution: HostPort;
  /** plain-HTTP `/healthz` of nginx itself */
  health: HostPort;
  /** writable directory for the pid file and temporary files */
  runDir: string;
  /** worker processes; default `auto` (one per CPU) */
  workers?: number;
  /**
   * distribution's filesystem storage as nginx sees it (read-only): committed blobs linked into
   * the requested repository are served from their files (docs/adr/0136), with the extra headers
   * distribution's own config adds to its answers
   */
  storage?: { root: string; headers: Readonly<Record<string, string>> };
  /**
   * distribution is a pull-through cache (mode Proxy): its 404 on a read may mean the upstream is
   * down, which only the gateway knows, so the gateway answers those too (docs/adr/0160)
   */
  pullThroughCache?: boolean;
}

/** nginx in front of the gateway (docs/adr/0110): TLS, blob reads straight from distribution. */
export function renderNginxConfig(input: NginxConfigInput): string {
  return renderTemplate("node-services/registry-nginx.conf", {
    listen: formatHostPort(input.listen),
    certificate: input.certificate,
    key: input.key,
    gateway: formatHostPort(input.gateway),
    distribution: formatHostPort(input.distribution),
    health: formatHostPort(input.health),
    runDir: input.runDir,
    workers: input.workers ?? "auto",
    storage: input.storage?.root ?? false,
    storageHeaders: input.storage?.headers ?? {},
    pullThroughCache: input.pullThroughCache ?? false,
  });
}

/** sha256 over the files' own hashes, in path order: changes when any file changes. */
export function configHash(files: readonly RenderedFile[]): string {
  const h = createHash("sha256");
  for (const f of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    h.update(`${f.path}\0${createHash("sha256").update(f.content).digest("hex")}\n`);
  }
  return h.digest("hex");
}

/**
 * The stock distribution authenticates to the gateway's upstream listener with these; derived from
 * the HTTP secret so they are stable (no restart) and differ per cluster.
 */
export function upstreamListenerCredentials(httpSecret: string): {
  username: string;
  password: string;
} {
  return {
    username: "distribution",
    password: createHmac("sha256", httpSecret).update("registry-upstream-listener").digest("hex"),
  };
}

/** Headers distribution adds to every answer; nginx adds them to the blobs it serves itself. */
const DISTRIBUTION_HEADERS = { "X-Content-Type-Options": "nosniff" } as const;

function distributionConfig(
  cfg: NodeConfig,
  lo: string,
  listenerAuth: { username: string; password: string },
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    version: 0.1,
    log: { level: "info", formatter: "text" },
    storage: {
      filesystem: { rootdirectory: MOUNTS.data },
      delete: { enabled: true },
      redirect: { disable: true },
      maintenance: { uploadpurging: { enabled: false } },
      cache: { blobdescriptor: "inmemory" },
    },
    http: {
      // behind the gateway only: loopback, plain HTTP, no auth (the gateway authenticates)
      addr: `${lo}:${PORTS.distribution}`,
      secret: cfg.httpSecret,
      debug: {
        addr: `${lo}:${PORTS.distributionDebug}`,
        prometheus: { enabled: true, path: "/metrics" },
      },
      headers: Object.fromEntries(
        Object.entries(DISTRIBUTION_HEADERS).map(([name, value]) => [name, [value]]),
      ),
    },
    health: { storagedriver: { enabled: true, interval: "10s", threshold: 3 } },
  };
  if (cfg.mode.kind === "proxy") {
    // no `ttl` here: distribution 2.8 ignores it; the gateway's upstream listener applies it to
    // tag lookups (docs/adr/0094)
    out.proxy = {
      remoteurl: `http://${lo}:${PORTS.upstreamListener}`,
      username: listenerAuth.username,
      password: listenerAuth.password,
    };
  }
  return out;
}

function gatewayConfig(
  cfg: NodeConfig,
  settings: ManagerSettings,
  listenerAuth: { username: string; password: string },
): GatewayConfig {
  const lo = settings.loopbackAddress;
  const user = (u: NodeUser, role: GatewayConfig["users"][number]["role"]) => ({
    name: u.name,
    passwordHash: u.passwordHash,
    role,
  });
  const common = {
    listen: {
      address: { host: settings.hostIP, port: PORTS.registry },
      tls: { certificate: `${MOUNTS.pki}/distribution.crt`, key: `${MOUNTS.pki}/distribution.key` },
    },
    // on the node address: Prometheus scrapes it (the static pods' PodMonitor)
    monitoring: { address: { host: settings.hostIP, port: PORTS.gatewayMonitoring } },
    realm: "Deckhouse registry",
    localPath: "system/deckhouse",
    // nginx holds the registry address and streams blob reads (docs/adr/0110)
    tlsFrontend: { address: { host: lo, port: PORTS.gateway } },
  };
  const distribution = {
    url: `http://${lo}:${PORTS.distribution}`,
    metricsUrl: `http://${lo}:${PORTS.distributionDebug}/metrics`,
  };
  switch (cfg.mode.kind) {
    case "proxy": {
      const up = cfg.mode.proxy.upstream;
      const tagTtlMs = up.ttl ? parseDuration(up.ttl) : undefined;
      return {
        ...common,
        mode: "proxy",
        users: [user(cfg.userRo, "ro")],
        distribution,
        upstream: {
          scheme: up.scheme,
          host: up.host,
          path: up.path,
          username: up.user,
          password: up.password,
          ca: cfg.mode.proxy.upstreamRegistryCa
            ? `${MOUNTS.pki}/upstream-registry-ca.crt`
            : undefined,
          // only the gateway reaches outside the node, and only in Proxy mode (Local's mirrorer
          // talks to the other masters directly); in its 0600 config file, never in the pod's env
          ...(cfg.egressProxy
            ? {
                proxy: {
                  ...cfg.egressProxy,
                  noProxy: [...(cfg.egressProxy.noProxy ?? []), settings.hostIP],
                },
              }
            : {}),
        },
        upstreamListener: {
          address: { host: lo, port: PORTS.upstreamListener },
          ...listenerAuth,
          ...(tagTtlMs ? { tagTtlMs } : {}),
        },
      };
    }
    case "local": {
      const l = cfg.mode.local;
      return {
        ...common,
        mode: "local",
        users: [
          user(cfg.userRo, "ro"),
          user(l.userRw, "rw"),
          user(l.userPuller, "mirror-puller"),
          user(l.userPusher, "mirror-pusher"),
        ],
        distribution,
      };
    }
  }
}

function mirrorerConfig(cfg: NodeConfig, settings: ManagerSettings): MirrorerConfig | undefined {
  if (cfg.mode.kind !== "local") return undefined;
  const remotes = cfg.mode.local.upstreams.filter(ip => ip !== settings.hostIP);
  if (remotes.length === 0) return undefined;
  return {
    ca: `${MOUNTS.pki}/ca.crt`,
    local: { host: settings.hostIP, port: PORTS.registry },
    remotes: remotes.map(host => ({ host, port: PORTS.registry })),
    puller: { name: cfg.mode.local.userPuller.name, password: cfg.mode.local.userPuller.password },
    pusher: { name: cfg.mode.local.userPusher.name, password: cfg.mode.local.userPusher.password },
    intervalMs: settings.mirrorerIntervalMs,
    concurrency: 4,
    monitoring: { address: { host: settings.hostIP, port: PORTS.mirrorerMonitoring } },
  };
}

function staticPod(
  cfg: NodeConfig,
  s: ManagerSettings,
  hash: string,
  withMirrorer: boolean,
): Record<string, unknown> {
  const containers: Record<string, unknown>[] = [
    gatewayContainer(s),
    distributionContainer(s),
    nginxContainer(s),
    ...(withMirrorer ? [mirrorerContainer(s)] : []),
  ];
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "registry-nodeservices",
      namespace: s.namespace,
      labels: { ...STATIC_POD_LABELS },
      annotations: {
        "registry.deckhouse.io/config-hash": hash,
        "registry.deckhouse.io/config-version": cfg.version,
      },
    },
    spec: {
      hostNetwork: true,
      dnsPolicy: "ClusterFirstWithHostNet",
      priorityClassName: "system-node-critical",
      securityContext: { runAsUser: 0, runAsGroup: 0, seccompProfile: { type: "RuntimeDefault" } },
      containers,
      volumes: podVolumes(withMirrorer),
    },
  };
}

/** One object shared by every container: the pod YAML holds it once, as an anchor, then aliases. */
const RESOURCES = { requests: { cpu: "10m", memory: "32Mi" } };

function probe(port: number, path: string, host: string) {
  return {
    httpGet: { host, port, path, scheme: "HTTP" },
    initialDelaySeconds: 5,
    periodSeconds: 10,
    timeoutSeconds: 5,
    failureThreshold: 3,
  };
}

function hostPath(path: string, type: "Directory" | "DirectoryOrCreate") {
  return { hostPath: { path: `/${path}`, type } };
}

function gatewayContainer(s: ManagerSettings): Record<string, unknown> {
  return {
    name: "gateway",
    image: s.images.gateway,
    imagePullPolicy: "IfNotPresent",
    command: ["/usr/local/bin/gateway"],
    args: ["--config", `${MOUNTS.config}/config.yaml`],
    ports: [
      { name: "gateway", containerPort: PORTS.gateway, protocol: "TCP" },
      { name: "gw-monitoring", containerPort: PORTS.gatewayMonitoring, protocol: "TCP" },
    ],
    // kubelet starts the next container only after this hook: distribution's proxy mode panics
    // at start when its remoteurl (the gateway's upstream listener) does not answer yet
    lifecycle: {
      postStart: {
        exec: {
          command: [
            "/usr/local/bin/gateway",
            "wait-ready",
            "--url",
            `http://${s.hostIP}:${PORTS.gatewayMonitoring}/healthz`,
          ],
        },
      },
    },
    livenessProbe: probe(PORTS.gatewayMonitoring, "/healthz", s.hostIP),
    readinessProbe: probe(PORTS.gatewayMonitoring, "/readyz", s.hostIP),
    resources: RESOURCES,
    volumeMounts: [
      { name: "gateway-config", mountPath: MOUNTS.config, readOnly: true },
      { name: "pki", mountPath: MOUNTS.pki, readOnly: true },
    ],
  };
}

function distributionContainer(s: ManagerSettings): Record<string, unknown> {
  const lo = s.loopbackAddress;
  return {
    name: "distribution",
    image: s.images.distribution,
    imagePullPolicy: "IfNotPresent",
    args: ["serve", `${MOUNTS.config}/config.yaml`],
    ports: [
      { name: "backend", containerPort: PORTS.distribution, protocol: "TCP" },
      { name: "debug", containerPort: PORTS.distributionDebug, protocol: "TCP" },
    ],
    livenessProbe: probe(PORTS.distributionDebug, "/debug/health", lo),
    readinessProbe: probe(PORTS.distributionDebug, "/debug/health", lo),
    resources: RESOURCES,
    volumeMounts: [
      { name: "distribution-config", mountPath: MOUNTS.config, readOnly: true },
      { name: "data", mountPath: MOUNTS.data },
    ],
  };
}

function nginxContainer(s: ManagerSettings): Record<string, unknown> {
  const lo = s.loopbackAddress;
  return {
    name: "nginx",
    // Debian's nginx travels in the data-plane image (images/oci-image.ts), as distribution does
    image: s.images.gateway,
    imagePullPolicy: "IfNotPresent",
    command: [NGINX],
    args: ["-e", "stderr", "-c", `${MOUNTS.config}/nginx.conf`],
    // the Service `registry` and the push Ingress target the port named `distribution`: nginx
    // holds the registry address, in front of the gateway (docs/adr/0110)
    ports: [
      {
        name: "distribution",
        containerPort: PORTS.registry,
        hostPort: PORTS.registry,
        protocol: "TCP",
      },
      { name: "nginx-health", containerPort: PORTS.nginxHealth, protocol: "TCP" },
    ],
    livenessProbe: probe(PORTS.nginxHealth, "/healthz", lo),
    readinessProbe: probe(PORTS.nginxHealth, "/healthz", lo),
    resources: RESOURCES,
    volumeMounts: [
      { name: "nginx-config", mountPath: MOUNTS.config, readOnly: true },
      { name: "pki", mountPath: MOUNTS.pki, readOnly: true },
      { name: "nginx-run", mountPath: MOUNTS.nginxRun },
      // committed blobs are served from their files (docs/adr/0136); distribution alone writes
      { name: "data", mountPath: MOUNTS.data, readOnly: true },
    ],
  };
}

function mirrorerContainer(s: ManagerSettings): Record<string, unknown> {
  return {
    name: "mirrorer",
    image: s.images.mirrorer,
    imagePullPolicy: "IfNotPresent",
    command: ["/usr/local/bin/mirrorer"],
    args: ["--config", `${MOUNTS.config}/config.yaml`],
    ports: [{ name: "mr-monitoring", containerPort: PORTS.mirrorerMonitoring, protocol: "TCP" }],
    livenessProbe: probe(PORTS.mirrorerMonitoring, "/healthz", s.hostIP),
    resources: RESOURCES,
    volumeMounts: [
      { name: "mirrorer-config", mountPath: MOUNTS.config, readOnly: true },
      { name: "pki", mountPath: MOUNTS.pki, readOnly: true },
    ],
  };
}

function podVolumes(withMirrorer: boolean): Record<string, unknown>[] {
  return [
    { name: "pki", ...hostPath(PATHS.pkiDir, "Directory") },
    { name: "distribution-config", ...hostPath(PATHS.distributionDir, "DirectoryOrCreate") },
    { name: "gateway-config", ...hostPath(PATHS.gatewayDir, "DirectoryOrCreate") },
    { name: "nginx-config", ...hostPath(PATHS.nginxDir, "DirectoryOrCreate") },
    { name: "nginx-run", emptyDir: {} },
    ...(withMirrorer
      ? [{ name: "mirrorer-config", ...hostPath(PATHS.mirrorerDir, "DirectoryOrCreate") }]
      : []),
    { name: "data", ...hostPath(PATHS.data, "DirectoryOrCreate") },
  ];
}

function yaml(doc: unknown): string {
  return stringify(doc, { lineWidth: 0 });
}
