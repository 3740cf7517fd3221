// bashible on the sandbox's nodes: whenever `d8-system/registry-bashible-config` changes, every
// node runs the node steps (stock containerd rendering, test/node/steps) with real bash INSIDE its
// network namespace, against its private root; the version step annotates the Node through the
// lab API server, as bashible does. After the steps, what the platform around them does:
//   - the `containerd-need-restart` flag restarts the node's containerd (bashible);
//   - the label file the label step wrote becomes the Node's label (the platform's node-labels);
//   - nginx_new.conf goes live in the node's balancer (the registry-proxy static pod).
//
//   const actor = new BashibleActors(cp, nodes);
//   await actor.round();        // one pass: nodes whose config changed apply it
//   actor.applied("worker-0");  // the config version the node last applied
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  BASHIBLE_CONFIG_SECRET_KEY,
  BASHIBLE_CONFIG_SECRET_NAME,
  type BashibleConfig,
  parseBashibleConfigYaml,
} from "../../lib/domain/bashible-config";
import { renderNodeSteps, type NodeStep } from "../node/steps/steps";
import { CONTAINERD_CONFIG_LABEL_FILE, NODE_PATHS } from "../node/steps/paths";
import { type CommandError, run } from "../e2e-lab";
import type { ControlPlane } from "../lab/control-plane";
import { labTool } from "../lab/tools";
import type { SandboxNode } from "./nodes";

const NS = "d8-system";

export interface StepFailure {
  node: string;
  step: string;
  code: number | null;
  stderr: string;
}

/**
 * bashible's helpers the steps look for (`declare -F`): the flag file and the API client. The
 * lab API server listens on the host's loopback only, so `bb-kubectl` enters the host's network
 * namespace for that one call (a real node reaches its API server over the network).
 */
const BASHIBLE_FUNCTIONS = `
bb-flag-set() { : >"$BB_FLAGS/$1"; }
bb-kubectl() { nsenter --net="$BB_HOST_NETNS" -- "$BB_KUBECTL" "$@"; }
`;

export class BashibleActors {
  readonly failures: StepFailure[] = [];
  /** Runs of the steps per node. */
  readonly runs = new Map<string, number>();
  #applied = new Map<string, string>();
  #lastText: string | undefined = "\0never";

  constructor(
    private readonly cp: Pick<ControlPlane, "kubectl" | "kubeconfigPath">,
    private readonly nodes: readonly SandboxNode[],
  ) {}

  applied(node: string): string | undefined {
    return this.#applied.get(node);
  }

  async #readConfig(): Promise<string | undefined> {
    const r = await this.cp
      .kubectl(["get", "-n", NS, "secret", BASHIBLE_CONFIG_SECRET_NAME, "-o", "json"])
      .catch((err: Error) => {
        if (/NotFound/.test(err.message)) return undefined;
        throw err;
      });
    if (!r) return undefined;
    const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
    const value = data[BASHIBLE_CONFIG_SECRET_KEY];
    return value === undefined ? undefined : Buffer.from(value, "base64").toString("utf8");
  }

  /** One pass: when the secret changed since the last pass, every node applies it. */
  async round(): Promise<boolean> {
    const text = await this.#readConfig();
    if (text === this.#lastText) return false;
    const config = text === undefined ? undefined : parseBashibleConfigYaml(text);
    const results = await Promise.allSettled(this.nodes.map(n => this.apply(n, config)));
    const failed = results.find(r => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    this.#lastText = text;
    return true;
  }

  /** The node's steps for `config` (undefined: only the label step), then the platform's part. */
  async apply(node: SandboxNode, config: BashibleConfig | undefined, steps?: NodeStep[]) {
    const rendered =
      steps ??
      renderNodeSteps(config, {
        containerd: "stock",
        node: { name: node.name },
        sandbox: { root: node.root },
      });
    const work = join(node.dir, "bashible");
    const flags = join(work, "flags");
    await rm(work, { recursive: true, force: true });
    await mkdir(flags, { recursive: true });
    await writeKubeconfig(node, this.cp.kubeconfigPath);
    for (const step of rendered) {
      const file = join(work, `${step.weight}_${step.name}.sh`);
      await writeFile(file, step.content, { mode: 0o600 });
      try {
        await run(
          "ip",
          [
            "netns", "exec", node.netns,
            "bash", "-c", `${BASHIBLE_FUNCTIONS}\nsource "$1"`, "bashible-step", file,
          ], // prettier-ignore
          {
            env: {
              LC_ALL: "C",
              BB_FLAGS: flags,
              BB_HOST_NETNS: `/proc/${process.pid}/ns/net`,
              BB_KUBECTL: labTool("kubectl"),
            },
          },
        );
      } catch (err) {
        const e = err as CommandError;
        this.failures.push({ node: node.name, step: step.name, code: e.code, stderr: e.stderr });
        // bashible stops at the first failing step and retries the whole run later
        throw new Error(
          `bashible on ${node.name}: step ${step.name} failed (${e.code}): ${String(e.stderr ?? e.message).trim()}`,
        );
      }
    }
    this.runs.set(node.name, (this.runs.get(node.name) ?? 0) + 1);
    if (existsSync(join(flags, "containerd-need-restart"))) await node.restartContainerd();
    await this.#syncLabel(node);
    await node.syncRegistryProxy();
    if (config) this.#applied.set(node.name, config.version);
  }

  async #syncLabel(node: SandboxNode): Promise<void> {
    const dir = join(node.root, NODE_PATHS.nodeLabelsDir);
    const labels: Record<string, string> = {};
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (f !== CONTAINERD_CONFIG_LABEL_FILE) continue;
      for (const line of (await readFile(join(dir, f), "utf8")).split("\n")) {
        const [k, v] = line.split("=");
        if (k && v !== undefined) labels[k.trim()] = v.trim();
      }
    }
    if (Object.keys(labels).length === 0) return;
    await this.cp.kubectl([
      "patch", "node", node.name, "--type=merge", "--field-manager=node-labels",
      "-p", JSON.stringify({ metadata: { labels } }),
    ]); // prettier-ignore
  }
}

/** The kubelet's kubeconfig the version step names; the lab admin's (no kubelet identities). */
async function writeKubeconfig(node: SandboxNode, adminKubeconfig: string): Promise<void> {
  const path = join(node.root, NODE_PATHS.kubeletKubeconfig);
  if (existsSync(path)) return;
  await writeFile(path, await readFile(adminKubeconfig), { mode: 0o600 });
}
