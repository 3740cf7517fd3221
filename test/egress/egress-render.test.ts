// Issue 12 item 1, the configuration side: the cluster's proxy settings reach the in-cluster
// proxy's gateway (Direct), the nodeservices-manager (which hands them to the static pod's gateway
// in Proxy mode only), and NO_PROXY is read as Deckhouse writes it (CIDRs, the cluster domain).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError } from "../../lib/validation/reader";
import { parseGatewayConfig } from "../../lib/dataplane/gateway-config";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { parseEgressProxy, parseNodeConfig } from "../../lib/dataplane/node-config";
import { PATHS, renderNodeFiles } from "../../images/nodeservices-manager/src/render";
import { egressProxyFromValues, moduleRegistryHosts } from "../../lib/domain/egress-proxy";
import { NoProxy, proxyFor } from "../../lib/oci/proxy";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { createCa, createLab, type Lab } from "../e2e-lab";
import { nodeConfigYaml, nodePki, type NodePki, user } from "../dataplane/support/node-config";
import { globalValues, moduleValues } from "../support/mode-states";

const PROXY = { httpProxy: "http://proxy.corp:3128", httpsProxy: "http://proxy.corp:3128" };
/** A proxy that wants credentials: they must stay in Secrets and 0600 files. */
const PROXY_PASSWORD = "Pr0xy-s3cret";
const AUTH_PROXY = `http://egress:${PROXY_PASSWORD}@proxy.corp:3128`;

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

const withProxy = (proxy: Record<string, unknown> = PROXY) =>
  globalValues({
    clusterConfiguration: { ...(globalValues().clusterConfiguration as object), proxy },
  });
type Container = { name: string; env?: { name: string; value?: string }[] };
const containers = (o: KubeObject | undefined) =>
  ((o?.spec as { template: { spec: { containers: Container[] } } } | undefined)?.template.spec
    .containers ?? []) as Container[];
