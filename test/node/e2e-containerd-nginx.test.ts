// The node side end to end with real programs on loopback:
//   - three real registries (docker-registry, HTTPS with the module CA, htpasswd) stand in for the
//     masters; a fourth (its own CA and user, images under a path prefix) is the Direct upstream;
//   - the steps (stock containerd rendering) run in a sandbox root; the only thing replaced is
//     kubectl (recording stub, see sandbox.ts);
//   - real nginx runs the produced registry-proxy config; real containerd 1.6 runs the produced
//     config.toml (private root/state/socket, config_path at the produced registry.d) and pulls
//     registry.d8-system.svc:5001/system/deckhouse:v1 through its CRI plugin, as kubelet would.
import { chmod, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BashibleConfig } from "../../lib/domain/bashible-config";
import { renderNodeSteps, renderRegistryProxyConfig } from "./steps/steps";
import {
  createCa,
  createLab,
  freePort,
  issueServerCert,
  type Lab,
  type LabProcess,
  pushImage,
  type Registry,
  requireTools,
  run,
  type ServerCert,
  spawnProcess,
  startRegistry,
  writeOciLayout,
} from "../e2e-lab";
import { criPullImage } from "./cri";
import { createSandbox, type Sandbox } from "./sandbox";

const IMAGE = "registry.d8-system.svc:5001/system/deckhouse:v1";
const SVC = "registry.d8-system.svc:5001";
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";
const RO = { username: "ro", password: "ro-pa$$ 'word'" };
const UP = { username: "up", password: "up-pass" };

let lab: Lab;
let node: Sandbox;
const masters: Registry[] = [];
let upstream: Registry;
let upstreamCert: ServerCert;
let upstreamPort: number;
let nginx: LabProcess | undefined;
let nginxPort: number;
let containerd: LabProcess;
let socket: string;
let transition: BashibleConfig;
let final: BashibleConfig;

const manifestHits = (reg: Registry, path: string): number =>
  reg.accessLog().filter(e => e.path.startsWith(`/v2/${path}/manifests/v1`) && e.status === 200)
    .length;

async function startUpstream(): Promise<Registry> {
  const host = "127.0.0.5";
  return startRegistry({
    dir: lab.path("upstream"),
    host,
    htpasswd: { [UP.username]: UP.password },
    // a fixed port: the upstream comes back where hosts.toml expects it
    extraConfig: {
      http: {
        addr: `${host}:${upstreamPort}`,
        secret: "e2e-upstream",
        tls: { certificate: upstreamCert.cert, key: upstreamCert.key },
      },
    },
    tls: upstreamCert,
  });
}

/** nginx as the registry-proxy static pod runs it: not root, group deckhouse (64535). */
function startNginx(): LabProcess {
  const wrapper = lab.path("nginx-main.conf");
  const args = ["-e", "stderr", "-c", wrapper, "-g", "daemon off;"];
  const proc =
    process.getuid?.() === 0
      ? spawnProcess("nginx", "setpriv", [
          "--reuid=65534",
          "--regid=64535",
          "--clear-groups",
          "nginx",
          ...args,
        ])
      : spawnProcess("nginx", "nginx", args);
  return proc;
}

async function nginxTest(configPath: string): Promise<string> {
  const wrapper = lab.path(`nginx-t-${Math.random().toString(36).slice(2)}.conf`);
  await writeFile(wrapper, `load_module ${STREAM_MODULE};\ninclude ${configPath};\n`, {
    mode: 0o644,
  });
  const cmd =
    process.getuid?.() === 0
      ? ["setpriv", ["--reuid=65534", "--regid=64535", "--clear-groups", "nginx"]]
      : ["nginx", []];
  const { stderr } = await run(cmd[0] as string, [
    ...(cmd[1] as string[]),
    "-t",
    "-e",
    "stderr",
    "-c",
    wrapper,
  ]);
  return stderr;
}

function stepsFor(config: BashibleConfig) {
  return renderNodeSteps(config, {
    containerd: "stock",
    node: { name: "worker-1" },
    sandbox: { root: node.root, registryProxyListen: `127.0.0.1:${nginxPort}` },
  });
}

