// Issue 12 item 1: a cluster that reaches its registries only through an HTTP(S) forward proxy.
// A real proxy (Debian's tinyproxy) on loopback between the module's programs and a real TLS
// upstream (CNCF distribution with htpasswd, on 127.0.0.5 so that Deckhouse's own NO_PROXY entry
// 127.0.0.1 does not exempt it): the checker hook (proxy from global values), the gateway process
// in Direct mode and `mirror pull` (proxy from HTTPS_PROXY) all reach the upstream through the
// proxy — its log shows the CONNECT tunnels —; with the proxy stopped they fail naming the proxy;
// NO_PROXY targets (a CIDR) bypass it.
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCheckerLoopHook } from "../../hooks/checker-loop";
import { createHookTest } from "../../lib/harness/index";
import { RegistryClient } from "../../lib/oci";
import {
  CommandError,
  createCa,
  createLab,
  type ForwardProxy,
  issueServerCert,
  type Lab,
  type LabProcess,
  pushImage,
  type Registry,
  run,
  spawnProcess,
  startForwardProxy,
  startRegistry,
  stopAll,
  writeOciLayout,
  type CertificateAuthority,
} from "../e2e-lab";
import { deckhouseDeployment, moduleObject, SCHEDULE, testClock } from "../checker/fixtures";
import { https, writeGatewayConfig } from "../dataplane/support/gateway";

const ROOT = join(import.meta.dirname, "..", "..");
const UPSTREAM_HOST = "127.0.0.5";
const REPO = "deckhouse/ee";
const SOURCE = "dev-registry.deckhouse.io/sys/deckhouse-oss";
const up = { username: "upuser", password: "Up-pa55word" };
let lab: Lab;
let ca: CertificateAuthority;
let upstream: Registry;
let proxy: ForwardProxy;
let digest = "";

beforeAll(async () => {
  lab = await createLab("egress-proxy");
  ca = await createCa(lab.path("pki"));
  upstream = await startRegistry({
    dir: lab.path("upstream"),
    host: UPSTREAM_HOST,
    tls: await issueServerCert(ca, "upstream", { ips: [UPSTREAM_HOST] }),
    htpasswd: { [up.username]: up.password },
  });
  const image = await writeOciLayout(lab.path("img"), { seed: "egress", tags: ["v1"] });
  digest = (await pushImage(image, upstream, REPO, { tag: "v1.70.0", creds: up })).digest;
  proxy = await startForwardProxy({ dir: lab.path("proxy") });
});

afterAll(async () => {
  await stopAll();
  await lab?.close();
});

/** CONNECTs to the upstream the proxy logged so far. */
const tunnels = async () => (await proxy.connects()).filter(t => t === upstream.hostPort).length;

describe("lib/oci through a forward proxy", () => {
  it("tunnels HTTPS with CONNECT (TLS and auth end to end); NO_PROXY CIDR and host:port bypass it; a stopped proxy is named", async () => {
    const before = await tunnels();
    const viaProxy = new RegistryClient({
      registry: upstream.hostPort,
      ca: ca.certPem,
      ...up,
      proxy: { httpsProxy: proxy.url, noProxy: ["127.0.0.1", "localhost"] },
    });
    const head = await viaProxy.headManifest(REPO, "v1.70.0");
    expect(head.digest).toBe(digest);
    await viaProxy.close();
    expect(await tunnels()).toBeGreaterThan(before);
    // the proxy never saw a request line in clear for the registry (only tunnels)
    expect((await proxy.requests()).some(r => r.includes("/v2/"))).toBe(false);

    await proxy.stop();
    try {
      const refused = new RegistryClient({
        registry: upstream.hostPort,
        ca: ca.certPem,
        ...up,
        proxy: { httpsProxy: proxy.url },
      });
      const err = await refused.headManifest(REPO, "v1.70.0").catch((e: unknown) => e);
      await refused.close();
      expect(String(err)).toContain(`through proxy ${proxy.url}`);
      expect(String(err)).toContain("ECONNREFUSED");
      expect(String(err)).not.toContain(up.password);

      for (const noProxy of [["127.0.0.0/29"], [`${UPSTREAM_HOST}:${upstream.port}`], ["*"]]) {
        const direct = new RegistryClient({
          registry: upstream.hostPort,
          ca: ca.certPem,
          ...up,
          proxy: { httpsProxy: proxy.url, noProxy },
        });
        expect((await direct.headManifest(REPO, "v1.70.0")).digest).toBe(digest);
        await direct.close();
      }
    } finally {
      await proxy.start();
    }
  });
});

