// `npm run lab -- up|down|status` as a person runs it (the CLI in a process of its own): up
// detaches a control plane with the 3-master + 2-worker static cluster and prints the KUBECONFIG
// line last; kubectl works against it; an up after a crash starts clean; down leaves nothing.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../e2e-lab/process";
import { STATE_FILE } from "./control-plane";
import { labTool } from "./tools";

const CLI = join(import.meta.dirname, "cli.ts");
let root: string;
let state: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function lab(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], {
      env: { ...process.env, REGISTRY_LAB_STATE: state },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("exit", code => resolve({ code, stdout, stderr }));
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

const pids = () =>
  (
    JSON.parse(readFileSync(join(state, STATE_FILE), "utf8")) as {
      pids: { etcd: number; kubeApiserver: number };
    }
  ).pids;

/** The module's operator (addon-operator, test/lab/module-operator.ts) as `up` recorded it. */
const operatorPids = () =>
  (JSON.parse(readFileSync(join(state, "lab.json"), "utf8")) as { operatorPids: number[] })
    .operatorPids;

function kubectl(kubeconfig: string, ...args: string[]) {
  return run(labTool("kubectl"), ["--kubeconfig", kubeconfig, ...args]);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "registry-lab-cli-"));
  state = join(root, "state");
});
afterAll(async () => {
  // whatever a failed assertion left running
  if (existsSync(state)) await lab("down");
  rmSync(root, { recursive: true, force: true });
});

describe("npm run lab", () => {
  let kubeconfig: string;

  it("up: prints `export KUBECONFIG=<path>` last; kubectl sees the static cluster", async () => {
    const up = await lab("up");
    expect(up.code, up.stderr).toBe(0);
    const lines = up.stdout.trimEnd().split("\n");
    expect(lines.at(-1)).toBe(`export KUBECONFIG=${join(state, "kubeconfig")}`);
    kubeconfig = join(state, "kubeconfig");
    expect(up.stderr).toMatch(/control plane ready in \d+ ms/);

    const nodes = await kubectl(kubeconfig, "get", "nodes", "-o", "name");
    expect(nodes.stdout.trim().split("\n").sort()).toEqual([
      "node/master-0",
      "node/master-1",
      "node/master-2",
      "node/worker-0",
      "node/worker-1",
    ]);
    const ready = await kubectl(
      kubeconfig,
      "get",
      "node",
      "master-1",
      "-o",
      'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.addresses[0].address}',
    );
    expect(ready.stdout).toBe("True 10.0.0.1");
    const mc = await kubectl(kubeconfig, "get", "moduleconfig", "deckhouse", "-o", "json");
    // legacy Unmanaged: no registry settings at all
    expect((JSON.parse(mc.stdout) as { spec: unknown }).spec).toEqual({
      version: 1,
      enabled: true,
      settings: {},
    });
    const ns = await kubectl(kubeconfig, "get", "namespace", "d8-system", "-o", "name");
    expect(ns.stdout.trim()).toBe("namespace/d8-system");
    // the processes outlived `up`
    const { etcd, kubeApiserver } = pids();
    expect(alive(etcd) && alive(kubeApiserver)).toBe(true);
    // the module runs in it: the real addon-operator installed it and it settled in legacy
    // Unmanaged (registry-state written by its chart)
    expect(operatorPids().length).toBe(1);
    expect(operatorPids().every(alive)).toBe(true);
    let mode = "";
    for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
      const r = await kubectl(
        kubeconfig,
        "get",
        "-n",
        "d8-system",
        "secret",
        "registry-state",
        "-o",
        "jsonpath={.data.mode}",
        "--ignore-not-found",
      );
      mode = Buffer.from(r.stdout, "base64").toString("utf8");
      if (mode) break;
      await new Promise(r => setTimeout(r, 1000));
    }
    expect(mode, "registry-state of the module under addon-operator within 120 s").toBe(
      "Unmanaged",
    );
  }, 300_000);

  it("status: says where the lab is", async () => {
    const status = await lab("status");
    expect(status.code).toBe(0);
    expect(status.stdout.trim()).toBe(`export KUBECONFIG=${kubeconfig}`);
  });

  it("up after a crash starts clean", async () => {
    // an object of the crashed lab must not survive into the new one
    await kubectl(kubeconfig, "create", "namespace", "leftover");
    const before = pids();
    process.kill(before.kubeApiserver, "SIGKILL");
    const up = await lab("up");
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toContain("stopped the lab an earlier `up` left in");
    expect(alive(before.etcd)).toBe(false);
    const after = pids();
    expect(after.kubeApiserver).not.toBe(before.kubeApiserver);
    const nodes = await kubectl(kubeconfig, "get", "nodes", "-o", "name");
    expect(nodes.stdout.trim().split("\n")).toHaveLength(5);
    const leftover = await kubectl(
      kubeconfig,
      "get",
      "namespace",
      "leftover",
      "--ignore-not-found",
    );
    expect(leftover.stdout).toBe("");
  }, 300_000);

  it("down: stops every process up started and removes the state dir", async () => {
    const { etcd, kubeApiserver } = pids();
    const operators = operatorPids();
    const down = await lab("down");
    expect(down.code).toBe(0);
    expect(down.stderr).toContain("stopped and removed");
    expect(alive(etcd)).toBe(false);
    expect(alive(kubeApiserver)).toBe(false);
    expect(operators.filter(alive)).toEqual([]);
    expect(existsSync(state)).toBe(false);
    const status = await lab("status");
    expect(status.code).toBe(1);
    expect(status.stderr).toContain("no lab in");
    // and a second down is harmless
    expect((await lab("down")).code).toBe(0);
  }, 120_000);
});
