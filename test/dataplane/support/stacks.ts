// A running gateway in each mode, as it ships: the bundled program in its own process (so a crash
// is seen as a dead process, not a dead test worker) in front of real distribution 2.8 — stock
// storage (Local), a pull-through cache of a TLS + htpasswd upstream (Proxy), or that upstream
// itself (Direct). In Local and Proxy, real nginx with the config the nodeservices-manager renders
// holds the registry address in front of the gateway, as in the static pod (docs/adr/0110).
// Used by the hostile-client tests and the fuzz suite.
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type CertificateAuthority,
  createCa,
  freePort,
  issueServerCert,
  type Lab,
  type LabProcess,
  type OciLayout,
  pushImage,
  type Registry,
  spawnProcess,
  startRegistry,
  writeOciLayout,
} from "../../e2e-lab";
import type { GatewayMode } from "../../../lib/dataplane/gateway-config";
import { writeGatewayConfig } from "./gateway";
import { bundles } from "./masters";
import { type RegistryNginx, startRegistryNginx } from "./nginx";
import { type TestUser, user } from "./node-config";

export interface GatewayStack {
  mode: GatewayMode;
  proc: LabProcess;
  /** local, proxy: nginx holding the registry address (`base`) in front of the gateway */
  nginx?: RegistryNginx;
  /** https://127.0.0.1:port */
  base: string;
  hostPort: string;
  monitoring: string;
  /** the gateway's own client listener (`host:port`; plain HTTP behind nginx, local and proxy) */
  gateway: string;
  /** proxy mode: the loopback listener distribution uses as its remoteurl */
  upstreamListener?: string;
  ca: string;
  ro: TestUser;
  rw: TestUser;
  /** the image every mode serves as system/deckhouse:v1 */
  image: OciLayout;
  distribution?: Registry;
  upstream?: Registry;
}

export interface StackFixtures {
  lab: Lab;
  gatewayBundle: string;
  moduleCa: CertificateAuthority;
  upstreamCa: CertificateAuthority;
}

/** The gateway bundle and the two CAs (the module's, the upstream's) every stack of a lab uses. */
export async function stackFixtures(lab: Lab): Promise<StackFixtures> {
  const { gateway } = await bundles(lab.path("bundles"));
  return {
    lab,
    gatewayBundle: gateway,
    moduleCa: await createCa(lab.path("module-pki"), "registry-ca"),
    upstreamCa: await createCa(lab.path("upstream-pki"), "upstream-ca"),
  };
}

/** What the manager's distribution config adds to each answer; nginx adds it to the files it serves. */
const DISTRIBUTION_HEADERS = { "X-Content-Type-Options": "nosniff" };

export const UPSTREAM_USER = { name: "upuser", password: "uppass-0123" };

