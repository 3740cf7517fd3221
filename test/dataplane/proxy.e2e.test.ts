// Acceptance, mode Proxy: stock distribution (pull-through cache) + our gateway, started from the
// static pod nodeservices-manager writes, as kubelet would start them; each master on its own
// loopback address. Upstreams are other stock registries: one with Basic auth and its own CA at
// path deckhouse/ee, one with Bearer tokens. skopeo and containerd pull
// `…/system/deckhouse:<tag>` through the gateway; the upstream's access log is the witness of
// what reached it.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CertificateAuthority,
  createCa,
  createLab,
  createTokenSigner,
  issueServerCert,
  type Lab,
  type OciLayout,
  pushImage,
  type Registry,
  requireTools,
  startRegistry,
  startTokenServer,
  type TokenServer,
  writeOciLayout,
  until,
  skopeoCopyToDir,
} from "../e2e-lab";
import { ApiDouble } from "./support/api-double";
import { type Containerd, startContainerd, writeHostsToml } from "./support/containerd";
import { PATHS } from "../../images/nodeservices-manager/src/render";
import { requireContainerSupport } from "./support/kubelet";
import {
  bundles,
  fakeImages,
  type Master,
  masterNode,
  pickLoopbackIPs,
  startMaster,
} from "./support/masters";
import { nodeConfigSecret, nodeConfigYaml, nodePki, user } from "./support/node-config";

const SVC = "registry.d8-system.svc:5001";
let lab: Lab;
let api: ApiDouble;
let moduleCa: CertificateAuthority;
let basicUpstream: Registry;
let tokenUpstream: Registry;
let tokens: TokenServer;
let basicMaster: Master;
let tokenMaster: Master;
let containerd: Containerd;
let images: Record<string, OciLayout>;
const ro = user("ro", "ro-password-0123", 10);

/** skopeo pulls system/deckhouse:<tag> from a master's registry address (ro unless told). */
const skopeoPull = (
  master: Master,
  tag: string,
  dest: string,
  creds: string | null = `${ro.name}:${ro.password}`,
) =>
  skopeoCopyToDir(lab, `${master.ip}:5001/system/deckhouse:${tag}`, dest, {
    caPem: moduleCa.certPem,
    creds,
  });

const blobGets = (r: Registry) =>
  r.accessLog().filter(e => e.method === "GET" && e.path.includes("/blobs/"));
/** log lines of the upstream arrive through a pipe: let them land before counting */
const settle = () => new Promise(r => setTimeout(r, 300));

/**
 * distribution 2.8 stores what it fetched in the background after answering
 * (docs/peers.md#distribution-as-a-pull-through-cache): wait until every blob of the image is
 * linked into the cached repository, whatever the machine's load.
 */
async function cached(master: Master, layout: OciLayout): Promise<void> {
  const repo = join(master.root, PATHS.data, "docker/registry/v2/repositories/system/deckhouse");
  const blobs = [...layout.blobs.keys()].filter(d => d !== layout.digest);
  await until(`${master.name} caches ${layout.tags.join(",")}`, async () => {
    for (const d of blobs) {
      if (!(await stat(join(repo, "_layers/sha256", d.slice(7), "link")).catch(() => undefined)))
        return false;
    }
    return true;
  });
  await settle();
}

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "containerd", "ctr", "openssl", "htpasswd");
  await requireContainerSupport();
  lab = await createLab("dp-proxy");
  const fakes = fakeImages(await bundles(lab.path("bundles")));
  moduleCa = await createCa(lab.path("module-pki"), "registry-ca");
  const upstreamCa = await createCa(lab.path("upstream-pki"), "upstream CA");

  basicUpstream = await startRegistry({
    dir: lab.path("upstream-basic"),
    tls: await issueServerCert(upstreamCa, "upstream-basic"),
    htpasswd: { upuser: "uppass" },
  });
  const signer = await createTokenSigner(lab.path("token-pki"));
  tokens = await startTokenServer({ signer, users: { licuser: "licpass" } });
  tokenUpstream = await startRegistry({
    dir: lab.path("upstream-token"),
    tokenAuth: tokens.registryAuth("upstream"),
  });

  images = {
    v1: await writeOciLayout(lab.path("img/v1"), {
      seed: "proxy-v1",
      tags: ["v1"],
      payloadBytes: 2_000_000,
    }),
    v2: await writeOciLayout(lab.path("img/v2"), {
      seed: "proxy-v2",
      tags: ["v2"],
      payloadBytes: 1_000_000,
    }),
    v3: await writeOciLayout(lab.path("img/v3"), { seed: "proxy-v3", tags: ["v3"] }),
  };
  for (const img of Object.values(images)) {
    await pushImage(img, basicUpstream, "deckhouse/ee", {
      creds: { username: "upuser", password: "uppass" },
    });
    await pushImage(img, tokenUpstream, "deckhouse/ee", {
      creds: { username: "licuser", password: "licpass" },
    });
  }

  api = new ApiDouble();
  await api.start();
  const [ipA, ipB] = (await pickLoopbackIPs(2)) as [string, string];
  basicMaster = await startMaster(api, "master-a", ipA, lab.path("master-a"), fakes);
  tokenMaster = await startMaster(api, "master-b", ipB, lab.path("master-b"), fakes);
  for (const [m, upstream, creds, ca] of [
    [basicMaster, basicUpstream, ["upuser", "uppass"], upstreamCa.certPem],
    [tokenMaster, tokenUpstream, ["licuser", "licpass"], undefined],
  ] as const) {
    api.put("nodes", masterNode(m.name, m.ip));
    const config = nodeConfigYaml(await nodePki(moduleCa, m.ip), ro, {
      proxy: {
        scheme: upstream.scheme,
        host: upstream.hostPort,
        path: "/deckhouse/ee",
        user: creds[0],
        password: creds[1],
        ...(ca ? { ca } : {}),
      },
    });
    api.put("secrets", nodeConfigSecret(m.name, config, `version-${m.name}`));
  }
  for (const m of [basicMaster, tokenMaster]) {
    await until(`${m.name} configured`, () => m.manager.reconciler.status.decision === "apply");
    await m.startPod();
  }
  containerd = await startContainerd(lab.path("ctrd"));
  await writeHostsToml(lab.path("hosts"), SVC, {
    url: `https://${basicMaster.ip}:5001`,
    caFile: moduleCa.cert,
    username: ro.name,
    password: ro.password,
  });
}, 120_000);