async function applyOnNode(config: BashibleConfig): Promise<void> {
  const runs = await node.run(stepsFor(config));
  const failed = runs.find(r => r.code !== 0);
  expect(failed, failed && `${failed.name}: ${failed.stderr}`).toBeUndefined();
}

async function ensureNginxUp(): Promise<void> {
  if (nginx?.running) return;
  nginx = startNginx();
  // nginx logs nothing on a clean start: wait until the balancer accepts connections
  for (let i = 0; i < 200; i++) {
    if (!nginx.running) throw new Error(`nginx exited:\n${nginx.tail()}`);
    const ok = await new Promise<boolean>(resolve => {
      import("node:net").then(
        ({ connect }) => {
          const s = connect(nginxPort, "127.0.0.1");
          s.on("connect", () => {
            s.destroy();
            resolve(true);
          });
          s.on("error", () => resolve(false));
        },
        () => resolve(false),
      );
    });
    if (ok) return;
    await new Promise(r => setTimeout(r, 25));
  }
  throw new Error(`nginx does not listen on 127.0.0.1:${nginxPort}:\n${nginx.tail()}`);
}

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "containerd", "ctr", "nginx", "setpriv", "openssl");
  if (!existsSync(STREAM_MODULE)) {
    throw new Error(
      `nginx stream module missing (${STREAM_MODULE}): apt-get install -y libnginx-mod-stream`,
    );
  }
  expect(process.getuid?.(), "the node steps run as root, as bashible does: run as root").toBe(0);
  lab = await createLab("node-e2e");
  await chmod(lab.dir, 0o755); // unprivileged nginx reads its config below it

  const moduleCa = await createCa(lab.path("pki-module"), "registry module CA");
  const masterCert = await issueServerCert(moduleCa, "masters", {
    ips: ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
  });
  const upstreamCa = await createCa(lab.path("pki-upstream"), "upstream CA");
  upstreamCert = await issueServerCert(upstreamCa, "upstream", { ips: ["127.0.0.5"] });

  const shared = lab.path("masters-data");
  for (const [i, host] of ["127.0.0.2", "127.0.0.3", "127.0.0.4"].entries()) {
    masters.push(
      await startRegistry({
        dir: lab.path(`master-${i}`),
        host,
        tls: masterCert,
        htpasswd: { [RO.username]: RO.password },
        storageDir: shared,
      }),
    );
  }
  upstreamPort = await freePort("127.0.0.5");
  upstream = await startUpstream();
  const image = await writeOciLayout(lab.path("image"), { seed: "node-e2e", tags: ["v1"] });
  await pushImage(image, masters[0]!, "system/deckhouse", { creds: RO });
  await pushImage(image, upstream, "mirror/system/deckhouse", { creds: UP });

  nginxPort = await freePort("127.0.0.1");
  const balancer = {
    host: `127.0.0.1:${nginxPort}`,
    scheme: "https" as const,
    ca: moduleCa.certPem,
    auth: RO,
  };
  const direct = {
    host: upstream.hostPort,
    scheme: "https" as const,
    ca: upstreamCa.certPem,
    auth: UP,
    rewrites: [{ from: "^system/deckhouse", to: "mirror/system/deckhouse" }],
  };
  const proxyEndpoints = masters.map(m => m.hostPort);
  transition = {
    mode: "Proxy",
    version: "e2e-transition",
    imagesBase: `${SVC}/system/deckhouse`,
    proxyEndpoints,
    hosts: { [SVC]: { mirrors: [direct, balancer] } },
  };
  final = { ...transition, version: "e2e-final", hosts: { [SVC]: { mirrors: [balancer] } } };

  node = await createSandbox(lab.path("node"));
  const ctrd = lab.path("ctrd");
  socket = `${ctrd}/c.sock`;
  // containerd as a stock node has it: CRI on, legacy mirrors the module must take away
  await writeFile(
    node.path("/etc/containerd/config.toml"),
    `version = 2
root = "${ctrd}/root"
state = "${ctrd}/state"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = "${ctrd}/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${ctrd}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${ctrd}/cni/bin"
    conf_dir = "${ctrd}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]
    endpoint = ["https://registry-1.docker.io"]
`,
  );
  await applyOnNode(transition);
  await writeFile(
    lab.path("nginx-main.conf"),
    `load_module ${STREAM_MODULE};\ninclude ${node.path("/etc/kubernetes/registry-proxy/nginx.conf")};\n`,
    { mode: 0o644 },
  );
  await ensureNginxUp();
  containerd = spawnProcess("containerd", "containerd", [
    "-c",
    node.path("/etc/containerd/config.toml"),
  ]);
  await containerd.waitForLine(/containerd successfully booted/, 15_000);
});

