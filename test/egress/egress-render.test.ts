// Issue 12 item 1, the configuration side: the cluster's proxy settings reach the in-cluster
// proxy's gateway (Direct), the nodeservices-manager (which hands them to the static pod's gateway
// in Proxy mode only), and NO_PROXY is read as Deckhouse writes it (CIDRs, the cluster domain).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError } from "../../images/common/src/validate";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { parseNodeConfig } from "../../images/nodeservices-manager/src/config";
import { PATHS, renderNodeFiles } from "../../images/nodeservices-manager/src/render";
import { egressProxyFromValues, moduleRegistryHosts } from "../../lib/domain/egress-proxy";
import { NoProxy, proxyFor } from "../../lib/oci/proxy";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { createCa, createLab, type Lab } from "../e2e-lab";
import { nodeConfigYaml, nodePki, type NodePki, user } from "../dataplane/support/node-config";
import { globalValues, moduleValues } from "../support/mode-states";

const PROXY = { httpProxy: "http://proxy.corp:3128", httpsProxy: "http://proxy.corp:3128" };

describe("NO_PROXY as Deckhouse writes it", () => {
  const rules = new NoProxy([
    "10.111.0.0/16",
    "fd00::/8",
    "cluster.local",
    ".corp.example",
    "*.svc",
    "192.0.2.7",
    "mirror.example:5000",
  ]);
  it.each([
    ["10.111.3.4", 443, true],
    ["10.112.0.1", 443, false],
    ["[fd00::1]", 443, true],
    ["registry.d8-system.svc.cluster.local", 443, true],
    ["cluster.local", 443, true],
    ["corp.example", 443, false],
    ["harbor.corp.example", 443, true],
    ["registry.d8-system.svc", 443, true],
    ["192.0.2.7", 5000, true],
    ["mirror.example", 5000, true],
    ["mirror.example", 443, false],
    ["registry.deckhouse.io", 443, false],
    ["REGISTRY.CLUSTER.LOCAL.", 443, true],
  ] as const)("%s:%i bypasses the proxy: %s", (host, port, bypass) => {
    expect(rules.bypasses(host, port)).toBe(bypass);
  });

  it("a name is not resolved to match a CIDR; * exempts everything; bad entries are named", () => {
    expect(new NoProxy(["127.0.0.0/8"]).bypasses("localhost", 80)).toBe(false);
    expect(new NoProxy(["*"]).bypasses("anything.example", 1)).toBe(true);
    expect(() => new NoProxy(["10.0.0.0/33"])).toThrow(/NO_PROXY entry "10.0.0.0\/33"/);
    expect(() => new NoProxy(["bad name!"])).toThrow(/NO_PROXY entry "bad name!"/);
  });

  it("http:// targets use httpProxy, https:// ones httpsProxy", () => {
    const p = { httpProxy: "http://a:1", httpsProxy: "http://b:2", noProxy: [] };
    expect(proxyFor(p, new URL("http://r.example/v2/"))?.host).toBe("a:1");
    expect(proxyFor(p, new URL("https://r.example/v2/"))?.host).toBe("b:2");
    expect(proxyFor({ httpsProxy: "http://b:2" }, new URL("http://r.example/"))).toBeUndefined();
  });
});

describe("egress proxy from global values", () => {
  it("clusterConfiguration.proxy: Deckhouse's NO_PROXY entries, the module's own, the user's", () => {
    const proxy = egressProxyFromValues(
      globalValues({
        clusterConfiguration: {
          ...(globalValues().clusterConfiguration as object),
          proxy: { ...PROXY, noProxy: ["harbor.corp"] },
        },
      }),
    );
    expect(proxy?.httpsProxy).toBe(PROXY.httpsProxy);
    expect(proxy?.noProxy).toEqual(
      expect.arrayContaining([
        "127.0.0.1",
        "registry.d8-system.svc",
        "169.254.169.254",
        "cluster.local",
        "10.111.0.0/16",
        "10.222.0.0/16",
        "harbor.corp",
      ]),
    );
  });

  it("the checker reaches the masters' own registries (Local) directly", () => {
    expect(
      moduleRegistryHosts([
        "10.0.0.1:5001/system/deckhouse",
        "[fd00::2]:5001/system/deckhouse",
        "registry.example.com/deckhouse/ee",
        "10.0.0.9:5001/other/path",
      ]),
    ).toEqual(["10.0.0.1", "fd00::2"]);
    const proxy = egressProxyFromValues(withProxy(), ["10.0.0.1"]);
    expect(proxy && proxyFor(proxy, new URL("https://10.0.0.1:5001/v2/"))).toBeUndefined();
    expect(proxy && proxyFor(proxy, new URL("https://registry.example.com/v2/"))?.host).toBe(
      "proxy.corp:3128",
    );
  });

  it("global.modules.proxy when the ClusterConfiguration has none; nothing when neither", () => {
    const g = globalValues();
    expect(
      egressProxyFromValues({ ...g, modules: { ...(g.modules as object), proxy: PROXY } })
        ?.httpProxy,
    ).toBe(PROXY.httpProxy);
    expect(egressProxyFromValues(g)).toBeUndefined();
  });
});

