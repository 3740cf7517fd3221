// A private containerd 1.6 (own root, state and socket; CRI off) and `ctr` pulls through a
// hosts.toml directory, as docs/peers.md#containerd-in-tests–4.2 verified.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type LabProcess, requireTools, run, spawnProcess } from "../../e2e-lab";

export interface Containerd {
  proc: LabProcess;
  socket: string;
  ctr(...args: string[]): Promise<string>;
  /** Removes every image and all content of the namespace: the next pull fetches everything. */
  forget(namespace: string): Promise<void>;
}

export async function startContainerd(dir: string): Promise<Containerd> {
  requireTools("containerd", "ctr");
  await mkdir(dir, { recursive: true });
  const socket = join(dir, "c.sock");
  const config = join(dir, "config.toml");
  await writeFile(
    config,
    [
      "version = 2",
      `root = "${join(dir, "root")}"`,
      `state = "${join(dir, "state")}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = "${socket}"`,
      "[ttrpc]",
      `  address = "${socket}.ttrpc"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(dir, "opt")}"`,
      "",
    ].join("\n"),
  );
  const proc = spawnProcess("containerd", "containerd", ["-c", config]);
  await proc.waitForLine(/containerd successfully booted/, 15_000);
  const ctr = async (...args: string[]) =>
    (await run("ctr", ["--address", socket, ...args])).stdout;
  return {
    proc,
    socket,
    ctr,
    async forget(namespace) {
      const images = (await ctr("-n", namespace, "images", "ls", "-q")).split("\n").filter(Boolean);
      if (images.length > 0) await ctr("-n", namespace, "images", "rm", "--sync", ...images);
      await ctr("-n", namespace, "content", "prune", "references");
      const left = (await ctr("-n", namespace, "content", "ls", "-q")).trim();
      if (left) throw new Error(`content left in containerd after prune:\n${left}`);
    },
  };
}

/** hosts.toml for the module's fixed registry name pointing at one mirror (TLS + Basic header). */
export async function writeHostsToml(
  hostsDir: string,
  registryName: string,
  mirror: { url: string; caFile: string; username: string; password: string },
): Promise<void> {
  const dir = join(hostsDir, registryName);
  await mkdir(dir, { recursive: true });
  const basic = Buffer.from(`${mirror.username}:${mirror.password}`).toString("base64");
  await writeFile(
    join(dir, "hosts.toml"),
    [
      `server = "${mirror.url}"`,
      `[host."${mirror.url}"]`,
      '  capabilities = ["pull", "resolve"]',
      `  ca = "${mirror.caFile}"`,
      `  [host."${mirror.url}".header]`,
      `    Authorization = ["Basic ${basic}"]`,
      "",
    ].join("\n"),
  );
}