const secretData = (objects: KubeObject[], name: string) => {
  const data = (
    objects.find(o => o.kind === "Secret" && o.metadata.name === name) as
      { data?: Record<string, string> } | undefined
  )?.data;
  return Object.fromEntries(
    Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
};
const podAnnotations = (o: KubeObject | undefined) =>
  (o?.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template
    .metadata.annotations ?? {};

/**
 * The mode's values; in Proxy mode the masters' node configs carry `proxy_mode` (what the
 * orchestrator writes), which the shared fixture leaves out.
 */
const valuesOf = (mode: "Direct" | "Proxy" | "Local", global: Record<string, unknown>) => {
  const values = moduleValues(mode, global);
  if (mode !== "Proxy") return values;
  const state = (
    values.registry as { internal: { orchestrator: { state: Record<string, unknown> } } }
  ).internal.orchestrator.state;
  const nodes = (state.node_services as { nodes: Record<string, { config: object }> }).nodes;
  const proxyMode = {
    upstream: { scheme: "https", host: "registry.example.com", path: "/deckhouse/ee" },
  };
  for (const name of ["master-0", "master-1", "master-2"])
    nodes[name] = {
      ...nodes["master-0"]!,
      config: { ...nodes["master-0"]!.config, proxy_mode: proxyMode },
    };
  return values;
};

describe("rendered objects", () => {
  it("Direct: the in-cluster proxy's gateway gets the proxy in its config Secret, not in its env; a change rolls the pods", () => {
    const objects = renderManifests(moduleValues("Direct", withProxy()));
    const deployment = objects.find(o => o.kind === "Deployment");
    expect(containers(deployment).find(c => c.name === "gateway")?.env).toBeUndefined();
    const gatewayYaml = secretData(objects, "registry-incluster-proxy-config")["gateway.yaml"];
    const config = parseGatewayConfig(parse(gatewayYaml ?? ""));
    expect(config.mode === "direct" && config.upstream.proxy?.httpsProxy).toBe(PROXY.httpsProxy);
    expect(config.mode === "direct" && config.upstream.proxy?.noProxy).toEqual(
      expect.arrayContaining(["registry.d8-system.svc", "cluster.local", "10.222.0.0/16"]),
    );

    const plain = renderManifests(moduleValues("Direct", globalValues()));
    const plainYaml = secretData(plain, "registry-incluster-proxy-config")["gateway.yaml"];
    expect(parse(plainYaml ?? "").upstream.proxy).toBeUndefined();
    const checksum = "registry.deckhouse.io/gateway-config-checksum";
    expect(podAnnotations(deployment)[checksum]).toMatch(/^[0-9a-f]{64}$/);
    expect(podAnnotations(plain.find(o => o.kind === "Deployment"))[checksum]).not.toBe(
      podAnnotations(deployment)[checksum],
    );
  });

  it("Proxy: the proxy goes beside each node's config in its Secret; the manager DaemonSet carries none", () => {
    const objects = renderManifests(valuesOf("Proxy", withProxy()));
    const ds = objects.find(o => o.kind === "DaemonSet");
    const manager = containers(ds).find(c => c.name === "manager");
    expect((manager?.env ?? []).filter(e => /PROXY/i.test(e.name))).toEqual([]);
    const nodeSecrets = objects.filter(
      o => o.kind === "Secret" && o.metadata.name.startsWith("registry-node-config-"),
    );
    expect(nodeSecrets.map(o => o.metadata.name)).toEqual([
      "registry-node-config-master-0",
      "registry-node-config-master-1",
      "registry-node-config-master-2",
    ]);
    for (const secret of nodeSecrets) {
      const proxy = parseEgressProxy(secretData(objects, secret.metadata.name)["egress-proxy"]!);
      expect(proxy.httpsProxy).toBe(PROXY.httpsProxy);
      expect(proxy.noProxy).toContain("cluster.local");
    }
    const plain = renderManifests(valuesOf("Proxy", globalValues()));
    const plainSecret = plain.find(o => o.metadata.name.startsWith("registry-node-config-"));
    expect(secretData(plain, plainSecret!.metadata.name)["egress-proxy"]).toBeUndefined();
  });

  it.each([
    ["Direct", ["registry-incluster-proxy-config"], 9],
    [
      "Proxy",
      [
        "registry-node-config-master-0",
        "registry-node-config-master-1",
        "registry-node-config-master-2",
      ],
      18,
    ],
    ["Local", [], 19],
  ] as const)(
    "%s: proxy credentials appear in no object but the Secrets %j",
    (mode, secrets, count) => {
      const objects = renderManifests(
        valuesOf(mode, withProxy({ httpProxy: AUTH_PROXY, httpsProxy: AUTH_PROXY })),
      );
      expect(objects).toHaveLength(count);
      const inClear = objects
        .filter(o => JSON.stringify(o).includes(PROXY_PASSWORD))
        .map(o => `${o.kind}/${o.metadata.name}`);
      expect(inClear).toEqual([]);
      const carriers = objects
        .filter(o =>
          Object.values((o as { data?: Record<string, string> }).data ?? {}).some(v =>
            Buffer.from(v, "base64").toString("utf8").includes(PROXY_PASSWORD),
          ),
        )
        .map(o => `${o.kind}/${o.metadata.name}`);
      expect(carriers.sort()).toEqual(secrets.map(n => `Secret/${n}`));
    },
  );
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

  const settings = parseManagerSettings({
    NODE_NAME: "master-0",
    HOST_IP,
    IMAGE_GATEWAY: "g:1",
    IMAGE_DISTRIBUTION: "d:1",
    IMAGE_MIRRORER: "m:1",
  });
  const ro = user("ro");
  const filesOf = (mode: "proxy" | "local", egressProxy?: string) => {
    const yaml = nodeConfigYaml(
      pki,
      ro,
      mode === "proxy"
        ? { proxy: { scheme: "https", host: "up.example", path: "/deckhouse/ee" } }
        : { local: { rw: user("rw"), puller: user("p"), pusher: user("q"), upstreams: [] } },
    );
    const cfg = parseNodeConfig(yaml, "v1", HOST_IP);
    if (egressProxy) cfg.egressProxy = parseEgressProxy(egressProxy);
    const files = renderNodeFiles(cfg, settings);
    const text = (path: string) => files.find(f => f.path === path);
    return {
      pod: parse(text(PATHS.manifest)?.content ?? "") as {
        spec: { containers: Container[] };
      },
      manifest: text(PATHS.manifest)?.content ?? "",
      gateway: text(`${PATHS.gatewayDir}/config.yaml`),
    };
  };
  const egress = `httpsProxy: ${AUTH_PROXY}\nnoProxy: [cluster.local, 10.0.0.0/8]\n`;

  it("Proxy mode: the gateway's 0600 config file gets it, its own address added to NO_PROXY; the static pod (mirrored into the API) carries none", () => {
    const { pod, manifest, gateway } = filesOf("proxy", egress);
    expect(pod.spec.containers.every(c => c.env === undefined)).toBe(true);
    expect(manifest).not.toContain(PROXY_PASSWORD);
    expect(gateway?.mode).toBe(0o600);
    const config = parseGatewayConfig(parse(gateway?.content ?? ""));
    expect(config.mode === "proxy" && config.upstream.proxy).toEqual({
      httpsProxy: AUTH_PROXY,
      noProxy: ["cluster.local", "10.0.0.0/8", HOST_IP],
    });
  });

  it("Local mode, or no proxy: nothing about a proxy", () => {
    const local = filesOf("local", egress);
    expect(local.gateway?.content).not.toContain("proxy.corp");
    expect(local.pod.spec.containers.every(c => c.env === undefined)).toBe(true);
    const none = filesOf("proxy");
    expect(parse(none.gateway?.content ?? "").upstream.proxy).toBeUndefined();
  });

  it("a bad egress-proxy key is refused naming the field, never echoing the password", () => {
    const refused = (text: string) => {
      try {
        parseEgressProxy(text, "node config secret");
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return String(e);
      }
      throw new Error("accepted");
    };
    const socks = refused(`httpsProxy: socks5://egress:${PROXY_PASSWORD}@p:1080\n`);
    expect(socks).toMatch(/egress-proxy\.httpsProxy: .*only http:\/\/ and https:\/\//);
    expect(socks).not.toContain(PROXY_PASSWORD);
    expect(refused("httpsProxy: http://p:1\nnoProxy: [10.0.0.0/99]\n")).toMatch(
      /egress-proxy\.noProxy/,
    );
    expect(refused("noProxy: [a]\n")).toMatch(
      /egress-proxy\.httpsProxy: httpProxy or httpsProxy is required/,
    );
    expect(refused("httpsProxy: http://p:1\nport: 3\n")).toMatch(/egress-proxy\.port: unknown key/);
  });

  it("the manager no longer reads a proxy from its environment", () => {
    expect(
      parseManagerSettings({
        NODE_NAME: "master-0",
        HOST_IP,
        IMAGE_GATEWAY: "g:1",
        IMAGE_DISTRIBUTION: "d:1",
        IMAGE_MIRRORER: "m:1",
        UPSTREAM_HTTPS_PROXY: AUTH_PROXY,
      }),
    ).not.toHaveProperty("egressProxy");
  });
});