describe("checker hook: the proxy from global.clusterConfiguration.proxy", () => {
  async function checker(proxySettings: Record<string, unknown>) {
    const clock = testClock();
    const hook = createCheckerLoopHook({ budgetMs: 5_000, deps: { now: clock.now } });
    const f = await createHookTest({
      hook,
      openapiDir: "openapi",
      globalValues: {
        clusterConfiguration: {
          clusterDomain: "cluster.local",
          podSubnetCIDR: "10.111.0.0/16",
          serviceSubnetCIDR: "10.222.0.0/16",
          proxy: proxySettings,
        },
        modulesImages: {
          registry: { base: "registry.d8-system.svc:5001/system/deckhouse" },
          digests: { controlPlaneManager: { kubeApiserver: digest } },
        },
      },
    });
    f.kubeStateSet([
      moduleObject("control-plane-manager", { critical: true, embedded: true }),
      deckhouseDeployment({ deckhouse: `${SOURCE}:v1.70.0` }),
    ]);
    f.valuesSet("registry.internal.checker.initialized", true);
    f.valuesSet("registry.internal.checker.params", {
      version: "v1",
      checkMode: "Default",
      registries: {
        [upstream.hostPort]: {
          address: `${upstream.hostPort}/${REPO}`,
          scheme: "HTTPS",
          ca: ca.certPem,
          ...up,
        },
      },
    });
    const state = () =>
      f.valuesGet("registry.internal.checker.state") as { ready: boolean; message?: string };
    const settle = async () => {
      // the first tick initializes, the next ones check
      for (let i = 0; i < 4; i++) {
        const r = await f.runHook(f.generateScheduleContext(SCHEDULE));
        expect(r.error).toBeUndefined();
        f.observeCluster();
        clock.advance(10_000);
        if (state().ready) break;
      }
      return state();
    };
    return { settle };
  }

  it("checks the images through the proxy; fails naming the proxy when it is down; noProxy bypasses", async () => {
    const before = await tunnels();
    const ok = await (await checker({ httpsProxy: proxy.url })).settle();
    expect(ok.ready).toBe(true);
    expect(await tunnels()).toBeGreaterThan(before);

    await proxy.stop();
    try {
      const down = await (await checker({ httpsProxy: proxy.url })).settle();
      expect(down.ready).toBe(false);
      expect(down.message).toContain(`through proxy ${proxy.url}`);

      const bypass = await (
        await checker({ httpsProxy: proxy.url, noProxy: ["127.0.0.0/24"] })
      ).settle();
      expect(bypass.ready).toBe(true);
    } finally {
      await proxy.start();
    }
  });
});