afterAll(async () => {
  await basicMaster?.stop();
  await tokenMaster?.stop();
  await api?.stop();
  await lab?.close();
});

describe("Proxy mode, Basic-auth upstream at deckhouse/ee with its own CA", () => {
  it("the static pod runs stock distribution as a cache whose upstream is the gateway's loopback listener", () => {
    const pod = basicMaster.pod?.manifest;
    expect(pod?.spec.containers.map(c => c.name)).toEqual(["gateway", "distribution", "nginx"]);
    expect(basicMaster.pod?.containers.distribution?.lines.join("\n")).toMatch(
      new RegExp(
        `configured as a proxy cache to http://${basicMaster.ip.replace(/\./g, "\\.")}:5004`,
      ),
    );
  });

  it("skopeo pulls system/deckhouse:v1 through the gateway; the second pull costs the upstream one manifest request and no blob bytes", async () => {
    const before = basicUpstream.accessLog().length;
    const first = await skopeoPull(basicMaster, "v1", lab.path("pull/skopeo-1"));
    expect(first).toEqual(
      [...images.v1!.blobs.keys()]
        .filter(d => d !== images.v1!.digest)
        .map(d => d.slice(7))
        .sort(),
    );
    await cached(basicMaster, images.v1!);
    const afterFirst = basicUpstream.accessLog().slice(before);
    // the gateway rewrote the path: the upstream only ever saw deckhouse/ee
    expect(afterFirst.every(e => e.path === "/v2/" || e.path.startsWith("/v2/deckhouse/ee/"))).toBe(
      true,
    );
    expect(
      afterFirst.some(e => e.method === "GET" && e.path.includes("/blobs/") && e.status === 200),
    ).toBe(true);

    const mark = basicUpstream.accessLog().length;
    await skopeoPull(basicMaster, "v1", lab.path("pull/skopeo-2"));
    await settle();
    const second = basicUpstream.accessLog().slice(mark);
    // exactly one request, answered, and no blob byte
    expect(second.map(e => `${e.method} ${e.path} ${e.status}`)).toEqual([
      "HEAD /v2/deckhouse/ee/manifests/v1 200",
    ]);
    // the blobs' bytes came from nginx (docs/adr/0110): the gateway only gave verdicts on them
    const metrics = await (await fetch(`http://${basicMaster.ip}:5003/metrics`)).text();
    const blobAnswers = (code: string) =>
      metrics
        .split("\n")
        .filter(
          l =>
            l.startsWith("registry_gateway_requests_total{") &&
            l.includes('listener="client"') &&
            l.includes('route="blob"') &&
            l.includes('method="GET"') &&
            l.includes(`code="${code}"`),
        )
        .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
    expect(blobAnswers("204")).toBeGreaterThanOrEqual(first.length);
    expect(blobAnswers("200")).toBe(0);
  });

  it("containerd pulls registry.d8-system.svc:5001/system/deckhouse:v2 through the gateway; again from the cache", async () => {
    const ref = `${SVC}/system/deckhouse:v2`;
    const blobsBefore = blobGets(basicUpstream).length;
    await containerd.ctr("-n", "p", "images", "pull", "--hosts-dir", lab.path("hosts"), ref);
    await cached(basicMaster, images.v2!);
    expect(blobGets(basicUpstream).length).toBeGreaterThan(blobsBefore);
    expect(await containerd.ctr("-n", "p", "images", "ls", "-q")).toContain(ref);

    await containerd.forget("p");
    const mark = basicUpstream.accessLog().length;
    await containerd.ctr("-n", "p", "images", "pull", "--hosts-dir", lab.path("hosts"), ref);
    await settle();
    const second = basicUpstream.accessLog().slice(mark);
    expect(second.filter(e => e.path.includes("/blobs/"))).toEqual([]);
    expect(second.filter(e => e.status < 400).map(e => `${e.method} ${e.path}`)).toEqual([
      "HEAD /v2/deckhouse/ee/manifests/v2",
    ]);
  });

  it("clients without the module credentials get 401 from the gateway; the cache's listener refuses strangers", async () => {
    const res = await fetch(`http://${basicMaster.ip}:5004/v2/deckhouse/ee/manifests/v1`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(
      /^Bearer realm="http:\/\/[\d.]+:5004\/token"/,
    );
    const token = await fetch(`http://${basicMaster.ip}:5004/token`, {
      headers: { authorization: `Basic ${Buffer.from("distribution:guess").toString("base64")}` },
    });
    expect(token.status).toBe(401);
    for (const creds of [null, `${ro.name}:wrong`, "rw:whatever"]) {
      const err = await skopeoPull(basicMaster, "v1", lab.path("pull/refused"), creds).catch(
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(Error);
      expect(String((err as Error).message)).toMatch(/unauthorized|authentication required/i);
    }
  });

  it("upstream down: cached tags still pull from the cache; an uncached tag fails", async () => {
    await basicUpstream.stop();
    const cached = await skopeoPull(basicMaster, "v1", lab.path("pull/down-cached"));
    expect(cached.length).toBe(images.v1!.blobs.size - 1);
    const uncached = await skopeoPull(basicMaster, "v3", lab.path("pull/down-uncached")).catch(
      (e: Error) => e,
    );
    expect(uncached).toBeInstanceOf(Error);
    // distribution alone reports the failed upstream lookup as an unknown manifest; the client
    // is told the upstream is down instead (docs/adr/0160)
    expect(String((uncached as Error).message)).toMatch(
      /reading manifest v3 .*upstream registry \S+ is unavailable: /,
    );
    const metrics = await (await fetch(`http://${basicMaster.ip}:5003/metrics`)).text();
    expect(metrics).toMatch(
      /registry_gateway_upstream_requests_total\{code="0",route="manifest"\} [1-9]/,
    );

    // the static pod restarts while the upstream is down: stock 2.8 alone would panic at start
    // (docs/peers.md#distribution-as-a-pull-through-cache); behind the gateway it starts and keeps
    // serving its cache
    await basicMaster.startPod();
    const again = await skopeoPull(basicMaster, "v1", lab.path("pull/down-restarted"));
    expect(again.length).toBe(images.v1!.blobs.size - 1);
  });
});

describe("Proxy mode, Bearer-token upstream", () => {
  it("skopeo pulls through the gateway; the second pull costs one manifest request, no blob and no token", async () => {
    const tokenRequests = tokens.requests.length;
    await skopeoPull(tokenMaster, "v1", lab.path("pull/token-1"));
    await cached(tokenMaster, images.v1!);
    expect(tokens.requests.length).toBeGreaterThan(tokenRequests);
    expect(tokens.requests.every(r => r.user === "licuser" && r.status === 200)).toBe(true);
    expect(blobGets(tokenUpstream).length).toBeGreaterThan(0);

    const mark = tokenUpstream.accessLog().length;
    const tokenMark = tokens.requests.length;
    await skopeoPull(tokenMaster, "v1", lab.path("pull/token-2"));
    await settle();
    const second = tokenUpstream.accessLog().slice(mark);
    expect(second.filter(e => e.status < 400).map(e => `${e.method} ${e.path}`)).toEqual([
      "HEAD /v2/deckhouse/ee/manifests/v1",
    ]);
    expect(tokens.requests.length).toBe(tokenMark);
  });
});
