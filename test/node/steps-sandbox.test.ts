// The registry steps executed for real by bash in a sandbox root (test/node/sandbox.ts): every
// path under a temp dir, only `kubectl` (the one command that would reach a cluster) replaced by
// a recording stub. For every mode and stage the orchestrator produces, the files on the
// "node" are exactly the expected ones; a re-run rewrites nothing.
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BashibleConfig } from "../../lib/domain/bashible-config";
import { renderRegistryProxyConfig } from "./steps/steps";
import {
  expectedRegistryDFiles,
  type NodeStep,
  type NodeStepOptions,
  renderNodeSteps,
} from "./steps/steps";
import { createLab, type Lab } from "../e2e-lab";
import {
  directFinal,
  directTransition,
  localBootstrap,
  localFinal,
  proxyFinal,
  proxyTransition,
  SVC,
  TEST_CA,
  unmanagedFinal,
} from "./fixtures";
import { contents, createSandbox, type Sandbox } from "./sandbox";

/** containerd config as the platform wrote it before the module took over (legacy mirrors). */
const LEGACY_CONTAINERD_CONFIG = `version = 2
root = "/var/lib/containerd"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.2"
    [plugins."io.containerd.grpc.v1.cri".registry]
      [plugins."io.containerd.grpc.v1.cri".registry.mirrors]
        [plugins."io.containerd.grpc.v1.cri".registry.mirrors."old.example.com"]
          endpoint = [
            "https://old.example.com",
          ]
      [plugins."io.containerd.grpc.v1.cri".registry.configs."old.example.com".auth]
        auth = "b2xkLXVzZXI6b2xkLXBhc3M="
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/opt/cni/bin"
`;

const configuredContainerdConfig = (registryD: string): string => `version = 2
root = "/var/lib/containerd"
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.2"
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/opt/cni/bin"

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "${registryD}"
`;

const NODE_ENV = { D8_NODE_HOSTNAME: "worker-1" };

let lab: Lab;
let n = 0;

beforeAll(async () => {
  lab = await createLab("node-steps");
});
afterAll(async () => {
  await lab?.close();
});

async function freshNode(containerdConfig = LEGACY_CONTAINERD_CONFIG): Promise<Sandbox> {
  const sandbox = await createSandbox(lab.path(`node-${++n}`));
  await writeFile(sandbox.path("/etc/containerd/config.toml"), containerdConfig);
  return sandbox;
}

function steps(
  sandbox: Sandbox,
  config: BashibleConfig | undefined,
  extra: Partial<NodeStepOptions> = {},
): NodeStep[] {
  return renderNodeSteps(config, {
    containerd: "platform",
    sandbox: { root: sandbox.root },
    ...extra,
  });
}

async function runOk(
  sandbox: Sandbox,
  list: NodeStep[],
  env: Record<string, string> = NODE_ENV,
): Promise<string> {
  const runs = await sandbox.run(list, env);
  const failed = runs.find(r => r.code !== 0);
  expect(failed, failed && `${failed.name} failed:\n${failed.stderr}`).toBeUndefined();
  expect(runs.map(r => r.name)).toEqual(list.map(s => s.name));
  return runs.map(r => r.stdout).join("");
}

async function expectNodeState(sandbox: Sandbox, config: BashibleConfig, nodeIp?: string) {
  expect(contents(await sandbox.tree("/etc/containerd/registry.d"))).toEqual(
    expectedRegistryDFiles(config, "platform", nodeIp),
  );
  const proxy = await sandbox.tree("/etc/kubernetes/registry-proxy");
  const endpoints = nodeIp
    ? config.proxyEndpoints.map(e => e.replaceAll("${discovered_node_ip}", nodeIp))
    : config.proxyEndpoints;
  expect(proxy["nginx_new.conf"]?.content).toBe(
    renderRegistryProxyConfig(endpoints, {
      pid: sandbox.path("/tmp/registry-proxy.pid"),
    }),
  );
  expect(proxy["nginx_new.conf"]).toMatchObject({ mode: "0640", uid: 0, gid: 64535 });
  expect(await readFile(sandbox.path("/etc/containerd/config.toml"), "utf8")).toBe(
    configuredContainerdConfig(sandbox.path("/etc/containerd/registry.d")),
  );
  expect(
    await readFile(sandbox.path("/var/lib/node_labels/containerd-conf-registry"), "utf8"),
  ).toBe("node.deckhouse.io/containerd-config-registry=default\n");
  const calls = await sandbox.kubectlCalls();
  expect(calls.at(-1)).toEqual([
    "--request-timeout=60s",
    `--kubeconfig=${sandbox.path("/etc/kubernetes/kubelet.conf")}`,
    "annotate",
    "node",
    "worker-1",
    "--overwrite",
    `registry.deckhouse.io/version=${config.version}`,
  ]);
}

