// The sandbox's nodes: a bridge it owns and one network namespace per node (3 masters, 2
// workers), each with its own address on the bridge and loopback up, each running containerd 1.6
// (Debian's) with a private root, state and socket and the CRI plugin checked loaded, and —
// once the module's node steps have written its config — the per-node nginx balancer on
// 127.0.0.1:5001 of its namespace, as the registry-proxy static pod runs it.
//
//   const nodes = await startNodes({ dir });   // cleans what a crashed run left first
//   nodes.list[0].socket                       // containerd's socket (CRI), reachable from here
//   await nodes.close();                       // processes, namespaces, bridge, state file
//
// The host keeps one address on the bridge (`.1`): the sandbox's upstream registries listen
// there, so the nodes reach them the way real nodes reach a registry, over the network. Nothing
// outside the sandbox's /24 is addressed. Not a test file itself.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LabProcess, requireTools, run, spawnProcess } from "../e2e-lab";

/** Prefix of every namespace and link the sandbox creates: cleanup finds them by it. */
export const NAME_PREFIX = "rsbx";
export const BRIDGE = `${NAME_PREFIX}0`;
/** A private /24 the machine does not use (checked before anything is created). */
export const DEFAULT_SUBNET = "10.213.42";
/** Where a crashed run's leftovers are recorded, so the next start removes them first. */
export const STATE_FILE = join(tmpdir(), "registry-sandbox-state.json");
/** `ip netns exec` bind-mounts /etc/netns/<name>/hosts over /etc/hosts for what it runs. */
const ETC_NETNS = "/etc/netns";
const STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

export type NodeRole = "master" | "worker";

export const NODE_NAMES: readonly { name: string; role: NodeRole }[] = [
  { name: "master-0", role: "master" },
  { name: "master-1", role: "master" },
  { name: "master-2", role: "master" },
  { name: "worker-0", role: "worker" },
  { name: "worker-1", role: "worker" },
];

export interface SandboxNode {
  name: string;
  role: NodeRole;
  /** the node's address on the bridge: its InternalIP */
  ip: string;
  netns: string;
  dir: string;
  /** prefix of every node path the steps touch (test/node/steps/paths.ts) */
  root: string;
  /** containerd's gRPC socket (CRI) */
  socket: string;
  containerd: LabProcess;
  nginx: LabProcess | undefined;
  /** Restarts containerd (same config, same root): what bashible's containerd-need-restart does. */
  restartContainerd(): Promise<void>;
  /** Whether containerd was down (restarting) at any moment since `since` (ms since epoch). */
  containerdDownSince(since: number): boolean;
  /** Starts nginx if its config exists and it is not running; reloads it when the config changed. */
  syncRegistryProxy(): Promise<void>;
}

export interface Nodes {
  subnet: string;
  /** the host's address on the bridge */
  hostIp: string;
  list: SandboxNode[];
  byName(name: string): SandboxNode;
  /**
   * One more namespace on the bridge (a pod's network: the in-cluster proxy's pods, the
   * in-cluster client), loopback up, `<subnet>.<host>` on eth0; `hosts` lines become its
   * /etc/hosts (as `ip netns exec` shows /etc/netns/<name>/hosts). Removed by close().
   */
  addNamespace(name: string, host: number, hosts?: string): Promise<{ netns: string; ip: string }>;
  /** Rewrites a namespace's /etc/hosts (what a cluster DNS answers for its names). */
  setHosts(netns: string, hosts: string): Promise<void>;
  close(): Promise<void>;
}

interface SavedState {
  pid: number;
  dir: string;
  netns: string[];
  bridge: string;
}

const ip = (...args: string[]) => run("ip", args);

/** Requirements, named: root and CAP_NET_ADMIN (namespaces, a bridge), and the programs. */
export async function requireSandboxHost(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the sandbox creates network namespaces and a bridge and runs containerd: run it as root " +
        "(CAP_NET_ADMIN and CAP_SYS_ADMIN)",
    );
  }
  requireTools("ip", "containerd", "ctr", "nginx", "setpriv", "bash");
  if (!existsSync(STREAM_MODULE)) {
    throw new Error(
      `nginx stream module missing (${STREAM_MODULE}): apt-get install -y libnginx-mod-stream`,
    );
  }
  const probe = `${NAME_PREFIX}-probe-${process.pid}`;
  try {
    await ip("netns", "add", probe);
  } catch (err) {
    throw new Error(
      `cannot create a network namespace (needs CAP_NET_ADMIN and CAP_SYS_ADMIN): ${String(err)}`,
    );
  }
  await ip("netns", "del", probe);
}

