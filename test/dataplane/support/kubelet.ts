// Plays kubelet for a static pod manifest written by nodeservices-manager: every container is
// started with exactly the manifest's command, args and env, its hostPath volumes (under the
// node's root directory) bound at their mountPath in a private mount namespace, on the host
// network; emptyDir volumes are directories of the pod under the work directory. The images are
// either stood in for — each image maps to the local program that is
// that image's entrypoint (stock distribution's `registry` = Debian's `docker-registry`, our image's
// /usr/local/bin/* = the esbuild bundles run by this Node) — or real: an unpacked OCI image whose
// root the container is chrooted into (test/dataplane/image.e2e.test.ts).
import { mkdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { type LabProcess, requireTools, run, spawnProcess } from "../../e2e-lab";

const RUN_CONTAINER = join(dirname(fileURLToPath(import.meta.url)), "run-container.sh");

/** What an image holds: its entrypoint, and programs by path. */
export interface FakeImage {
  entrypoint?: string[];
  programs?: Record<string, string[]>;
}

/** A real image, unpacked: its root directory and the parts of its config a runtime applies. */
export interface UnpackedImage {
  rootfs: string;
  entrypoint?: string[];
  cmd?: string[];
  /** NAME=VALUE */
  env?: string[];
}

export type PodImage = FakeImage | UnpackedImage;
const isUnpacked = (i: PodImage): i is UnpackedImage => "rootfs" in i;

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  readinessProbe?: { httpGet?: { host?: string; port: number; path: string; scheme?: string } };
  lifecycle?: { postStart?: { exec?: { command: string[] } } };
}

export interface PodManifest {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    hostNetwork?: boolean;
    containers: Container[];
    volumes?: {
      name: string;
      hostPath?: { path: string; type?: string };
      emptyDir?: Record<string, unknown>;
    }[];
  };
}

export interface RunningPod {
  manifest: PodManifest;
  containers: Record<string, LabProcess>;
  stop(): Promise<void>;
}

/** Refuses to run without what mount namespaces need, with the reason. */
export async function requireContainerSupport(): Promise<void> {
  requireTools("unshare", "chroot", "mount");
  if (process.getuid?.() !== 0) {
    throw new Error("static pod tests run containers in mount namespaces: run them as root");
  }
  try {
    await run("unshare", ["-m", "--propagation", "private", "true"]);
  } catch (e) {
    throw new Error(
      `static pod tests need mount namespaces (CAP_SYS_ADMIN): unshare -m failed: ${(e as Error).message}`,
    );
  }
}

/**
 * Starts every container of the manifest at `<root>/<manifestPath>`; resolves once each
 * container with a readiness probe answers it with 200.
 */
export async function runStaticPod(
  root: string,
  manifestPath: string,
  images: Record<string, PodImage>,
  workDir: string,
  opts: {
    readyTimeoutMs?: number;
    /**
     * A network namespace (`ip netns` name) the pod's containers and probes run in: the node's
     * network, as a host-network pod sees it (test/sandbox). Default: the host's.
     */
    netns?: string;
  } = {},
): Promise<RunningPod> {
  const manifest = parse(await readFile(join(root, manifestPath), "utf8")) as PodManifest;
  if (!manifest.spec.hostNetwork) throw new Error("only host-network pods are supported");
  const volumes = new Map(manifest.spec.volumes?.map(v => [v.name, v]) ?? []);
  const containers: Record<string, LabProcess> = {};
  const stop = async () => {
    await Promise.all(Object.values(containers).map(c => c.stop()));
  };
  try {
    for (const c of manifest.spec.containers) {
      const image = images[c.image];
      if (!image) throw new Error(`container ${c.name}: no fake for image ${c.image}`);
      const command = resolveCommand(c, image);
      const mounts: string[] = [];
      for (const m of c.volumeMounts ?? []) {
        const v = volumes.get(m.name);
        if (v?.emptyDir) {
          // the pod's own scratch directory, as kubelet makes one per pod and volume
          const scratch = join(workDir, manifest.metadata.name, "volumes", m.name);
          await mkdir(scratch, { recursive: true });
          mounts.push(`${scratch}:${m.mountPath}${m.readOnly ? ":ro" : ""}`);
          continue;
        }
        if (!v?.hostPath)
          throw new Error(`container ${c.name}: volume ${m.name} is neither hostPath nor emptyDir`);
        const hostDir = join(root, v.hostPath.path);
        if (v.hostPath.type === "DirectoryOrCreate") await mkdir(hostDir, { recursive: true });
        else if (!(await stat(hostDir).catch(() => undefined))?.isDirectory())
          throw new Error(
            `container ${c.name}: hostPath ${v.hostPath.path} (${v.hostPath.type}) is missing`,
          );
        mounts.push(`${hostDir}:${m.mountPath}${m.readOnly ? ":ro" : ""}`);
      }
      const env = Object.fromEntries((c.env ?? []).map(e => [e.name, e.value ?? ""]));
      const containerDir = join(workDir, manifest.metadata.name, c.name);
      await mkdir(containerDir, { recursive: true });
      // a real image's process sees only the image's and the pod's environment
      const rootfs = isUnpacked(image)
        ? ["--rootfs", image.rootfs, ...containerEnv(image, env).flatMap(e => ["--env", e])]
        : [];
      const inContainer = (dir: string, argv: string[]) => [
        ...(opts.netns ? ["netns", "exec", opts.netns, "unshare"] : []),
        "-m",
        "--propagation",
        "private",
        RUN_CONTAINER,
        ...rootfs,
        dir,
        ...mounts,
        "--",
        ...argv,
      ];
      const name = `${manifest.metadata.name}/${c.name}`;
      const launcher = opts.netns ? "ip" : "unshare";
      containers[c.name] = spawnProcess(name, launcher, inContainer(containerDir, command), {
        env,
      });
      // kubelet runs a postStart hook in the container and starts the next container after it
      const hook = c.lifecycle?.postStart?.exec?.command;
      if (hook) {
        const [program, ...rest] = hook;
        const local = isUnpacked(image) ? [program as string] : image.programs?.[program as string];
        if (!local)
          throw new Error(`container ${c.name}: postStart program ${program} not in image`);
        const hookDir = join(containerDir, "post-start");
        await mkdir(hookDir, { recursive: true });
        try {
          await run(launcher, inContainer(hookDir, [...local, ...rest]), { env });
        } catch (e) {
          throw new Error(`container ${c.name}: postStart hook failed: ${(e as Error).message}`);
        }
      }
    }
    await Promise.all(
      manifest.spec.containers.map(c =>
        c.readinessProbe?.httpGet
          ? waitReady(
              containers[c.name] as LabProcess,
              c.readinessProbe.httpGet,
              opts.readyTimeoutMs ?? 20_000,
              opts.netns,
            )
          : Promise.resolve(),
      ),
    );
  } catch (e) {
    await stop();
    const logs = Object.values(containers)
      .map(c => `--- ${c.name}\n${c.tail(10)}`)
      .join("\n");
    throw new Error(`${(e as Error).message}\n${logs}`);
  }
  return { manifest, containers, stop };
}