const withProxy = () =>
  globalValues({
    clusterConfiguration: { ...(globalValues().clusterConfiguration as object), proxy: PROXY },
  });
const env = (c: { env?: { name: string; value: string }[] } | undefined) =>
  Object.fromEntries((c?.env ?? []).map(e => [e.name, e.value]));
const containers = (o: KubeObject | undefined) =>
  ((o?.spec as { template: { spec: { containers: { name: string; env?: never[] }[] } } })?.template
    .spec.containers ?? []) as { name: string; env?: { name: string; value: string }[] }[];

describe("rendered objects", () => {
  it("Direct: the in-cluster proxy's gateway gets HTTP(S)_PROXY and NO_PROXY, upper and lower case", () => {
    const objects = renderManifests(moduleValues("Direct", withProxy()));
    const deployment = objects.find(o => o.kind === "Deployment");
    const gw = env(containers(deployment).find(c => c.name === "gateway"));
    expect(gw.HTTPS_PROXY).toBe(PROXY.httpsProxy);
    expect(gw.https_proxy).toBe(PROXY.httpsProxy);
    expect(gw.NO_PROXY?.split(",")).toEqual(
      expect.arrayContaining(["registry.d8-system.svc", "cluster.local", "10.222.0.0/16"]),
    );
    // without a proxy, no env at all
    const plain = renderManifests(moduleValues("Direct", globalValues()));
    expect(
      containers(plain.find(o => o.kind === "Deployment")).find(c => c.name === "gateway")?.env,
    ).toBeUndefined();
  });

  it("Proxy: the manager DaemonSet carries UPSTREAM_* (not its own proxy: it only talks to the API server)", () => {
    const objects = renderManifests(moduleValues("Proxy", withProxy()));
    const ds = objects.find(o => o.kind === "DaemonSet");
    const manager = env(containers(ds).find(c => c.name === "manager"));
    expect(manager.UPSTREAM_HTTPS_PROXY).toBe(PROXY.httpsProxy);
    expect(manager.UPSTREAM_NO_PROXY).toContain("cluster.local");
    expect(manager.HTTPS_PROXY).toBeUndefined();
  });
});

describe("nodeservices-manager hands the proxy to the static pod's gateway", () => {
  const HOST_IP = "192.0.2.10";
  let lab: Lab;
  let pki: NodePki;
  beforeAll(async () => {
    lab = await createLab("egress-manager");
    pki = await nodePki(await createCa(lab.path("pki")), HOST_IP);
  });
  afterAll(async () => lab?.close());

  const settings = (extra: Record<string, string> = {}) =>
    parseManagerSettings({
      NODE_NAME: "master-0",
      HOST_IP,
      IMAGE_GATEWAY: "g:1",
      IMAGE_DISTRIBUTION: "d:1",
      IMAGE_MIRRORER: "m:1",
      ...extra,
    });
  const ro = user("ro");
  const podOf = (mode: "proxy" | "local", s: ReturnType<typeof settings>) => {
    const yaml = nodeConfigYaml(
      pki,
      ro,
      mode === "proxy"
        ? { proxy: { scheme: "https", host: "up.example", path: "/deckhouse/ee" } }
        : { local: { rw: user("rw"), puller: user("p"), pusher: user("q"), upstreams: [] } },
    );
    const files = renderNodeFiles(parseNodeConfig(yaml, "v1", HOST_IP), s);
    const manifest = files.find(f => f.path === PATHS.manifest)?.content ?? "";
    return parse(manifest) as { spec: { containers: { name: string; env?: never[] }[] } };
  };
  const proxied = {
    UPSTREAM_HTTPS_PROXY: "http://proxy.corp:3128",
    UPSTREAM_NO_PROXY: "cluster.local,10.0.0.0/8",
  };

  it("Proxy mode: the gateway container's env; its own address is added to NO_PROXY", () => {
    const pod = podOf("proxy", settings(proxied));
    const gw = env(pod.spec.containers.find(c => c.name === "gateway"));
    expect(gw.HTTPS_PROXY).toBe("http://proxy.corp:3128");
    expect(gw.NO_PROXY?.split(",")).toEqual(["cluster.local", "10.0.0.0/8", HOST_IP]);
    expect(env(pod.spec.containers.find(c => c.name === "distribution")).HTTPS_PROXY).toBe(
      undefined,
    );
  });

  it("Local mode, or no proxy: no proxy env", () => {
    const local = podOf("local", settings(proxied));
    expect(local.spec.containers.every(c => c.env === undefined)).toBe(true);
    const none = podOf("proxy", settings());
    expect(none.spec.containers.every(c => c.env === undefined)).toBe(true);
  });

  it("a bad proxy setting is refused at start, naming the variable", () => {
    expect(() => settings({ UPSTREAM_HTTPS_PROXY: "socks5://p:1080" })).toThrow(ConfigError);
    expect(() => settings({ UPSTREAM_HTTPS_PROXY: "socks5://p:1080" })).toThrow(
      /UPSTREAM_HTTPS_PROXY/,
    );
    expect(() => settings({ ...proxied, UPSTREAM_NO_PROXY: "10.0.0.0/99" })).toThrow(
      /UPSTREAM_NO_PROXY/,
    );
  });
});
