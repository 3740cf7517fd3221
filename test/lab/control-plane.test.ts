// The lab control plane itself: what it serves (a cluster's APIs, ValidatingAdmissionPolicy v1,
// RBAC for anyone but the admin), that stop() and a SIGINT leave no process and no directory
// behind, and that a missing or stale tool fails with the hint that fixes it.
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommandError } from "../e2e-lab/process";
import { seedObjects } from "./cluster";
import { startControlPlane, type ControlPlane } from "./control-plane";
import { labTool, LabToolError } from "./tools";

/** Running: signalable and not a zombie waiting for whoever inherited it to reap it. */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

async function until(what: string, probe: () => boolean, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

describe("a started control plane", () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  }, 120_000);
  afterAll(async () => cp?.stop());

  it("is ready, on loopback, and reports the pinned release", async () => {
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cp.etcdUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const { stdout } = await cp.kubectl(["get", "--raw", "/readyz"]);
    expect(stdout).toBe("ok");
    const version = JSON.parse((await cp.kubectl(["version", "-o", "json"])).stdout) as {
      serverVersion: { gitVersion: string };
    };
    expect(version.serverVersion.gitVersion).toBe("v1.34.4");
    expect(cp.timings?.totalMs).toBeGreaterThan(0);
  });

  it("serves admissionregistration.k8s.io/v1 with ValidatingAdmissionPolicy", async () => {
    const { stdout } = await cp.kubectl([
      "api-resources",
      "--api-group=admissionregistration.k8s.io",
      "-o",
      "name",
    ]);
    expect(stdout.split("\n")).toEqual(
      expect.arrayContaining([
        "validatingadmissionpolicies.admissionregistration.k8s.io",
        "validatingadmissionpolicybindings.admissionregistration.k8s.io",
      ]),
    );
    expect((await cp.kubectl(["api-versions"])).stdout.split("\n")).toContain(
      "admissionregistration.k8s.io/v1",
    );
  });

  it("authorizes the admin as system:masters and anyone else by RBAC", async () => {
    expect((await cp.kubectl(["auth", "can-i", "*", "*"])).stdout.trim()).toBe("yes");
    await seedObjects(cp, [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "rbac-check" } },
      {
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: "nobody", namespace: "rbac-check" },
      },
    ]);
    // a token the API server signed with the lab's service-account key
    const token = (
      await cp.kubectl(["create", "token", "nobody", "-n", "rbac-check"])
    ).stdout.trim();
    const kubeconfig = await cp.kubeconfigForToken(token);
    const whoami = await cp.kubectl(["auth", "whoami", "-o", "json"], { kubeconfig });
    expect(whoami.stdout).toContain("system:serviceaccount:rbac-check:nobody");
    const err = await cp
      .kubectl(["get", "secrets", "-n", "rbac-check"], { kubeconfig })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommandError);
    expect((err as CommandError).stderr).toContain(
      'User "system:serviceaccount:rbac-check:nobody" cannot list resource "secrets"',
    );
  });

  it("admits as a cluster does: a pod needs its service account", async () => {
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "p", namespace: "rbac-check" },
      spec: { serviceAccountName: "missing", containers: [{ name: "c", image: "example/c:1" }] },
    };
    await expect(cp.apply([pod])).rejects.toThrow(/serviceaccount "missing" not found/);
  });

  // What docs/adr/0137 rests on: an annotation the module changes on its Deployment is a new
  // generation the Deployment controller has to observe before the rollout counts as done.
  it("bumps a Deployment's generation on an annotation change, not on a label change", async () => {
    const generation = async () =>
      Number(
        (
          await cp.kubectl([
            "-n",
            "default",
            "get",
            "deployment",
            "g",
            "-o",
            "jsonpath={.metadata.generation}",
          ])
        ).stdout,
      );
    await cp.apply([
      {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "g", namespace: "default", annotations: { a: "1" } },
        spec: {
          selector: { matchLabels: { app: "g" } },
          template: {
            metadata: { labels: { app: "g" } },
            spec: { containers: [{ name: "c", image: "example/c:1" }] },
          },
        },
      },
    ]);
    expect(await generation()).toBe(1);
    await cp.kubectl(["-n", "default", "label", "deployment", "g", "b=2"]);
    expect(await generation()).toBe(1);
    await cp.kubectl(["-n", "default", "annotate", "--overwrite", "deployment", "g", "a=2"]);
    expect(await generation()).toBe(2);
  });
});