describe("a node switched through every mode and stage", () => {
  let node: Sandbox;
  beforeAll(async () => {
    node = await freshNode();
  });

  it("before the module owns the config: only the label step, nothing else is touched", async () => {
    const list = steps(node, undefined);
    expect(list.map(s => s.name)).toEqual(["registry-containerd-config-label"]);
    await runOk(node, list);
    expect(await node.tree("/etc/containerd/registry.d")).toEqual({});
    expect(await readFile(node.path("/etc/containerd/config.toml"), "utf8")).toBe(
      LEGACY_CONTAINERD_CONFIG,
    );
    expect(await readFile(node.path("/var/lib/node_labels/containerd-conf-registry"), "utf8")).toBe(
      "node.deckhouse.io/containerd-config-registry=default\n",
    );
    expect(await node.kubectlCalls()).toEqual([]);
  });

  it("Direct transition: old registry and the in-cluster name side by side", async () => {
    await runOk(node, steps(node, directTransition));
    await expectNodeState(node, directTransition);
    const tree = await node.tree("/etc/containerd/registry.d");
    expect(Object.keys(tree).sort()).toEqual([
      "deckhouse_hosts_state.json",
      "old.example.com/hosts.toml",
      `${SVC}/hosts.toml`,
      `${SVC}/https-new.example.com-ca.crt`,
    ]);
    // the reviewed rendering of the in-cluster host: the whole file is the contract
    expect(tree[`${SVC}/hosts.toml`]?.content)
      .toBe(`# Managed by the registry module (platform containerd rendering).
# Pulls go to the mirrors below, in order. The server is for push only, which nodes never do,
# so a failed pull never falls back to a name the node may not resolve.
server = "https://registry.d8-system.svc:5001"
capabilities = ["push"]

[host."https://new.example.com"]
  capabilities = ["pull", "resolve"]
  ca = ["https-new.example.com-ca.crt"]
  [host."https://new.example.com".auth]
    auth = "${Buffer.from(`new-user:p$a'ss"w\`o\\rd$(id)!*`).toString("base64")}"
  [[host."https://new.example.com".rewrite]]
    regex = "^system/deckhouse"
    replace = "deckhouse/ee"
`);
    expect(tree[`${SVC}/https-new.example.com-ca.crt`]?.content).toBe(TEST_CA);
    expect(tree[`${SVC}/hosts.toml`]?.mode).toBe("0600");
  });

  it("Direct final: the old registry's directory is gone", async () => {
    const out = await runOk(node, steps(node, directFinal));
    await expectNodeState(node, directFinal);
    expect(out).toContain("removed");
    expect(out).toContain("old.example.com (no longer managed)");
  });

  it("Proxy transition: both mirrors under one key, balancer towards three masters", async () => {
    await runOk(node, steps(node, proxyTransition));
    await expectNodeState(node, proxyTransition);
    const nginx = await readFile(
      node.path("/etc/kubernetes/registry-proxy/nginx_new.conf"),
      "utf8",
    );
    expect(nginx).toContain("server 10.0.0.2:5001;");
    expect(nginx).toContain("listen 127.0.0.1:5001;");
  });

  it("Proxy final: the Direct upstream's CA file is pruned with its mirror", async () => {
    await runOk(node, steps(node, proxyFinal));
    await expectNodeState(node, proxyFinal);
    expect(Object.keys(await node.tree(`/etc/containerd/registry.d/${SVC}`)).sort()).toEqual([
      "hosts.toml",
      "https-127.0.0.1:5001-ca.crt",
    ]);
  });

  it("re-run with nothing changed is a no-op: no file rewritten, no ownership touched", async () => {
    const dirs = ["/etc/containerd", "/etc/kubernetes/registry-proxy", "/var/lib/node_labels"];
    const before = await Promise.all(dirs.map(d => node.tree(d)));
    const ctimes = await ctimesOf(node, before);
    const out = await runOk(node, steps(node, proxyFinal));
    expect(out).not.toMatch(/updated|removed|created/);
    const after = await Promise.all(dirs.map(d => node.tree(d)));
    expect(after).toEqual(before); // same inode, mtime, mode, owner, content for every file
    expect(await ctimesOf(node, after)).toEqual(ctimes); // not even chmod/chown
  });

  it("configurable Unmanaged: the in-cluster host is removed, the real registry gets its own", async () => {
    await runOk(node, steps(node, unmanagedFinal));
    await expectNodeState(node, unmanagedFinal);
    const toml = await readFile(
      node.path("/etc/containerd/registry.d/registry.example.com:5000/hosts.toml"),
      "utf8",
    );
    expect(toml).toContain('[host."http://registry.example.com:5000"]');
    expect(toml).toContain("skip_verify = true");
    expect(toml).toContain(`auth = "${Buffer.from("u:p").toString("base64")}"`);
  });

  it("Local final (from Unmanaged): the real registry's directory goes, the balancer comes", async () => {
    const out = await runOk(node, steps(node, localFinal));
    await expectNodeState(node, localFinal);
    expect(out).toContain("registry.example.com:5000 (no longer managed)");
  });

  it("back to no module config: registry.d stays as it is (the platform falls back)", async () => {
    const before = await node.tree("/etc/containerd/registry.d");
    await runOk(node, steps(node, undefined));
    expect(await node.tree("/etc/containerd/registry.d")).toEqual(before);
  });
});

async function ctimesOf(sandbox: Sandbox, trees: Record<string, unknown>[]): Promise<number[]> {
  const dirs = ["/etc/containerd", "/etc/kubernetes/registry-proxy", "/var/lib/node_labels"];
  const out: number[] = [];
  for (const [i, tree] of trees.entries()) {
    for (const file of Object.keys(tree).sort()) {
      out.push((await stat(sandbox.path(`${dirs[i]}/${file}`))).ctimeMs);
    }
  }
  return out;
}

describe("bootstrap of Local: the node IP placeholder", () => {
  it("is replaced by the discovered IP in file names, hosts.toml and the balancer", async () => {
    const node = await freshNode();
    await writeFile(node.path("/var/lib/bashible/discovered-node-ip"), "192.168.1.10\n");
    await runOk(node, steps(node, localBootstrap));
    await expectNodeState(node, localBootstrap, "192.168.1.10");
    const tree = await node.tree(`/etc/containerd/registry.d/${SVC}`);
    expect(Object.keys(tree).sort()).toEqual(["hosts.toml", "https-192.168.1.10:5001-ca.crt"]);
    expect(tree["hosts.toml"]?.content).toContain('[host."https://192.168.1.10:5001"]');
    expect(JSON.stringify(tree)).not.toContain("discovered_node_ip");
  });

  it("renders the same files when the IP is known at render time", async () => {
    const node = await freshNode();
    await runOk(node, steps(node, localBootstrap, { node: { ip: "192.168.1.10" } }));
    await expectNodeState(node, localBootstrap, "192.168.1.10");
  });

  it("fails, writing nothing, when the IP is unknown", async () => {
    const node = await freshNode();
    const runs = await node.run(steps(node, localBootstrap), NODE_ENV);
    const failed = runs.at(-1);
    expect(failed?.name).toBe("registry-proxy");
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toContain("the node IP is unknown");
    expect(await node.tree("/etc/kubernetes/registry-proxy")).toEqual({});
  });
});

describe("containerd config step", () => {
  const v2Config = `version = 3
imports = ['/etc/containerd/conf2.d/*.toml']
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "erofs"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "/somewhere/else"
`;

  it("containerd v2 layout: sets config_path in the cri.v1.images plugin", async () => {
    const node = await freshNode(v2Config);
    const list = steps(node, directFinal).filter(s => s.name === "registry-containerd-config");
    const out = await runOk(node, list);
    expect(out).toContain("restart containerd");
    expect(await readFile(node.path("/etc/containerd/config.toml"), "utf8")).toBe(`version = 3
imports = ['/etc/containerd/conf2.d/*.toml']
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "erofs"

[plugins."io.containerd.cri.v1.images".registry]
  config_path = "${node.path("/etc/containerd/registry.d")}"
`);
  });

  it("leaves a config that already has exactly config_path untouched", async () => {
    const registryD = "/etc/containerd/registry.d";
    const node = await freshNode();
    const config = `version = 2
[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = '${node.path(registryD)}' # set by the platform
[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
`;
    await writeFile(node.path("/etc/containerd/config.toml"), config);
    const before = await stat(node.path("/etc/containerd/config.toml"));
    const list = steps(node, directFinal).filter(s => s.name === "registry-containerd-config");
    expect(await runOk(node, list)).toBe("");
    expect((await stat(node.path("/etc/containerd/config.toml"))).mtimeMs).toBe(before.mtimeMs);
  });

  it.each([
    ["v1", "conf.d", LEGACY_CONTAINERD_CONFIG, "io.containerd.grpc.v1.cri"],
    ["v2", "conf2.d", v2Config, "io.containerd.cri.v1.images"],
  ])(
    "containerd %s: a custom %s drop-in with registry fields fails the step, changing nothing",
    async (_v, dir, config, plugin) => {
      const node = await freshNode(config);
      await mkdir(node.path(`/etc/containerd/${dir}`), { recursive: true });
      const dropIn = node.path(`/etc/containerd/${dir}/mirrors.toml`);
      await writeFile(
        dropIn,
        `[plugins."${plugin}".registry.mirrors."x"]\nendpoint = ["http://x"]\n`,
      );
      await writeFile(node.path(`/etc/containerd/${dir}/other.toml`), "[plugins.x]\ny = 1\n");
      const list = steps(node, directFinal).filter(s => s.name === "registry-containerd-config");
      const [result] = await node.run(list, NODE_ENV);
      expect(result?.code).toBe(1);
      expect(result?.stderr).toBe(
        `Failed to merge ${dropIn}: contains custom registry fields; please configure them in ${node.path("/etc/containerd/registry.d")}\n`,
      );
      expect(await readFile(node.path("/etc/containerd/config.toml"), "utf8")).toBe(config);
    },
  );
});

describe("containerd config label step", () => {
  it.each([
    ["no drop-ins", {}, "default"],
    ["unrelated drop-ins", { "conf.d/a.toml": "[plugins.x]\ny = 1\n" }, "default"],
    [
      "v2 registry table in a v1 drop-in dir (not what v1 reads)",
      { "conf.d/a.toml": '[plugins."io.containerd.cri.v1.images".registry]\nconfig_path = "x"\n' },
      "default",
    ],
    [
      "v1 mirrors",
      { "conf.d/a.toml": '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."x"]\ny = 1\n' },
      "custom",
    ],
    [
      "v2 dotted key",
      { "conf2.d/b.toml": "[plugins]\n'io.containerd.cri.v1.images'.registry.config_path = 'x'\n" },
      "custom",
    ],
  ])("%s → %s", async (_name, files: Record<string, string>, value) => {
    const node = await freshNode();
    for (const [file, text] of Object.entries(files)) {
      const path = node.path(`/etc/containerd/${file}`);
      await mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await writeFile(path, text);
    }
    await runOk(node, steps(node, undefined));
    expect(await readFile(node.path("/var/lib/node_labels/containerd-conf-registry"), "utf8")).toBe(
      `node.deckhouse.io/containerd-config-registry=${value}\n`,
    );
  });
});

describe("version step", () => {
  const versionStep = (node: Sandbox, extra: Partial<NodeStepOptions> = {}) =>
    steps(node, directFinal, extra).filter(s => s.name === "registry-version");

  it("does not call the API on the first bashible run (the Node does not exist yet)", async () => {
    const node = await freshNode();
    await runOk(node, versionStep(node), { ...NODE_ENV, FIRST_BASHIBLE_RUN: "yes" });
    expect(await node.kubectlCalls()).toEqual([]);
  });

  it("annotates the node named at render time", async () => {
    const node = await freshNode();
    await runOk(node, versionStep(node, { node: { name: "master-0" } }), {});
    expect((await node.kubectlCalls())[0]).toContain("master-0");
  });

  it("fails without a node name rather than annotating the wrong node", async () => {
    const node = await freshNode();
    const [result] = await node.run(versionStep(node), {});
    expect(result?.code).toBe(1);
    expect(result?.stderr).toContain("D8_NODE_HOSTNAME is not set");
    expect(await node.kubectlCalls()).toEqual([]);
  });

  it("fails when the API call fails (bashible retries; no later step claims success)", async () => {
    const node = await freshNode();
    // this stub answers like an unreachable API server
    await writeFile(lab.path(`node-${n}`, "bin", "kubectl"), "#!/bin/bash\nexit 7\n", {
      mode: 0o755,
    });
    const [result] = await node.run(versionStep(node), NODE_ENV);
    expect(result?.code).toBe(7);
  });
});

describe("hosts state file", () => {
  it("removes only directories it managed, and ignores entries that are not host names", async () => {
    const node = await freshNode();
    const registryD = node.path("/etc/containerd/registry.d");
    await mkdir(`${registryD}/gone.example.com`, { recursive: true });
    await mkdir(`${registryD}/user-owned.example.com`, { recursive: true });
    await mkdir(lab.path(`node-${n}`, "outside"), { recursive: true });
    await writeFile(
      `${registryD}/deckhouse_hosts_state.json`,
      '["gone.example.com","../../../outside",".."]\n',
    );
    const list = steps(node, directFinal).filter(s => s.name === "registry-containerd-hosts");
    const [result] = await node.run(list, NODE_ENV);
    expect(result?.code).toBe(0);
    expect(result?.stderr).toContain('ignoring unexpected entry "../../../outside"');
    await expect(stat(`${registryD}/gone.example.com`)).rejects.toThrow(/ENOENT/);
    await expect(stat(`${registryD}/user-owned.example.com`)).resolves.toBeTruthy();
    await expect(stat(lab.path(`node-${n}`, "outside"))).resolves.toBeTruthy();
    expect(await readFile(`${registryD}/deckhouse_hosts_state.json`, "utf8")).toBe(`["${SVC}"]\n`);
    await rm(`${registryD}/user-owned.example.com`, { recursive: true });
  });
});