/** Kills every process left in a namespace of ours (by pid, as `ip netns pids` lists them). */
async function killNamespacePids(netns: string): Promise<void> {
  const r = await ip("netns", "pids", netns).catch(() => undefined);
  for (const pid of (r?.stdout ?? "").split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // gone already
    }
  }
}

/**
 * Removes what a crashed run left behind: the namespaces and bridge recorded in the state file
 * and any namespace or link still carrying the sandbox's prefix, and the recorded temp dir.
 */
export async function cleanLeftovers(): Promise<string[]> {
  const removed: string[] = [];
  let saved: SavedState | undefined;
  try {
    saved = JSON.parse(readFileSync(STATE_FILE, "utf8")) as SavedState;
  } catch {
    saved = undefined;
  }
  if (saved && saved.pid !== process.pid && pidAlive(saved.pid)) {
    throw new Error(
      `another sandbox (pid ${saved.pid}) is running; stop it first (state: ${STATE_FILE})`,
    );
  }
  const listed = (await ip("netns", "list")).stdout
    .split("\n")
    .map(l => l.split(" ")[0] ?? "")
    .filter(n => n.startsWith(`${NAME_PREFIX}-`));
  for (const ns of new Set([...(saved?.netns ?? []), ...listed])) {
    await killNamespacePids(ns);
    if ((await ip("netns", "del", ns).catch(() => undefined)) !== undefined) removed.push(ns);
  }
  const links = (await ip("-o", "link", "show")).stdout
    .split("\n")
    .map(l => l.split(":")[1]?.trim().split("@")[0] ?? "")
    .filter(n => n === BRIDGE || n.startsWith(`${NAME_PREFIX}v`));
  for (const link of links) {
    if ((await ip("link", "del", link).catch(() => undefined)) !== undefined) removed.push(link);
  }
  if (saved?.dir && saved.dir.startsWith(tmpdir()) && existsSync(saved.dir)) {
    rmSync(saved.dir, { recursive: true, force: true });
    removed.push(saved.dir);
  }
  for (const ns of new Set([...(saved?.netns ?? []), ...listed])) removeEtcNetns(ns);
  rmSync(STATE_FILE, { force: true });
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A namespace's /etc/netns directory, and the temporary hosts file a crash may have left. */
function removeEtcNetns(netns: string): void {
  rmSync(join(ETC_NETNS, netns), { recursive: true, force: true });
  rmSync(hostsTemporary(netns), { force: true });
}

function hostsTemporary(netns: string): string {
  return join(ETC_NETNS, `.${netns}.hosts.tmp`);
}

async function setHosts(netns: string, hosts: string): Promise<void> {
  await mkdir(join(ETC_NETNS, netns), { recursive: true });
  const file = join(ETC_NETNS, netns, "hosts");
  // the temporary file lives beside the directory, not in it: `ip netns exec` bind-mounts every
  // file of /etc/netns/<name>/ over /etc, and one started between write and rename failed on
  // a vanished hosts.tmp
  const temporary = hostsTemporary(netns);
  await writeFile(temporary, `127.0.0.1 localhost\n${hosts}`);
  await rename(temporary, file);
  // no DNS server: a name /etc/hosts lacks fails here instead of asking the machine's resolver
  await writeFile(join(ETC_NETNS, netns, "resolv.conf"), "# sandbox: /etc/hosts only\n");
}

/** Refuses a /24 the machine already routes or addresses: the sandbox must own its network. */
async function checkSubnetFree(subnet: string): Promise<void> {
  const routes = (await ip("-4", "route", "show", "table", "all")).stdout;
  const addrs = (await ip("-4", "-o", "addr", "show")).stdout;
  const prefix = `${subnet}.`;
  if (routes.includes(prefix) || addrs.includes(prefix)) {
    throw new Error(`subnet ${subnet}.0/24 is already in use on this machine; pick another one`);
  }
}

function containerdConfig(dir: string, socket: string): string {
  // a stock node's config: CRI on, no registry settings yet (the module's steps add config_path)
  return `version = 2
root = "${dir}/ctrd/root"
state = "${dir}/ctrd/state"
[grpc]
  address = "${socket}"
[ttrpc]
  address = "${socket}.ttrpc"
[debug]
  address = "${dir}/ctrd/debug.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/ctrd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/ctrd/cni/bin"
    conf_dir = "${dir}/ctrd/cni/conf"
`;
}

async function startContainerd(node: {
  name: string;
  netns: string;
  root: string;
  socket: string;
}): Promise<LabProcess> {
  const config = join(node.root, "etc/containerd/config.toml");
  const proc = spawnProcess(`containerd@${node.name}`, "ip", [
    "netns",
    "exec",
    node.netns,
    "containerd",
    "-c",
    config,
  ]);
  await proc.waitForLine(/containerd successfully booted/, 30_000);
  // containerd keeps running without its CRI plugin when the config is refused: check it
  const { stdout } = await run("ctr", ["--address", node.socket, "plugins", "ls"]);
  const cri = stdout.split("\n").find(l => /\bio\.containerd\.grpc\.v1\s+cri\b/.test(l));
  if (!cri || !/\sok\s*$/.test(cri)) {
    await proc.stop();
    throw new Error(
      `containerd on ${node.name}: the CRI plugin is not loaded (${cri ?? "absent"}):\n` +
        proc.lines.filter(l => /level=(error|warning)/.test(l)).join("\n"),
    );
  }
  return proc;
}

/** Creates the bridge, the namespaces and their containerd; records them for crash cleanup. */
export async function startNodes(opts: { dir: string; subnet?: string }): Promise<Nodes> {
  await requireSandboxHost();
  await cleanLeftovers();
  const subnet = opts.subnet ?? DEFAULT_SUBNET;
  await checkSubnetFree(subnet);
  const hostIp = `${subnet}.1`;
  const state: SavedState = { pid: process.pid, dir: opts.dir, netns: [], bridge: BRIDGE };
  const save = () => writeFileSync(STATE_FILE, JSON.stringify(state));
  save();
  const list: SandboxNode[] = [];
  const close = async () => {
    await Promise.allSettled(list.flatMap(n => [n.nginx?.stop(), n.containerd?.stop()]));
    for (const ns of state.netns) {
      await killNamespacePids(ns);
      await ip("netns", "del", ns).catch(() => undefined);
    }
    await ip("link", "del", BRIDGE).catch(() => undefined);
    for (const ns of state.netns) removeEtcNetns(ns);
    rmSync(STATE_FILE, { force: true });
  };
  let vethIndex = NODE_NAMES.length;
  const addNamespace = async (name: string, host: number, hosts?: string) => {
    const netns = `${NAME_PREFIX}-${name}`;
    const addr = `${subnet}.${host}`;
    state.netns.push(netns);
    save();
    await ip("netns", "add", netns);
    const veth = `${NAME_PREFIX}v${vethIndex++}`;
    await ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns);
    await ip("link", "set", veth, "master", BRIDGE, "up");
    await ip("-n", netns, "link", "set", "lo", "up");
    await ip("-n", netns, "addr", "add", `${addr}/24`, "dev", "eth0");
    await ip("-n", netns, "link", "set", "eth0", "up");
    if (hosts !== undefined) await setHosts(netns, hosts);
    return { netns, ip: addr };
  };
  try {
    await ip("link", "add", BRIDGE, "type", "bridge");
    await ip("addr", "add", `${hostIp}/24`, "dev", BRIDGE);
    await ip("link", "set", BRIDGE, "up");
    for (const [i, { name, role }] of NODE_NAMES.entries()) {
      const netns = `${NAME_PREFIX}-${name}`;
      const nodeIp = `${subnet}.${11 + i}`;
      state.netns.push(netns);
      save();
      await ip("netns", "add", netns);
      const veth = `${NAME_PREFIX}v${i}`;
      await ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns);
      await ip("link", "set", veth, "master", BRIDGE, "up");
      await ip("-n", netns, "link", "set", "lo", "up");
      await ip("-n", netns, "addr", "add", `${nodeIp}/24`, "dev", "eth0");
      await ip("-n", netns, "link", "set", "eth0", "up");
      const dir = join(opts.dir, "nodes", name);
      const root = join(dir, "root");
      for (const d of ["etc/containerd", "etc/kubernetes", "var/lib/bashible", "tmp", "ctrd"])
        await mkdir(join(root, d), { recursive: true });
      await mkdir(join(dir, "ctrd"), { recursive: true });
      // nginx runs unprivileged (group deckhouse) and must traverse to its config
      for (const d of [
        opts.dir,
        join(opts.dir, "nodes"),
        dir,
        root,
        join(root, "etc"),
        join(root, "etc/kubernetes"),
      ])
        await chmod(d, 0o755);
      await chmod(join(root, "tmp"), 0o1777);
      await writeFile(join(root, "var/lib/bashible/discovered-node-ip"), `${nodeIp}\n`);
      const socket = join(dir, "ctrd", "c.sock");
      await writeFile(join(root, "etc/containerd/config.toml"), containerdConfig(dir, socket));
      const base = { name, netns, root, socket };
      const down: [number, number | undefined][] = [];
      const node: SandboxNode = {
        name,
        role,
        ip: nodeIp,
        netns,
        dir,
        root,
        socket,
        containerd: await startContainerd(base),
        nginx: undefined,
        async restartContainerd() {
          const interval: [number, number | undefined] = [Date.now(), undefined];
          down.push(interval);
          try {
            await this.containerd.stop();
            this.containerd = await startContainerd(base);
          } finally {
            interval[1] = Date.now();
          }
        },
        containerdDownSince(since) {
          return down.some(([, end]) => end === undefined || end >= since);
        },
        async syncRegistryProxy() {
          await syncRegistryProxy(this);
        },
      };
      list.push(node);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    subnet,
    hostIp,
    list,
    addNamespace,
    setHosts,
    byName(name) {
      const n = list.find(x => x.name === name);
      if (!n) throw new Error(`no sandbox node ${name}`);
      return n;
    },
    close,
  };
}

