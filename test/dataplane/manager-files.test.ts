// nodeservices-manager's file logic against a temp root: what it writes for each mode, that it
// writes only on change, and what it removes.
import { Pod } from "kubernetes-models/v1/Pod";
import { mkdir, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError } from "../../lib/validation/reader";
import { parseGatewayConfig } from "../../lib/dataplane/gateway-config";
import { parseMirrorerConfig } from "../../images/mirrorer/src/config";
import {
  type ManagerSettings,
  parseManagerSettings,
} from "../../images/nodeservices-manager/src/config";
import { parseNodeConfig } from "../../lib/dataplane/node-config";
import { applyFiles, removeFiles } from "../../images/nodeservices-manager/src/files";
import { MOUNTS, PATHS, renderNodeFiles } from "../../images/nodeservices-manager/src/render";
import { checkNginxConfig } from "./support/nginx";
import { createCa, createLab, freePort, type Lab } from "../e2e-lab";
import { type NodePki, nodeConfigYaml, nodePki, type TestUser, user } from "./support/node-config";

const HOST_IP = "10.0.0.1";
let lab: Lab;
let pki: NodePki;
let otherCaPki: NodePki;
let upstreamCa: string;
const ro = user("ro");
const rw = user("rw");
const puller = user("mirror-puller");
const pusher = user("mirror-pusher");

function settings(root: string): ManagerSettings {
  return parseManagerSettings({
    NODE_NAME: "master-0",
    HOST_IP,
    IMAGE_GATEWAY: "registry.example/dataplane@sha256:" + "a".repeat(64),
    IMAGE_DISTRIBUTION: "registry:2.8.3",
    IMAGE_MIRRORER: "registry.example/dataplane@sha256:" + "a".repeat(64),
    ROOT_DIR: root,
  });
}

function proxyConfig(roUser: TestUser = ro, withCa = true): string {
  return nodeConfigYaml(pki, roUser, {
    proxy: {
      scheme: "https",
      host: "registry.example.com:8443",
      path: "/deckhouse/ee",
      user: "license-token",
      password: "licence-key",
      ...(withCa ? { ca: upstreamCa } : {}),
    },
  });
}

function localConfig(upstreams: string[]): string {
  return nodeConfigYaml(pki, ro, { local: { rw, puller, pusher, upstreams } });
}

async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string) => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(join(dir, e.name), r);
      else out.push(r);
    }
  };
  await walk(root, "");
  return out.sort();
}

beforeAll(async () => {
  lab = await createLab("manager-files");
  const ca = await createCa(lab.path("pki"));
  pki = await nodePki(ca, HOST_IP);
  otherCaPki = await nodePki(await createCa(lab.path("other-pki"), "other CA"), HOST_IP);
  upstreamCa = (await createCa(lab.path("upstream-pki"), "upstream CA")).certPem;
});
afterAll(async () => lab?.close());

