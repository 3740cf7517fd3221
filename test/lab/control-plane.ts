// The lab control plane: etcd + kube-apiserver on loopback with their own PKI and a kubeconfig,
// admission as a real cluster has it (the default plugin set, ValidatingAdmissionPolicy on, plus
// NodeRestriction) and authorization Node,RBAC. Nothing else of a cluster runs: no controller
// manager (no garbage collection, namespace finalization, service-account token controller), no
// scheduler, no kubelet — tests play those actors against the API where they need them.
//
//   const cp = await startControlPlane();          // ready (GET /readyz is 200) when it resolves
//   await cp.kubectl(["get", "nodes"]);            // the pinned kubectl, on cp.kubeconfigPath
//   await cp.apply(objects);                       // server-side apply; refusal → the server's message
//   const kc = cp.kubeConfig();                    // @kubernetes/client-node, as cluster-admin
//   await cp.stop();                               // every process, the temp dirs
//
// In a test (default) the processes die with the test worker (parent-death signal, exit and
// SIGINT/SIGTERM handlers). `detached: true` (npm run lab -- up) lets them outlive the starter;
// `attachControlPlane(dir)` finds them again from the state file, and its stop() ends them.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { freePort } from "../e2e-lab/network";
import { run, type RunResult } from "../e2e-lab/process";
import { createControlPlanePki, type ControlPlanePki } from "./pki";
import { labTool } from "./tools";

export interface ControlPlaneOptions {
  /**
   * State directory (PKI, kubeconfig, logs, state file). Created when absent; default a fresh
   * temp dir. stop() removes it either way.
   */
  dir?: string;
  /** Processes outlive this Node.js process (npm run lab -- up). Default false. */
  detached?: boolean;
  /** How long to wait for /readyz; default 90 s (a loaded two-core machine). */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (appended; a later flag wins). */
  apiserverArgs?: readonly string[];
}

export interface ControlPlaneTimings {
  /** PKI and kubeconfig written */
  pkiMs: number;
  /** etcd answers /health */
  etcdMs: number;
  /** kube-apiserver answers /readyz 200, from its start */
  apiserverMs: number;
  /** start to ready */
  totalMs: number;
}

export interface KubectlOptions {
  /** stdin (e.g. manifests for `apply -f -`) */
  input?: string;
  timeoutMs?: number;
  /** another identity's kubeconfig (see kubeconfigForToken); default the lab admin's */
  kubeconfig?: string;
}

export interface ApplyOptions {
  /** SSA field manager; default "registry-lab" */
  fieldManager?: string;
  /** print the objects as the server stored them (`-o json`, a List) on stdout */
  printObjects?: boolean;
}

export interface ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  readonly etcdUrl: string;
  readonly pids: { etcd: number; kubeApiserver: number };
  readonly caCertPem: string;
  readonly timings?: ControlPlaneTimings;
  /** The pinned kubectl on this control plane; rejects with stderr (the server's message). */
  kubectl(args: readonly string[], opts?: KubectlOptions): Promise<RunResult>;
  /** Server-side apply (force conflicts), one kubectl call; rejects with the server's message. */
  apply(objects: readonly object[], opts?: ApplyOptions): Promise<RunResult>;
  /** A client-node KubeConfig for the lab admin (system:masters). */
  kubeConfig(): KubeConfig;
  /** Writes a kubeconfig that authenticates with a bearer token (a service account's); its path. */
  kubeconfigForToken(token: string): Promise<string>;
  /** Stops kube-apiserver, then etcd; removes the state and data dirs. Safe to call twice. */
  stop(): Promise<void>;
}

/** What `lab up` leaves behind so that `lab down` (another process) can stop it. */
interface StateFile {
  server: string;
  etcdUrl: string;
  kubeconfigPath: string;
  etcdDataDir: string;
  pids: { etcd: number; kubeApiserver: number };
  caCertPem: string;
}

export const STATE_FILE = "control-plane.json";

export class ControlPlaneError extends Error {
  override name = "ControlPlaneError";
}

const PDEATHSIG = existsSync("/usr/bin/setpriv") ? "/usr/bin/setpriv" : undefined;

/** Service and pod ranges of examples/values.yaml (a Deckhouse static cluster's defaults). */
const SERVICE_CIDR = "10.222.0.0/16";