/**
 * The registry-proxy static pod's part: nginx on the node's 127.0.0.1:5001 with the config the
 * module's registry-proxy step wrote (nginx_new.conf → nginx.conf, then a reload), run as the
 * static pod runs it: not root, group deckhouse (64535).
 */
async function syncRegistryProxy(node: SandboxNode): Promise<void> {
  const dir = join(node.root, "etc/kubernetes/registry-proxy");
  const desired = join(dir, "nginx_new.conf");
  const active = join(dir, "nginx.conf");
  if (!existsSync(desired)) return;
  const [want, have] = await Promise.all([
    readFile(desired, "utf8"),
    readFile(active, "utf8").catch(() => ""),
  ]);
  const changed = want !== have;
  if (changed) {
    await copyFile(desired, active);
    await chmod(active, 0o640);
  }
  const main = join(node.dir, "nginx-main.conf");
  if (!existsSync(main)) {
    await writeFile(main, `load_module ${STREAM_MODULE};\ninclude ${active};\n`, { mode: 0o644 });
  }
  if (node.nginx?.running) {
    if (changed && node.nginx.child.pid) process.kill(node.nginx.child.pid, "SIGHUP");
    return;
  }
  node.nginx = spawnProcess(`nginx@${node.name}`, "ip", [
    "netns", "exec", node.netns,
    "setpriv", "--reuid=65534", "--regid=64535", "--clear-groups",
    "nginx", "-e", "stderr", "-c", main, "-g", "daemon off;",
  ]); // prettier-ignore
  // nginx logs nothing on a clean start; a stream-less config (Direct) listens nowhere
  await new Promise(r => setTimeout(r, 300));
  if (!node.nginx.running) throw new Error(`nginx on ${node.name} exited:\n${node.nginx.tail()}`);
}
