// `registry-module render` and `simulate` as a user runs them: the built CLI (dist/cli), files.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../lib/runtime/types";
import { requireBuild } from "../contract/built";
import { cluster } from "../fixtures/clusters/generate";

const CLI = "dist/cli/registry-module.mjs";
const VALUES = ["--values", "examples/values.yaml"];

function cli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
}

function clusterFile(registry: Record<string, unknown>, mutate?: (o: KubeObject) => void): string {
  const dir = mkdtempSync(join(tmpdir(), "render-"));
  const file = join(dir, "cluster.yaml");
  const objects = cluster({ nodes: 4, masters: 1, registry });
  if (mutate) objects.forEach(mutate);
  writeFileSync(file, objects.map(o => stringify(o)).join("---\n"));
  return file;
}

const docs = (text: string) => parseAllDocuments(text).map(d => d.toJS() as KubeObject);
const names = (objects: KubeObject[]) => objects.map(o => `${o.kind}/${o.metadata.name}`).sort();

beforeAll(requireBuild);

describe("registry-module render", () => {
  it("prints the objects Helm would apply for the example cluster", () => {
    const r = cli("render", "--cluster", "examples/cluster.yaml", ...VALUES);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const objects = docs(r.stdout);
    expect(names(objects)).toEqual([
      "Secret/registry-state",
      "ValidatingAdmissionPolicy/deckhouse-module-registry-disabled",
      "ValidatingAdmissionPolicy/deckhouse-module-registry-validation",
      "ValidatingAdmissionPolicyBinding/deckhouse-module-registry-disabled",
      "ValidatingAdmissionPolicyBinding/deckhouse-module-registry-validation",
    ]);
    const state = objects.find(o => o.metadata.name === "registry-state");
    const data = state?.data as Record<string, string>;
    expect(Buffer.from(data.mode ?? "", "base64").toString()).toBe("Unmanaged");
  });

  it("-o json prints the same objects as a List", () => {
    const yaml = cli("render", "--cluster", "examples/cluster.yaml", ...VALUES);
    const json = cli("render", "--cluster", "examples/cluster.yaml", ...VALUES, "-o", "json");
    // registry-state carries condition timestamps of its own run: compare everything else
    const stable = (objects: KubeObject[]) =>
      objects.map(o => (o.metadata.name === "registry-state" ? { ...o, data: {} } : o));
    const items = (JSON.parse(json.stdout) as { items: KubeObject[] }).items;
    expect(stable(items)).toEqual(stable(docs(yaml.stdout)));
  });

  it("says the module is disabled where the enabled script says so, and prints nothing", () => {
    const dir = mkdtempSync(join(tmpdir(), "render-"));
    const values = join(dir, "values.yaml");
    writeFileSync(values, "global: {clusterIsBootstrapped: true}\n");
    const r = cli("render", "--cluster", "examples/cluster.yaml", "--values", values);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(
      "registry-module render: module registry is disabled: global.clusterConfiguration is absent",
    );
  });

  it("render without --values says what is missing", () => {
    const r = cli("render", "--cluster", "examples/cluster.yaml");
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("registry-module render: --values FILE is required");
    expect(r.stderr).toContain("global.clusterConfiguration");
  });

  it.each(["render", "simulate"])(
    "%s fails with the settings rule's message on invalid settings",
    cmd => {
      const file = clusterFile({ mode: "Proxy", proxy: { imagesRepo: "r.example/d", ttl: "1m" } });
      const r = cli(cmd, "--cluster", file, ...VALUES);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("registry.proxy.ttl");
    },
  );

  it.each([
    [["render"], "--cluster FILE is required"],
    [
      ["render", "--cluster", "examples/cluster.yaml", ...VALUES, "-o", "xml"],
      "-o must be yaml or json",
    ],
    [["render", "--bogus"], "Unknown option '--bogus'"],
    [["render", "--cluster", "examples/cluster.yaml", "--then", "x"], "Unknown option '--then'"],
    [
      ["simulate", "--cluster", "examples/cluster.yaml", ...VALUES, "--max-runs", "0"],
      "--max-runs must be a positive integer",
    ],
    [["frobnicate"], 'unknown command "frobnicate"'],
  ])("refuses bad usage %j with a clear message, exit 2", (args, message) => {
    const r = cli(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    const [command] = args;
    const prefix =
      command === "render" || command === "simulate"
        ? `registry-module ${command}: `
        : "registry-module: ";
    expect(r.stderr.startsWith(prefix), r.stderr).toBe(true);
  });

  it.each([
    [["mirror", "frobnicate"], "registry-module mirror: "],
    [["mirror", "pull", "--bogus"], "registry-module mirror pull: "],
    [[], "registry-module: "],
  ])("usage errors of %j: exit 2, one prefix style", (args, prefix) => {
    const r = cli(...args);
    expect(r.status).toBe(2);
    expect(r.stderr.startsWith(prefix), r.stderr).toBe(true);
  });
});

describe("registry-module --help and --version", () => {
  it.each([
    [["--help"]],
    [["render", "--help"]],
    [["simulate", "-h"]],
    [["simulate", "--cluster", "x", "--help"]],
    [["mirror", "--help"]],
    [["mirror", "pull", "--help"]],
    [["mirror", "push", "--help"]],
  ])("%j prints the usage and exits 0", args => {
    const r = cli(...args);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("Usage:");
    expect(r.stdout).toContain(`registry-module ${args[0] === "--help" ? "render" : args[0]}`);
  });

  it("--version prints the version", () => {
    const r = cli("--version");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^registry-module \d+\.\d+\.\d+\n$/);
  });
});