// --- process lifecycle -------------------------------------------------------------------------

interface Daemon {
  name: string;
  pid: number;
  logPath: string;
  child?: ChildProcess;
}

/** In-test control planes still running: killed and removed on exit or a termination signal. */
const live = new Set<{ daemons: Daemon[]; dirs: string[] }>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

function cleanupNow(): void {
  for (const cp of live) {
    for (const d of cp.daemons) killGroup(d.pid, "SIGKILL");
    for (const dir of cp.dirs) rmSync(dir, { recursive: true, force: true });
  }
  live.clear();
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", cleanupNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = () => {
      cleanupNow();
      process.removeListener(signal, handler);
      // nobody else handles it: die of the signal as the process would have without us
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

function startDaemon(
  name: string,
  command: string,
  args: readonly string[],
  logPath: string,
  detached: boolean,
): Daemon {
  const fd = openSync(logPath, "a");
  const [cmd, argv] =
    PDEATHSIG && !detached
      ? [PDEATHSIG, ["--pdeathsig", "KILL", "--", command, ...args]]
      : [command, [...args]];
  const child = spawn(cmd, argv, { stdio: ["ignore", fd, fd], detached: true });
  closeSync(fd);
  if (child.pid === undefined) throw new ControlPlaneError(`${name}: cannot start ${command}`);
  if (detached) child.unref();
  return { name, pid: child.pid, logPath, child };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie (exited, not yet reaped by whoever inherited it) is not alive
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function waitGone(pid: number, child: ChildProcess | undefined, ms: number) {
  if (child && child.exitCode === null && child.signalCode === null) {
    await Promise.race([
      new Promise(r => child.once("exit", r)),
      new Promise(r => setTimeout(r, ms)),
    ]);
    return child.exitCode !== null || child.signalCode !== null;
  }
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise(r => setTimeout(r, 50));
  }
  return true;
}

async function stopDaemon(d: Daemon): Promise<void> {
  if (d.child && (d.child.exitCode !== null || d.child.signalCode !== null)) return;
  if (!d.child && !isAlive(d.pid)) return;
  killGroup(d.pid, "SIGTERM");
  if (!(await waitGone(d.pid, d.child, 10_000))) {
    killGroup(d.pid, "SIGKILL");
    await waitGone(d.pid, d.child, 5_000);
  }
}

function logTail(path: string, lines = 25): string {
  try {
    return readFileSync(path, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// --- readiness ---------------------------------------------------------------------------------

function httpsGet(
  url: string,
  tls: { ca: string; cert: string; key: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 2_000 }, res => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", c => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function poll(
  what: string,
  probe: () => Promise<boolean>,
  daemons: readonly Daemon[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const d of daemons) {
      const exited = d.child ? d.child.exitCode !== null || d.child.signalCode !== null : false;
      if (exited || !isAlive(d.pid))
        throw new ControlPlaneError(
          `${d.name} exited before ${what} (log ${d.logPath}):\n${logTail(d.logPath)}`,
        );
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      const logs = daemons.map(d => `--- ${d.name} (${d.logPath})\n${logTail(d.logPath)}`);
      throw new ControlPlaneError(`no ${what} within ${timeoutMs} ms\n${logs.join("\n")}`);
    }
    await new Promise(r => setTimeout(r, 50));
  }
}

// --- the control plane -------------------------------------------------------------------------

type KubeconfigUser =
  { "client-certificate-data": string; "client-key-data": string } | { token: string };

function kubeconfigYaml(server: string, caCertPem: string, user: KubeconfigUser): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "registry-lab",
        cluster: {
          server,
          "certificate-authority-data": Buffer.from(caCertPem).toString("base64"),
        },
      },
    ],
    users: [{ name: "registry-lab-user", user }],
    contexts: [
      { name: "registry-lab", context: { cluster: "registry-lab", user: "registry-lab-user" } },
    ],
    "current-context": "registry-lab",
  });
}