/** Starts the peers and the gateway of `mode`; every process is stopped by `lab.close()`. */
export async function startStack(
  f: StackFixtures,
  mode: GatewayMode,
  opts: { payloadBytes?: number; gatewayEnv?: Record<string, string> } = {},
): Promise<GatewayStack> {
  const dir = f.lab.path(`stack-${mode}`);
  await mkdir(dir, { recursive: true });
  const image = await writeOciLayout(join(dir, "img"), {
    seed: `stack-${mode}`,
    tags: ["v1"],
    payloadBytes: opts.payloadBytes ?? 200_000,
  });
  const ro = user("ro");
  const rw = user("rw");
  const cert = await issueServerCert(f.moduleCa, `gw-${mode}`);
  const base: Record<string, unknown> = {
    mode,
    listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
    monitoring: { address: "127.0.0.1:0" },
    users: [
      { name: ro.name, passwordHash: ro.passwordHash, role: "ro" },
      { name: rw.name, passwordHash: rw.passwordHash, role: "rw" },
    ],
  };
  let upstream: Registry | undefined;
  let distribution: Registry | undefined;
  const upstreamDoc = () => ({
    url: (upstream as Registry).url,
    path: "deckhouse/ee",
    username: UPSTREAM_USER.name,
    password: UPSTREAM_USER.password,
    ca: f.upstreamCa.cert,
  });
  if (mode !== "local") {
    upstream = await startRegistry({
      dir: join(dir, "upstream"),
      tls: await issueServerCert(f.upstreamCa, `upstream-${mode}`),
      htpasswd: { [UPSTREAM_USER.name]: UPSTREAM_USER.password },
    });
    await pushImage(image, upstream, "deckhouse/ee", {
      creds: { username: UPSTREAM_USER.name, password: UPSTREAM_USER.password },
    });
  }
  let listenerAddress: string | undefined;
  const listenerCreds = { username: "distribution", password: "listener-secret-0123" };
  if (mode === "local") {
    distribution = await startRegistry({
      dir: join(dir, "distribution"),
      headers: DISTRIBUTION_HEADERS,
    });
    await pushImage(image, distribution, "system/deckhouse");
    base.distribution = { url: distribution.url };
  } else if (mode === "proxy") {
    // distribution and the gateway name each other: the ports are chosen before either starts
    listenerAddress = `127.0.0.1:${await freePort()}`;
    const distributionPort = await freePort();
    base.upstream = upstreamDoc();
    base.distribution = { url: `http://127.0.0.1:${distributionPort}` };
    base.upstreamListener = { address: listenerAddress, ...listenerCreds };
  } else {
    base.upstream = upstreamDoc();
  }
  if (mode !== "direct") base.tlsFrontend = { address: "127.0.0.1:0" };
  const configFile = join(dir, "gateway.yaml");
  await writeGatewayConfig(configFile, base);
  const proc = spawnProcess(
    `gateway-${mode}`,
    process.execPath,
    [f.gatewayBundle, "--config", configFile],
    { cwd: dir, env: opts.gatewayEnv ?? {} },
  );
  const line = await proc.waitForLine(/"msg":"gateway listening"/, 30_000);
  const record = JSON.parse(line.input ?? "{}") as { client: string; monitoring: string };
  if (mode === "proxy") {
    const port = Number(
      String((base.distribution as { url: string }).url)
        .split(":")
        .pop(),
    );
    distribution = await startRegistry({
      dir: join(dir, "distribution"),
      port,
      proxy: { remoteUrl: `http://${listenerAddress}`, ...listenerCreds },
      headers: DISTRIBUTION_HEADERS,
      timeoutMs: 30_000,
    });
  }
  let nginx: RegistryNginx | undefined;
  if (mode !== "direct") {
    // nginx's workers run as nobody and read distribution's storage: the lab directory (0700 from
    // mkdtemp) must let them through, as /opt/deckhouse/registry does on a node
    await chmod(f.lab.dir, 0o711);
    const [gwHost, gwPort] = splitHostPort(record.client);
    const [dHost, dPort] = splitHostPort(
      String((base.distribution as { url: string }).url).replace(/^http:\/\//, ""),
    );
    nginx = await startRegistryNginx(join(dir, "nginx"), {
      listen: { host: "127.0.0.1", port: await freePort() },
      certificate: cert.cert,
      key: cert.key,
      gateway: { host: gwHost, port: gwPort },
      distribution: { host: dHost, port: dPort },
      workers: 1,
      // committed blobs from distribution's storage, as in the static pod (docs/adr/0136)
      storage: { root: (distribution as Registry).storageDir, headers: DISTRIBUTION_HEADERS },
      pullThroughCache: mode === "proxy",
    });
  }
  const client = nginx?.hostPort ?? record.client;
  return {
    mode,
    proc,
    ...(nginx ? { nginx } : {}),
    base: `https://${client}`,
    hostPort: client,
    monitoring: `http://${record.monitoring}`,
    gateway: record.client,
    ...(listenerAddress ? { upstreamListener: `http://${listenerAddress}` } : {}),
    ca: f.moduleCa.certPem,
    ro,
    rw,
    image,
    ...(distribution ? { distribution } : {}),
    ...(upstream ? { upstream } : {}),
  };
}

function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(":");
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
}