describe("registry-module simulate", () => {
  it("runs the example switch (legacy Unmanaged → Direct → Proxy) to convergence", () => {
    const r = cli(
      "simulate",
      "--cluster",
      "examples/cluster.yaml",
      ...VALUES,
      "--then",
      "examples/switch-to-direct.yaml",
      "--then",
      "examples/switch-to-proxy.yaml",
      "-o",
      "yaml",
    );
    expect(r.status, r.stderr.slice(-500)).toBe(0);
    const lines = r.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(
      /^registry-module simulate: converged to Proxy in \d+ runs, \d+\.\d s$/,
    );
    const runs = lines
      .slice(0, -1)
      .map(
        l => JSON.parse(l) as { run: number; mode: string; target_mode: string; ready: boolean },
      );
    expect(runs.map(x => x.run)).toEqual(runs.map((_, i) => i + 1));
    expect(runs.some(x => x.target_mode === "Direct" && !x.ready)).toBe(true);
    expect(runs.at(-1)).toMatchObject({ mode: "Proxy", target_mode: "Proxy", ready: true });
    const objects = docs(r.stdout);
    expect(names(objects)).toContain("DaemonSet/registry-nodeservices-manager");
    expect(names(objects)).toContain("ModuleConfig/deckhouse");
    expect(names(objects)).not.toContain("Deployment/registry-incluster-proxy");
  });

  it("exits 3 naming the stuck condition when the cluster cannot converge", () => {
    // a node with custom containerd registry configuration blocks the preflight for good
    const file = clusterFile(
      { mode: "Direct", direct: { imagesRepo: "r.example/deckhouse/ee" } },
      o => {
        if (o.kind === "Node" && o.metadata.name === "worker-0") {
          o.metadata.labels = {
            ...o.metadata.labels,
            "node.deckhouse.io/containerd-config-registry": "custom",
          };
        }
      },
    );
    const r = cli("simulate", "--cluster", file, ...VALUES, "--max-runs", "6", "-o", "yaml");
    expect(r.status).toBe(3);
    expect(r.stderr).toContain("stuck at ContainerdConfigPreflightReady");
    expect(r.stderr).toContain("worker-0: has custom toml merge containerd configuration");
    expect(parse(r.stdout.split("---\n")[0] ?? "")).toMatchObject({
      kind: "Node",
      metadata: { name: "master-0" },
    });
  });

  it("prints the final cluster only with -o", () => {
    const r = cli("simulate", "--cluster", "examples/cluster.yaml", ...VALUES);
    expect(r.status, r.stderr.slice(-300)).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/converged to Unmanaged in \d+ runs?, /);
  });

  it("reads and checks every --then file before the first run", () => {
    const r = cli(
      "simulate",
      "--cluster",
      "examples/cluster.yaml",
      ...VALUES,
      "--then",
      "examples/switch-to-direct.yaml",
      "--then",
      "examples/no-such-step.yaml",
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("registry-module simulate: --then examples/no-such-step.yaml");
    expect(r.stderr).not.toContain('{"run":');
  });

  it("refuses a step the admission policy refuses, at once, with the policy's message", () => {
    const file = clusterFile({
      mode: "Proxy",
      proxy: { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: "x" },
    });
    const local = join(mkdtempSync(join(tmpdir(), "then-")), "local.yaml");
    writeFileSync(
      local,
      stringify({
        apiVersion: "deckhouse.io/v1alpha1",
        kind: "ModuleConfig",
        metadata: { name: "deckhouse", generation: 5 },
        spec: { version: 1, enabled: true, settings: { registry: { mode: "Local" } } },
      }),
    );
    const r = cli("simulate", "--cluster", file, ...VALUES, "--then", local);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain(`registry-module simulate: --then ${local} refused by admission`);
    expect(r.stderr).toContain("Mode transition from Proxy to Local is not supported");
    expect(r.stderr).not.toContain("did not converge");
    const runs = r.stderr.split("\n").filter(l => l.startsWith("{"));
    expect(runs.length).toBeLessThan(60);
  });

  it("refuses settings the schema's CEL rules refuse, before the first run", () => {
    const direct = join(mkdtempSync(join(tmpdir(), "then-")), "direct.yaml");
    writeFileSync(
      direct,
      stringify({
        apiVersion: "deckhouse.io/v1alpha1",
        kind: "ModuleConfig",
        metadata: { name: "deckhouse", generation: 5 },
        spec: { version: 1, settings: { registry: { direct: { imagesRepo: "r.example/d" } } } },
      }),
    );
    const r = cli("simulate", "--cluster", "examples/cluster.yaml", ...VALUES, "--then", direct);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain("registry: 'mode' is required with a 'direct' or 'proxy' section");
    expect(r.stderr).not.toContain('{"run":');
  });
});
