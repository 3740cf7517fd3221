// A node in a directory: the registry steps run for real (bash, coreutils, awk) against a
// sandbox root, with every path the steps touch under it. The only thing replaced is what would
// reach a cluster: `kubectl` is a stub on PATH that records its arguments (one JSON array per
// call) instead of talking to an API server. Not a test file itself.
import { spawn } from "node:child_process";
import { chmod, lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { NodeStep } from "./steps/steps";
import { requireTools } from "../e2e-lab";

export interface StepRun {
  name: string;
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface FileState {
  mode: string;
  content: string;
  uid: number;
  gid: number;
  ino: number;
  mtimeMs: number;
}

export interface Sandbox {
  root: string;
  /** `<root>/<path>` for a node path like /etc/containerd/config.toml */
  path(nodePath: string): string;
  /** Runs the steps in order, stopping at the first failure (as bashible does). */
  run(steps: readonly NodeStep[], env?: Record<string, string>): Promise<StepRun[]>;
  /** Every kubectl invocation so far, as argument vectors. */
  kubectlCalls(): Promise<string[][]>;
  /** Files under a node directory, by path relative to it. */
  tree(nodeDir: string): Promise<Record<string, FileState>>;
}

// Each call: its arguments NUL-terminated, then a newline.
const KUBECTL_STUB = `#!/bin/bash
# test stub: records the call instead of reaching an API server
{ printf '%s\\0' "$@"; printf '\\n'; } >>"$KUBECTL_CALLS"
`;

/** Creates the sandbox under `dir` (which must exist and be empty or absent). */
export async function createSandbox(dir: string): Promise<Sandbox> {
  requireTools("bash", "awk");
  const root = join(dir, "root");
  const bin = join(dir, "bin");
  const calls = join(dir, "kubectl-calls.jsonl");
  for (const d of ["etc/containerd", "etc/kubernetes", "var/lib/bashible", "tmp"]) {
    await mkdir(join(root, d), { recursive: true });
  }
  await mkdir(bin, { recursive: true });
  // nginx in the registry-proxy tests runs unprivileged: let it traverse to its config
  for (const d of [dir, root, join(root, "etc"), join(root, "etc/kubernetes")]) {
    await chmod(d, 0o755);
  }
  await chmod(join(root, "tmp"), 0o1777);
  await writeFile(join(bin, "kubectl"), KUBECTL_STUB, { mode: 0o755 });
  await writeFile(calls, "");
  let counter = 0;

  return {
    root,
    path: nodePath => join(root, nodePath),
    async run(steps, env = {}) {
      const runs: StepRun[] = [];
      for (const step of steps) {
        const file = join(dir, `step-${++counter}-${step.weight}_${step.name}.sh`);
        await writeFile(file, step.content, { mode: 0o600 });
        const result = await runBash(file, {
          PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
          KUBECTL_CALLS: calls,
          LC_ALL: "C",
          ...env,
        });
        runs.push({ name: step.name, ...result });
        if (result.code !== 0) break;
      }
      return runs;
    },
    async kubectlCalls() {
      const text = await readFile(calls, "utf8");
      return text
        .split("\0\n")
        .filter(Boolean)
        .map(call => call.split("\0"));
    },
    tree: nodeDir => readTree(join(root, nodeDir)),
  };
}

function runBash(
  file: string,
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // bashible runs steps as root in a clean environment; so do we (plus PATH for the stub)
    const child = spawn("bash", [file], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", code => resolve({ code, stdout, stderr }));
  });
}

export async function readTree(dir: string): Promise<Record<string, FileState>> {
  const out: Record<string, FileState> = {};
  const walk = async (d: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await lstat(p);
        out[relative(dir, p)] = {
          mode: `0${(st.mode & 0o7777).toString(8)}`,
          content: await readFile(p, "utf8"),
          uid: st.uid,
          gid: st.gid,
          ino: st.ino,
          mtimeMs: st.mtimeMs,
        };
      }
    }
  };
  await walk(dir);
  return out;
}

/** Mode and content only: what "the files are exactly as expected" compares. */
export function contents(
  tree: Record<string, FileState>,
): Record<string, { mode: string; content: string }> {
  return Object.fromEntries(
    Object.entries(tree).map(([k, v]) => [k, { mode: v.mode, content: v.content }]),
  );
}