describe("render + apply", () => {
  it("Proxy: PKI, distribution and gateway configs, static pod; no mirrorer", async () => {
    const root = lab.path("proxy");
    const s = settings(root);
    const report = await applyFiles(
      root,
      renderNodeFiles(parseNodeConfig(proxyConfig(), "v-1", HOST_IP), s),
    );
    expect(await tree(root)).toEqual([
      "etc/kubernetes/manifests/registry-nodeservices.yaml",
      "etc/kubernetes/registry/distribution/config.yaml",
      "etc/kubernetes/registry/gateway/config.yaml",
      "etc/kubernetes/registry/nginx/nginx.conf",
      "etc/kubernetes/registry/pki/ca.crt",
      "etc/kubernetes/registry/pki/distribution.crt",
      "etc/kubernetes/registry/pki/distribution.key",
      "etc/kubernetes/registry/pki/upstream-registry-ca.crt",
    ]);
    // the manifest is written last, after everything it mounts
    expect(report.written.at(-1)).toBe(PATHS.manifest);
    expect((await stat(join(root, PATHS.pkiDir, "distribution.key"))).mode & 0o777).toBe(0o600);

    const gateway = parseGatewayConfig(
      parse(await readFile(join(root, PATHS.gatewayDir, "config.yaml"), "utf8")),
    );
    expect(gateway.mode).toBe("proxy");
    if (gateway.mode !== "proxy") return;
    expect(gateway.listen.address).toEqual({ host: HOST_IP, port: 5001 });
    // nginx holds the registry address; the gateway listens behind it on loopback
    expect(gateway.tlsFrontend).toEqual({ address: { host: "127.0.0.1", port: 5006 } });
    expect(gateway.upstream).toMatchObject({
      scheme: "https",
      host: "registry.example.com:8443",
      path: "deckhouse/ee",
      username: "license-token",
      password: "licence-key",
      ca: "/pki/upstream-registry-ca.crt",
    });
    expect(gateway.users).toEqual([{ name: "ro", passwordHash: ro.passwordHash, role: "ro" }]);

    const dist = parse(await readFile(join(root, PATHS.distributionDir, "config.yaml"), "utf8"));
    // the cache's upstream is the gateway's loopback listener, with the listener's credentials
    expect(dist.proxy.remoteurl).toBe("http://127.0.0.1:5004");
    expect(dist.proxy.username).toBe(gateway.upstreamListener.username);
    expect(dist.proxy.password).toBe(gateway.upstreamListener.password);
    expect(dist.http.addr).toBe("127.0.0.1:5000");
    expect(dist.storage.filesystem.rootdirectory).toBe("/data");
    // the upstream's real credentials never reach distribution's config
    expect(JSON.stringify(dist)).not.toContain("licence-key");

    const pod = parse(await readFile(join(root, PATHS.manifest), "utf8"));
    new Pod(pod).validate();
    expect(pod.metadata.annotations["registry.deckhouse.io/config-version"]).toBe("v-1");
    expect(pod.metadata.annotations["registry.deckhouse.io/config-hash"]).toMatch(/^[0-9a-f]{64}$/);
    expect(pod.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "registry-nodeservices",
      component: "registry-service",
      type: "node-services",
      tier: "control-plane",
    });
    expect(pod.spec.hostNetwork).toBe(true);
    expect(pod.spec.containers.map((c: { name: string }) => c.name)).toEqual([
      "gateway",
      "distribution",
      "nginx",
    ]);
    const nginx = pod.spec.containers[2];
    expect(nginx.ports[0]).toMatchObject({
      name: "distribution",
      containerPort: 5001,
      hostPort: 5001,
    });
    expect(nginx.command).toEqual(["/usr/bin/nginx"]);
    expect(nginx.image).toBe(pod.spec.containers[0].image);
    expect(JSON.stringify(pod)).not.toContain("licence-key");

    // the manager's nginx.conf as written, with the container's paths pointed at this root, is
    // accepted by real nginx
    const conf = await readFile(join(root, PATHS.nginxDir, "nginx.conf"), "utf8");
    expect(conf).toContain(`listen ${HOST_IP}:5001 ssl;`);
    expect(conf).not.toContain("licence-key");
    const runDir = join(root, "nginx-run");
    await mkdir(runDir, { recursive: true });
    const local = join(root, "nginx-test.conf");
    await writeFile(
      local,
      conf
        .replaceAll("/pki/", `${join(root, PATHS.pkiDir)}/`)
        .replaceAll(MOUNTS.nginxRun, runDir)
        // `nginx -t` binds: free loopback ports instead of the node's
        .replaceAll(`${HOST_IP}:5001`, `127.0.0.1:${await freePort()}`)
        .replaceAll("127.0.0.1:5007", `127.0.0.1:${await freePort()}`),
    );
    expect(await checkNginxConfig(local)).toMatch(/syntax is ok[\s\S]*test is successful/);
  });

  it("writes nothing when nothing changed, and only what changed otherwise", async () => {
    const root = lab.path("idempotent");
    const s = settings(root);
    await applyFiles(root, renderNodeFiles(parseNodeConfig(proxyConfig(), "v-1", HOST_IP), s));
    const caBefore = await stat(join(root, PATHS.pkiDir, "ca.crt"));
    const again = await applyFiles(
      root,
      renderNodeFiles(parseNodeConfig(proxyConfig(), "v-1", HOST_IP), s),
    );
    expect(again).toEqual({ written: [], removed: [] });

    const podBefore = parse(await readFile(join(root, PATHS.manifest), "utf8"));
    const changed = await applyFiles(
      root,
      renderNodeFiles(parseNodeConfig(proxyConfig(user("ro", "new-password")), "v-2", HOST_IP), s),
    );
    expect(changed.written).toEqual([`${PATHS.gatewayDir}/config.yaml`, PATHS.manifest]);
    const podAfter = parse(await readFile(join(root, PATHS.manifest), "utf8"));
    expect(podAfter.metadata.annotations["registry.deckhouse.io/config-hash"]).not.toBe(
      podBefore.metadata.annotations["registry.deckhouse.io/config-hash"],
    );
    const caAfter = await stat(join(root, PATHS.pkiDir, "ca.crt"));
    expect(caAfter.ino).toBe(caBefore.ino);
    expect(caAfter.mtimeMs).toBe(caBefore.mtimeMs);
  });

  it("Local: four users, a mirrorer towards the other masters; switching drops the upstream CA", async () => {
    const root = lab.path("local");
    const s = settings(root);
    await applyFiles(root, renderNodeFiles(parseNodeConfig(proxyConfig(), "v-1", HOST_IP), s));
    const report = await applyFiles(
      root,
      renderNodeFiles(parseNodeConfig(localConfig(["10.0.0.2", "10.0.0.3"]), "v-2", HOST_IP), s),
    );
    expect(report.removed).toEqual([`${PATHS.pkiDir}/upstream-registry-ca.crt`]);
    const gateway = parseGatewayConfig(
      parse(await readFile(join(root, PATHS.gatewayDir, "config.yaml"), "utf8")),
    );
    expect(gateway.users.map(u => `${u.name}:${u.role}`)).toEqual([
      "ro:ro",
      "rw:rw",
      "mirror-puller:mirror-puller",
      "mirror-pusher:mirror-pusher",
    ]);
    const mirrorer = parseMirrorerConfig(
      parse(await readFile(join(root, PATHS.mirrorerDir, "config.yaml"), "utf8")),
    );
    expect(mirrorer.local).toEqual({ host: HOST_IP, port: 5001 });
    expect(mirrorer.remotes).toEqual([
      { host: "10.0.0.2", port: 5001 },
      { host: "10.0.0.3", port: 5001 },
    ]);
    expect(mirrorer.puller).toEqual({ name: puller.name, password: puller.password });
    expect(mirrorer.pusher).toEqual({ name: pusher.name, password: pusher.password });
    const pod = parse(await readFile(join(root, PATHS.manifest), "utf8"));
    new Pod(pod).validate();
    expect(pod.spec.containers.map((c: { name: string }) => c.name)).toEqual([
      "gateway",
      "distribution",
      "nginx",
      "mirrorer",
    ]);
    expect(pod.spec).not.toHaveProperty("containers.0.env");

    // left alone (the other masters are gone): no mirrorer, its config removed
    const alone = await applyFiles(
      root,
      renderNodeFiles(parseNodeConfig(localConfig([HOST_IP]), "v-3", HOST_IP), s),
    );
    expect(alone.removed).toEqual([`${PATHS.mirrorerDir}/config.yaml`]);
    const pod3 = parse(await readFile(join(root, PATHS.manifest), "utf8"));
    expect(pod3.spec.containers.map((c: { name: string }) => c.name)).toEqual([
      "gateway",
      "distribution",
      "nginx",
    ]);
  });

  it("stop removes the manifest, configs and PKI, and keeps the data and foreign files", async () => {
    const root = lab.path("stop");
    const s = settings(root);
    await applyFiles(
      root,
      renderNodeFiles(parseNodeConfig(localConfig(["10.0.0.2"]), "v", HOST_IP), s),
    );
    await mkdir(join(root, PATHS.data), { recursive: true });
    await writeFile(join(root, PATHS.data, "blob"), "data");
    await writeFile(join(root, "etc/kubernetes/manifests/kube-apiserver.yaml"), "foreign");
    const report = await removeFiles(root);
    expect(report.removed).toEqual([
      PATHS.manifest,
      PATHS.pkiDir,
      PATHS.distributionDir,
      PATHS.gatewayDir,
      PATHS.mirrorerDir,
      PATHS.nginxDir,
    ]);
    expect(await tree(root)).toEqual([
      "etc/kubernetes/manifests/kube-apiserver.yaml",
      "opt/deckhouse/registry/local_data/blob",
    ]);
    expect(await removeFiles(root)).toEqual({ written: [], removed: [] });
  });
});