/** The image's environment, overridden by the pod's (as a container runtime merges them). */
export function containerEnv(image: UnpackedImage, pod: Record<string, string>): string[] {
  const merged = new Map<string, string>();
  for (const e of image.env ?? []) {
    const i = e.indexOf("=");
    merged.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const [k, v] of Object.entries(pod)) merged.set(k, v);
  return [...merged].map(([k, v]) => `${k}=${v}`);
}

/** Kubernetes: `command` replaces the image's ENTRYPOINT, `args` its CMD. */
export function resolveCommand(c: Container, image: PodImage): string[] {
  if (isUnpacked(image)) {
    const entrypoint = c.command && c.command.length > 0 ? c.command : (image.entrypoint ?? []);
    const args = c.args ?? (c.command && c.command.length > 0 ? [] : (image.cmd ?? []));
    const argv = [...entrypoint, ...args];
    if (argv.length === 0) throw new Error(`container ${c.name}: no command and no entrypoint`);
    return argv;
  }
  if (c.command && c.command.length > 0) {
    const [program, ...rest] = c.command;
    const local = image.programs?.[program as string];
    if (!local) throw new Error(`container ${c.name}: image has no ${program}`);
    return [...local, ...rest, ...(c.args ?? [])];
  }
  if (!image.entrypoint) throw new Error(`container ${c.name}: image has no entrypoint`);
  return [...image.entrypoint, ...(c.args ?? [])];
}

async function waitReady(
  proc: LabProcess,
  probe: { host?: string; port: number; path: string; scheme?: string },
  timeoutMs: number,
  netns?: string,
): Promise<void> {
  const url = `${(probe.scheme ?? "HTTP").toLowerCase()}://${probe.host ?? "127.0.0.1"}:${probe.port}${probe.path}`;
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  for (;;) {
    if (!proc.running) throw new Error(`${proc.name} exited before ready\n${proc.tail()}`);
    try {
      const status = netns ? await probeInNetns(netns, url) : await probeHere(url);
      if (status === 200) return;
      last = `HTTP ${status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`${proc.name}: ${url} not ready (${last})\n${proc.tail()}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

async function probeHere(url: string): Promise<number> {
  const r = await fetch(url, { signal: AbortSignal.timeout(1_000) });
  await r.arrayBuffer();
  return r.status;
}

/** The probe from inside the pod's network namespace, where kubelet's probe would come from. */
async function probeInNetns(netns: string, url: string): Promise<number> {
  requireTools("ip", "curl");
  const r = await run(
    "ip",
    [
      "netns",
      "exec",
      netns,
      "curl",
      "-sk",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-m",
      "1",
      url,
    ],
    { timeoutMs: 5_000 },
  ).catch(() => ({ stdout: "0" }));
  return Number(r.stdout.trim());
}