describe("processes with HTTPS_PROXY/NO_PROXY in their environment", () => {
  const moduleUser = { name: "ro", password: "R0-pa55word" };
  let gatewayCert: Awaited<ReturnType<typeof issueServerCert>>;
  beforeAll(async () => {
    gatewayCert = await issueServerCert(ca, "gateway", { dns: ["registry.d8-system.svc"] });
  });

  async function startGateway(
    name: string,
    env: Record<string, string>,
    upstreamProxy?: Record<string, unknown>,
  ) {
    const dir = lab.path(`gw-${name}`);
    await mkdir(dir, { recursive: true });
    const config = join(dir, "config.yaml");
    await writeGatewayConfig(config, {
      mode: "direct",
      listen: {
        address: "127.0.0.1:0",
        tls: { certificate: gatewayCert.cert, key: gatewayCert.key },
      },
      monitoring: { address: "127.0.0.1:0" },
      users: [
        {
          name: moduleUser.name,
          passwordHash: bcrypt.hashSync(moduleUser.password, 10),
          role: "ro",
        },
      ],
      upstream: {
        url: upstream.url,
        path: REPO,
        username: up.username,
        password: up.password,
        ca: ca.cert,
        ...(upstreamProxy ? { proxy: upstreamProxy } : {}),
      },
    });
    const proc: LabProcess = spawnProcess(
      `gateway-${name}`,
      process.execPath,
      ["--import", "tsx", join(ROOT, "images/gateway/src/run.ts"), "--config", config],
      { cwd: ROOT, env },
    );
    const line = await proc.waitForLine(/"msg":"gateway listening"/, 60_000);
    const { client } = JSON.parse(line.input ?? "{}") as { client: string };
    return { proc, base: `https://${client}` };
  }

  const pullManifest = (base: string) =>
    https(`${base}/v2/system/deckhouse/manifests/v1.70.0`, {
      ca: ca.certPem,
      auth: `${moduleUser.name}:${moduleUser.password}`,
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });

  it("gateway (Direct): the upstream through the proxy; 502/503 naming the proxy when it is down; NO_PROXY bypasses", async () => {
    const gw = await startGateway("proxied", { HTTPS_PROXY: proxy.url, NO_PROXY: "127.0.0.1" });
    try {
      const before = await tunnels();
      const r = await pullManifest(gw.base);
      expect(r.status).toBe(200);
      expect(r.headers["docker-content-digest"]).toBe(digest);
      expect(await tunnels()).toBeGreaterThan(before);

      await proxy.stop();
      try {
        const failed = await pullManifest(gw.base);
        expect(failed.status).toBeGreaterThanOrEqual(500);
        // the log line travels through a pipe: wait for it rather than race it
        const line = await gw.proc.waitForLine(/through proxy/, 15_000);
        expect(line.input).toContain(`through proxy ${proxy.url}`);
      } finally {
        await proxy.start();
      }
    } finally {
      await gw.proc.stop();
    }

    await proxy.stop();
    const bypass = await startGateway("bypass", {
      HTTPS_PROXY: proxy.url,
      NO_PROXY: `127.0.0.1,${UPSTREAM_HOST}`,
    });
    try {
      expect((await pullManifest(bypass.base)).status).toBe(200);
    } finally {
      await bypass.proc.stop();
      await proxy.start();
    }
  }, 180_000);

  it("gateway (Direct): a proxy that wants credentials, from the config file alone (as the module renders it); its password never reaches the log", async () => {
    const auth = { user: "egress", password: "Pr0xy-s3cret" };
    const guarded = await startForwardProxy({ dir: lab.path("proxy-auth"), basicAuth: auth });
    const connectsTo = async () =>
      (await guarded.connects()).filter(t => t === upstream.hostPort).length;
    // no proxy variables in the environment: only the config names the proxy
    const gw = await startGateway(
      "config-proxy",
      { PATH: process.env.PATH ?? "" },
      { httpsProxy: guarded.authUrl, noProxy: ["127.0.0.1"] },
    );
    try {
      const r = await pullManifest(gw.base);
      expect(r.status).toBe(200);
      expect(r.headers["docker-content-digest"]).toBe(digest);
      expect(await connectsTo()).toBeGreaterThan(0);

      await guarded.stop();
      const failed = await pullManifest(gw.base);
      expect(failed.status).toBeGreaterThanOrEqual(500);
      const line = await gw.proc.waitForLine(/through proxy/, 15_000);
      expect(line.input).toContain(`through proxy`);
      expect(line.input).toContain(`${guarded.host}:${guarded.port}`);
    } finally {
      await gw.proc.stop();
      await guarded.stop();
    }
    expect(gw.proc.lines.join("\n")).not.toContain(auth.password);

    // the same config with a wrong password: the proxy refuses the tunnel, and the gateway says so
    await guarded.start();
    const wrong = await startGateway(
      "config-proxy-wrong",
      { PATH: process.env.PATH ?? "" },
      { httpsProxy: guarded.authUrl.replace(auth.password, "wrong-pass"), noProxy: ["127.0.0.1"] },
    );
    try {
      expect((await pullManifest(wrong.base)).status).toBeGreaterThanOrEqual(500);
      expect(await wrong.proc.waitForLine(/through proxy/, 15_000)).toBeDefined();
    } finally {
      await wrong.proc.stop();
      await guarded.stop();
    }
    expect(wrong.proc.lines.join("\n")).not.toContain("wrong-pass");
  }, 180_000);

  it("mirror pull: through the proxy from HTTPS_PROXY; a stopped proxy is named", async () => {
    const caFile = join(lab.path("pki"), "ca.crt");
    const cli = (bundle: string) => [
      "--import",
      "tsx",
      join(ROOT, "test/mirror/run-cli.ts"),
      "pull",
      "--source",
      `${upstream.hostPort}/${REPO}`,
      "--tag",
      "v1.70.0",
      "--creds",
      `${up.username}:${up.password}`,
      "--ca",
      caFile,
      bundle,
    ];
    const before = await tunnels();
    const bundle = lab.path("bundle");
    await run(process.execPath, cli(bundle), {
      cwd: ROOT,
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: "localhost" },
      timeoutMs: 120_000,
    });
    expect(await tunnels()).toBeGreaterThan(before);
    expect(await readdir(bundle)).toContain("index.json");

    await proxy.stop();
    try {
      const failed = await run(process.execPath, cli(lab.path("bundle-2")), {
        cwd: ROOT,
        env: { HTTPS_PROXY: proxy.url },
        timeoutMs: 120_000,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failed).toBeInstanceOf(CommandError);
      expect((failed as CommandError).code).not.toBe(0);
      expect((failed as CommandError).stderr).toContain(proxy.url);
    } finally {
      await proxy.start();
    }
  }, 180_000);
});