describe("stopping", () => {
  it("stop() ends etcd and kube-apiserver and removes the state and data dirs", async () => {
    const cp = await startControlPlane();
    const { etcd, kubeApiserver } = cp.pids;
    expect(alive(etcd) && alive(kubeApiserver)).toBe(true);
    await cp.stop();
    expect(alive(etcd)).toBe(false);
    expect(alive(kubeApiserver)).toBe(false);
    expect(existsSync(cp.dir)).toBe(false);
    await cp.stop(); // twice is fine
  }, 120_000);

  it("SIGINT to the process that started it leaves no process and no directory", async () => {
    const script = join(import.meta.dirname, "control-plane.ts");
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { startControlPlane } = await import(${JSON.stringify(script)});
         const cp = await startControlPlane();
         console.log(JSON.stringify({ pids: cp.pids, dir: cp.dir }));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const started = await new Promise<{ pids: ControlPlane["pids"]; dir: string }>(
      (resolve, reject) => {
        let out = "";
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0] as string));
        });
        child.on("exit", code => reject(new Error(`starter exited ${code} before printing`)));
      },
    );
    expect(alive(started.pids.kubeApiserver)).toBe(true);
    child.kill("SIGINT");
    await until("starter exit", () => child.exitCode !== null || child.signalCode !== null);
    expect(child.signalCode).toBe("SIGINT");
    await until(
      "processes gone",
      () => !alive(started.pids.etcd) && !alive(started.pids.kubeApiserver),
    );
    expect(existsSync(started.dir)).toBe(false);
  }, 120_000);
});

describe("a missing or stale tool", () => {
  const saved = { cache: process.env.REGISTRY_LAB_CACHE, path: process.env.PATH };
  let cache: string;
  beforeAll(() => {
    cache = mkdtempSync(join(tmpdir(), "registry-lab-cache-"));
  });
  afterAll(() => {
    process.env.REGISTRY_LAB_CACHE = saved.cache;
    if (saved.cache === undefined) delete process.env.REGISTRY_LAB_CACHE;
    process.env.PATH = saved.path;
    rmSync(cache, { recursive: true, force: true });
  });

  it("fails the start with the tool's name and the command that builds it", async () => {
    process.env.REGISTRY_LAB_CACHE = cache;
    const err = await startControlPlane().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LabToolError);
    expect((err as Error).message).toMatch(
      /^kube-apiserver \(k8s\.io\/kubernetes v1\.34\.4 .*\) is not built in .*registry-lab-cache-.*\/bin: run `npm run lab -- tools` \(builds it through the Go module proxy/,
    );
  });

  it("a binary built for another version is stale: rebuild hint", () => {
    process.env.REGISTRY_LAB_CACHE = cache;
    mkdirSync(join(cache, "bin"), { recursive: true });
    writeFileSync(join(cache, "bin", "helm"), "#!/bin/sh\n");
    chmodSync(join(cache, "bin", "helm"), 0o755);
    writeFileSync(join(cache, "bin", "helm.version"), "helm.sh/helm/v4 v4.0.0\n");
    expect(() => labTool("helm")).toThrow(
      /helm in .* is built for helm\.sh\/helm\/v4 v4\.0\.0, the lab pins helm\.sh\/helm\/v4 v4\.3\.2: run `npm run lab -- tools`/,
    );
  });

  it("etcd not installed: the Debian package to install", () => {
    process.env.PATH = cache;
    expect(() => labTool("etcd")).toThrow(
      "etcd is not installed (not on PATH): apt-get install -y etcd-server",
    );
  });
});