function etcdArgs(dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    "--name=lab",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=lab=${peer}`,
    "--initial-cluster-state=new",
    // one member on loopback: elect at once instead of after the default second
    "--heartbeat-interval=10",
    "--election-timeout=100",
    "--logger=zap",
    "--log-level=warn",
  ];
}

function apiserverArgs(
  pki: ControlPlanePki,
  port: number,
  etcdUrl: string,
  extra: readonly string[],
): string[] {
  return [
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${port}`,
    `--etcd-servers=${etcdUrl}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCert}`,
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    "--authorization-mode=Node,RBAC",
    // kubeadm's choice: the default plugin set (NamespaceLifecycle, ServiceAccount, …,
    // ValidatingAdmissionPolicy, ValidatingAdmissionWebhook, ResourceQuota) plus NodeRestriction
    "--enable-admission-plugins=NodeRestriction",
    "--allow-privileged=true",
    // the loopback address is not a valid endpoint of Service/kubernetes: keep no endpoints
    "--endpoint-reconciler-type=none",
    "--profiling=false",
    ...extra,
  ];
}

async function stateDir(dir: string | undefined): Promise<string> {
  if (dir) {
    await mkdir(dir, { recursive: true });
    return dir;
  }
  return mkdtempSync(join(tmpdir(), "registry-lab-"));
}

/** etcd's data on tmpfs when there is one: fsync there costs nothing, the lab keeps nothing. */
function etcdDataParent(dir: string): string {
  try {
    return mkdtempSync("/dev/shm/registry-lab-etcd-");
  } catch {
    return join(dir, "etcd");
  }
}

function makeControlPlane(
  dir: string,
  state: StateFile,
  daemons: Daemon[],
  tracked: { daemons: Daemon[]; dirs: string[] } | undefined,
  timings: ControlPlaneTimings | undefined,
): ControlPlane {
  let stopped: Promise<void> | undefined;
  let tokens = 0;
  const kubectl = (args: readonly string[], opts: KubectlOptions = {}) =>
    run(
      labTool("kubectl"),
      [
        "--kubeconfig",
        opts.kubeconfig ?? state.kubeconfigPath,
        // discovery cache inside the state dir: nothing left in ~/.kube after stop()
        `--cache-dir=${join(dir, "kube-cache")}`,
        ...args,
      ],
      {
        input: opts.input,
        timeoutMs: opts.timeoutMs ?? 60_000,
      },
    );
  return {
    dir,
    kubeconfigPath: state.kubeconfigPath,
    server: state.server,
    etcdUrl: state.etcdUrl,
    pids: state.pids,
    caCertPem: state.caCertPem,
    ...(timings ? { timings } : {}),
    kubectl,
    apply(objects, opts = {}) {
      const input = objects.map(o => `---\n${stringify(o)}`).join("");
      return kubectl(
        [
          "apply",
          "--server-side",
          "--force-conflicts",
          `--field-manager=${opts.fieldManager ?? "registry-lab"}`,
          ...(opts.printObjects ? ["-o", "json"] : []),
          "-f",
          "-",
        ],
        { input },
      );
    },
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromFile(state.kubeconfigPath);
      return kc;
    },
    async kubeconfigForToken(token) {
      tokens += 1;
      const path = join(dir, `kubeconfig-token-${tokens}`);
      await writeFile(path, kubeconfigYaml(state.server, state.caCertPem, { token }), {
        mode: 0o600,
      });
      return path;
    },
    stop() {
      stopped ??= (async () => {
        // apiserver first: it would otherwise log etcd errors while etcd goes away
        const [etcd, apiserver] = daemons;
        if (apiserver) await stopDaemon(apiserver);
        if (etcd) await stopDaemon(etcd);
        rmSync(state.etcdDataDir, { recursive: true, force: true });
        rmSync(dir, { recursive: true, force: true });
        if (tracked) live.delete(tracked);
      })();
      return stopped;
    },
  };
}