afterAll(async () => {
  await lab?.close();
});

describe("containerd 1.6 on the produced config", () => {
  it("loads the CRI plugin (config_path alone: the legacy mirrors are gone)", async () => {
    const { stdout } = await run("ctr", ["--address", socket, "plugins", "ls"]);
    const cri = stdout.split("\n").find(l => /\bio\.containerd\.grpc\.v1\s+cri\b/.test(l));
    expect(cri, stdout).toMatch(/\sok\s*$/);
    const config = await readFile(node.path("/etc/containerd/config.toml"), "utf8");
    expect(config).not.toContain("mirrors");
    expect(containerd.lines.join("\n")).not.toMatch(
      /failed to load plugin io\.containerd\.grpc\.v1\.cri/,
    );
  });

  it("nginx accepts the produced configs (with and without proxy endpoints)", async () => {
    const produced = node.path("/etc/kubernetes/registry-proxy/nginx_new.conf");
    expect(await nginxTest(produced)).toContain("test is successful");
    // Direct mode: no endpoints, no stream block, still a valid nginx config
    const empty = lab.path("nginx-no-endpoints.conf");
    const config = renderRegistryProxyConfig([], { pid: node.path("/tmp/registry-proxy.pid") });
    expect(config).not.toContain("stream {");
    await writeFile(empty, config, { mode: 0o644 });
    expect(await nginxTest(empty)).toContain("test is successful");
  });
});

describe("transition stage: old upstream and new balancer both listed", () => {
  it("pulls from the first mirror (the Direct upstream, path prefix via override_path)", async () => {
    const before = manifestHits(upstream, "mirror/system/deckhouse");
    expect(await criPullImage(socket, IMAGE)).toMatch(/^sha256:/);
    expect(manifestHits(upstream, "mirror/system/deckhouse")).toBeGreaterThan(before);
  });

  it("pulls while the old upstream is down (through nginx to the masters)", async () => {
    await upstream.stop();
    const before = masters.reduce((n, m) => n + manifestHits(m, "system/deckhouse"), 0);
    expect(await criPullImage(socket, IMAGE)).toMatch(/^sha256:/);
    const after = masters.reduce((n, m) => n + manifestHits(m, "system/deckhouse"), 0);
    expect(after).toBeGreaterThan(before);
  });

  it("pulls while the new balancer is down (from the old upstream)", async () => {
    upstream = await startUpstream();
    await nginx?.stop();
    const before = manifestHits(upstream, "mirror/system/deckhouse");
    expect(await criPullImage(socket, IMAGE)).toMatch(/^sha256:/);
    expect(manifestHits(upstream, "mirror/system/deckhouse")).toBeGreaterThan(before);
    await ensureNginxUp();
  });
});

describe("final stage", () => {
  it("switches hosts.toml without restarting containerd; pulls survive a stopped master", async () => {
    const pid = containerd.child.pid;
    await applyOnNode(final);
    const hosts = await readFile(node.path(`/etc/containerd/registry.d/${SVC}/hosts.toml`), "utf8");
    expect(hosts).not.toContain(upstream.hostPort);
    await upstream.stop(); // nothing may depend on the old source any more

    await masters[1]!.stop();
    const before = masters.map(m => manifestHits(m, "system/deckhouse"));
    for (let i = 0; i < 6; i++) expect(await criPullImage(socket, IMAGE)).toMatch(/^sha256:/);
    const after = masters.map(m => manifestHits(m, "system/deckhouse"));
    expect(after[1]).toBe(before[1]);
    expect((after[0] ?? 0) + (after[2] ?? 0) - (before[0] ?? 0) - (before[2] ?? 0)).toBe(6);
    expect(containerd.running && containerd.child.pid === pid).toBe(true);
  });
});