describe("node config validation names the field", () => {
  const problems = (text: string, version: string | null = "v") => {
    try {
      parseNodeConfig(text, version ?? undefined, HOST_IP);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).problems.map(p => `${p.field}: ${p.rule}`);
    }
    throw new Error("config was accepted");
  };
  const base = () => parse(proxyConfig()) as Record<string, unknown>;
  const yaml = (doc: unknown) => JSON.stringify(doc);

  it.each([
    ["ca", "ca: required"],
    ["distribution_cert", "distribution_cert: required"],
    ["distribution_key", "distribution_key: required"],
    ["user_ro", "user_ro: required"],
    ["http_secret", "http_secret: required"],
  ])("missing %s", (field, expected) => {
    const doc = base();
    delete doc[field];
    expect(problems(yaml(doc))).toContain(expected);
  });

  it("missing version", () => {
    expect(problems(proxyConfig(), null)).toContain("version: required");
  });

  it("both modes, or neither", () => {
    const both = { ...base(), local_mode: parse(localConfig([])).local_mode };
    expect(problems(yaml(both))).toContain(
      "local_mode: exactly one of proxy_mode and local_mode must be set",
    );
    const neither = base();
    delete neither.proxy_mode;
    expect(problems(yaml(neither))).toContain(
      "proxy_mode: exactly one of proxy_mode and local_mode must be set",
    );
  });

  it("a certificate from another CA, a key of another certificate, a certificate for another node", () => {
    expect(
      problems(
        yaml({ ...base(), distribution_cert: otherCaPki.cert, distribution_key: otherCaPki.key }),
      ),
    ).toEqual(["distribution_cert: is not signed by ca"]);
    expect(problems(yaml({ ...base(), distribution_key: otherCaPki.key }))).toEqual([
      "distribution_key: does not match distribution_cert",
    ]);
    expect(() => parseNodeConfig(proxyConfig(), "v", "10.9.9.9")).toThrow(
      "distribution_cert: does not cover the node address 10.9.9.9",
    );
  });

  it("proxy upstream fields and local users", () => {
    const doc = base() as { proxy_mode: { upstream: Record<string, unknown> } };
    doc.proxy_mode.upstream.scheme = "ftp";
    delete doc.proxy_mode.upstream.host;
    delete doc.proxy_mode.upstream.password;
    expect(problems(yaml(doc))).toEqual([
      'proxy_mode.upstream.scheme: must be one of http, https, got "ftp"',
      "proxy_mode.upstream.host: required",
      "proxy_mode.upstream.password: required when user is set",
    ]);
    const local = parse(localConfig(["10.0.0.2", "not-an-ip"])) as Record<
      string,
      Record<string, unknown>
    >;
    delete local.local_mode!.user_pusher;
    expect(problems(yaml(local))).toEqual([
      "local_mode.user_pusher: required",
      "local_mode.upstreams[1]: must be an IP address",
    ]);
  });

  it("passwords never appear in the problems", () => {
    const doc = base() as { user_ro: Record<string, unknown> };
    doc.user_ro.passwordHash = "plain-text";
    const text = problems(yaml(doc)).join("\n");
    expect(text).toContain("user_ro.passwordHash: must be a bcrypt hash");
    expect(text).not.toContain("plain-text");
  });
});

describe("manager settings (environment) name the variable", () => {
  it("lists every problem at once", () => {
    expect(() =>
      parseManagerSettings({
        HOST_IP: "not-ip",
        IMAGE_GATEWAY: "a b",
        ROOT_DIR: "relative",
        RESYNC_PERIOD: "soon",
      }),
    ).toThrow(
      [
        "nodeservices-manager environment is invalid:",
        "  NODE_NAME: required",
        "  HOST_IP: must be an IP address",
        "  IMAGE_GATEWAY: must be an image reference",
        "  IMAGE_DISTRIBUTION: required",
        "  IMAGE_MIRRORER: required",
        "  ROOT_DIR: must be an absolute path",
        "  RESYNC_PERIOD: must be a duration like 30s, 5m or 1h30m",
      ].join("\n"),
    );
  });

  it("defaults", () => {
    const s = settings("/");
    expect(s).toMatchObject({
      namespace: "d8-system",
      rootDir: "/",
      healthAddress: { host: "0.0.0.0", port: 8097 },
      loopbackAddress: "127.0.0.1",
      resyncMs: 60_000,
    });
  });
});