/**
 * Starts etcd and kube-apiserver and resolves once /readyz answers 200. A missing tool rejects
 * with a LabToolError (the install or rebuild hint); a process that dies or never gets ready
 * rejects with its log tail. Whatever was started is stopped and removed on failure.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const detached = opts.detached ?? false;
  const timeoutMs = opts.readyTimeoutMs ?? 90_000;
  // every tool before anything starts: a missing one fails fast with its hint
  const etcdBin = labTool("etcd");
  const apiserverBin = labTool("kube-apiserver");
  labTool("kubectl");
  const t0 = Date.now();
  const dir = await stateDir(opts.dir);
  const etcdDataDir = etcdDataParent(dir);
  const daemons: Daemon[] = [];
  // tracked while starting even when detached: an interrupted start leaves nothing behind
  const tracked = { daemons, dirs: [dir, etcdDataDir] };
  installHandlers();
  live.add(tracked);
  try {
    const [pki, etcdClientPort, etcdPeerPort, apiPort] = await Promise.all([
      createControlPlanePki(join(dir, "pki")),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = join(dir, "kubeconfig");
    const b64 = (path: string) => readFileSync(path).toString("base64");
    const admin = {
      "client-certificate-data": b64(pki.adminCert),
      "client-key-data": b64(pki.adminKey),
    };
    await writeFile(kubeconfigPath, kubeconfigYaml(server, pki.caCertPem, admin), { mode: 0o600 });
    const tPki = Date.now();

    const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
    daemons.push(
      startDaemon(
        "etcd",
        etcdBin,
        etcdArgs(join(etcdDataDir, "data"), etcdClientPort, etcdPeerPort),
        join(dir, "etcd.log"),
        detached,
      ),
    );
    await poll(
      "etcd /health",
      async () => {
        const r = await fetch(`${etcdUrl}/health`);
        return r.ok && ((await r.json()) as { health?: string }).health === "true";
      },
      daemons,
      timeoutMs,
    );
    const tEtcd = Date.now();

    daemons.push(
      startDaemon(
        "kube-apiserver",
        apiserverBin,
        apiserverArgs(pki, apiPort, etcdUrl, opts.apiserverArgs ?? []),
        join(dir, "kube-apiserver.log"),
        detached,
      ),
    );
    const tls = {
      ca: pki.caCertPem,
      cert: await readFile(pki.adminCert, "utf8"),
      key: await readFile(pki.adminKey, "utf8"),
    };
    await poll(
      "kube-apiserver /readyz",
      async () => (await httpsGet(`${server}/readyz`, tls)).status === 200,
      daemons,
      timeoutMs,
    );
    const tReady = Date.now();
    const state: StateFile = {
      server,
      etcdUrl,
      kubeconfigPath,
      etcdDataDir,
      pids: { etcd: daemons[0]?.pid ?? 0, kubeApiserver: daemons[1]?.pid ?? 0 },
      caCertPem: pki.caCertPem,
    };
    await writeFile(join(dir, STATE_FILE), JSON.stringify(state, null, 2));
    // detached: from here on the processes belong to whoever stops them (lab down)
    if (detached) live.delete(tracked);
    return makeControlPlane(dir, state, daemons, detached ? undefined : tracked, {
      pkiMs: tPki - t0,
      etcdMs: tEtcd - tPki,
      apiserverMs: tReady - tEtcd,
      totalMs: tReady - t0,
    });
  } catch (e) {
    for (const d of [...daemons].reverse()) await stopDaemon(d);
    rmSync(etcdDataDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    live.delete(tracked);
    throw e;
  }
}

/**
 * The control plane a detached start left in `dir`, or undefined when there is no state file.
 * Its stop() ends the recorded processes (if they are still the lab's) and removes the dirs.
 */
export function attachControlPlane(dir: string): ControlPlane | undefined {
  let state: StateFile;
  try {
    state = JSON.parse(readFileSync(join(dir, STATE_FILE), "utf8")) as StateFile;
  } catch {
    return undefined;
  }
  const daemons: Daemon[] = [
    { name: "etcd", pid: state.pids.etcd, logPath: join(dir, "etcd.log") },
    {
      name: "kube-apiserver",
      pid: state.pids.kubeApiserver,
      logPath: join(dir, "kube-apiserver.log"),
    },
  ].filter(d => ownsPid(d.pid, d.name === "etcd" ? "etcd" : "kube-apiserver"));
  return makeControlPlane(dir, state, daemons, undefined, undefined);
}

/** A recorded pid may have been reused by an unrelated process after a reboot or crash. */
function ownsPid(pid: number, binary: string): boolean {
  if (!pid || !isAlive(pid)) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.some(a => a.endsWith(`/${binary}`) || a === binary);
  } catch {
    return false;
  }
}
