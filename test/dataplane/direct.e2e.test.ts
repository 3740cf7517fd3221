// Acceptance, mode Direct: the in-cluster proxy is the gateway alone (no distribution, no cache),
// started as its Deployment would start it (`/usr/local/bin/gateway --config <file>`, the bundle
// run by Node). Clients use the upstream's credentials against it
// (docs/architecture.md#in-cluster-proxy: its one user is the upstream user, pull only); it pulls
// from the upstream with the alias and the same credentials, and stores nothing.
import { createReadStream } from "node:fs";
import { mkdir, readdir } from "node:fs/promises";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CertificateAuthority,
  createCa,
  createLab,
  createTokenSigner,
  issueServerCert,
  type Lab,
  type LabProcess,
  type OciLayout,
  pushImage,
  type Registry,
  requireTools,
  spawnProcess,
  startRegistry,
  startTokenServer,
  type TokenServer,
  trackCloser,
  writeOciLayout,
  skopeoCopyToDir,
} from "../e2e-lab";
import { type Containerd, startContainerd, writeHostsToml } from "./support/containerd";
import { https, writeGatewayConfig } from "./support/gateway";
import { bundles } from "./support/masters";

const SVC = "registry.d8-system.svc:5001";
const LICENCE = "licence-key-0123456789";
let lab: Lab;
let moduleCa: CertificateAuthority;
let basic: Registry;
let tokenUp: Registry;
let tokens: TokenServer;
let gwBasic: { proc: LabProcess; base: string; hostPort: string };
let gwToken: { proc: LabProcess; base: string; hostPort: string };
let containerd: Containerd;
let v1: OciLayout;
let install: OciLayout;

async function startDirectGateway(
  name: string,
  upstream: Record<string, unknown>,
  user: { name: string; password: string },
  gatewayBundle: string,
) {
  const cert = await issueServerCert(moduleCa, `incluster-${name}`, {
    dns: ["registry.d8-system.svc"],
  });
  const dir = lab.path(`gw-${name}`);
  await mkdir(dir, { recursive: true });
  const config = join(dir, "config.yaml");
  await writeGatewayConfig(config, {
    mode: "direct",
    listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
    monitoring: { address: "127.0.0.1:0" },
    users: [{ name: user.name, passwordHash: bcrypt.hashSync(user.password, 10), role: "ro" }],
    upstream,
  });
  const proc = spawnProcess(
    `gateway-${name}`,
    process.execPath,
    [gatewayBundle, "--config", config],
    { cwd: dir },
  );
  const line = await proc.waitForLine(/"msg":"gateway listening"/);
  const record = JSON.parse(line.input ?? "{}") as { client: string };
  return { proc, hostPort: record.client, base: `https://${record.client}` };
}

/** skopeo pulls `ref` through a gateway with `creds`; returns the blob files it wrote. */
const skopeoCopy = (hostPort: string, ref: string, creds: string, dest: string) =>
  skopeoCopyToDir(lab, `${hostPort}/${ref}`, dest, { caPem: moduleCa.certPem, creds });

const layerFiles = (l: OciLayout) =>
  [...l.blobs.keys()]
    .filter(d => d !== l.digest)
    .map(d => d.slice(7))
    .sort();

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "containerd", "ctr", "openssl", "htpasswd");
  lab = await createLab("dp-direct");
  const { gateway } = await bundles(lab.path("bundles"));
  moduleCa = await createCa(lab.path("module-pki"), "registry-ca");
  const upstreamCa = await createCa(lab.path("upstream-pki"), "upstream CA");
  basic = await startRegistry({
    dir: lab.path("upstream-basic"),
    tls: await issueServerCert(upstreamCa, "upstream"),
    htpasswd: { upuser: "uppass" },
  });
  tokens = await startTokenServer({
    signer: await createTokenSigner(lab.path("token-pki")),
    users: { "license-token": LICENCE },
  });
  tokenUp = await startRegistry({
    dir: lab.path("upstream-token"),
    tokenAuth: tokens.registryAuth("upstream"),
  });
  v1 = await writeOciLayout(lab.path("img/v1"), {
    seed: "direct-v1",
    tags: ["v1"],
    payloadBytes: 500_000,
  });
  install = await writeOciLayout(lab.path("img/install"), { seed: "direct-install", tags: ["v1"] });
  await pushImage(v1, basic, "deckhouse/ee", { creds: { username: "upuser", password: "uppass" } });
  await pushImage(install, basic, "deckhouse/ee/install", {
    creds: { username: "upuser", password: "uppass" },
  });
  await pushImage(v1, tokenUp, "deckhouse/ee", {
    creds: { username: "license-token", password: LICENCE },
  });
  const caFile = lab.path("upstream-pki", "ca.crt");
  gwBasic = await startDirectGateway(
    "basic",
    { url: basic.url, path: "deckhouse/ee", username: "upuser", password: "uppass", ca: caFile },
    { name: "upuser", password: "uppass" },
    gateway,
  );
  gwToken = await startDirectGateway(
    "token",
    { url: tokenUp.url, path: "deckhouse/ee", username: "license-token", password: LICENCE },
    { name: "license-token", password: LICENCE },
    gateway,
  );
  containerd = await startContainerd(lab.path("ctrd"));
  await writeHostsToml(lab.path("hosts"), SVC, {
    url: gwBasic.base,
    caFile: moduleCa.cert,
    username: "upuser",
    password: "uppass",
  });
}, 120_000);

afterAll(async () => {
  await lab?.close();
});

describe("Direct mode (in-cluster proxy)", () => {
  it("skopeo pulls system/deckhouse:v1 and system/deckhouse/install:v1 through the alias, with upstream Basic credentials and CA", async () => {
    const mark = basic.accessLog().length;
    expect(
      await skopeoCopy(
        gwBasic.hostPort,
        "system/deckhouse:v1",
        "upuser:uppass",
        lab.path("pull/d1"),
      ),
    ).toEqual(layerFiles(v1));
    expect(
      await skopeoCopy(
        gwBasic.hostPort,
        "system/deckhouse/install:v1",
        "upuser:uppass",
        lab.path("pull/d2"),
      ),
    ).toEqual(layerFiles(install));
    const seen = basic.accessLog().slice(mark);
    expect(seen.every(e => e.path === "/v2/" || e.path.startsWith("/v2/deckhouse/ee/"))).toBe(true);
    expect(seen.some(e => e.path.startsWith("/v2/deckhouse/ee/install/manifests/v1"))).toBe(true);
  });

  it("stores nothing: a second pull fetches every blob from the upstream again", async () => {
    const blobGets = () =>
      basic
        .accessLog()
        .filter(e => e.method === "GET" && e.path.includes("/blobs/") && e.status === 200).length;
    const before = blobGets();
    await skopeoCopy(gwBasic.hostPort, "system/deckhouse:v1", "upuser:uppass", lab.path("pull/d3"));
    expect(blobGets() - before).toBe(v1.blobs.size - 1);
    expect(await readdir(lab.path("gw-basic"))).toEqual(["config.yaml"]);
  });

  it("containerd pulls registry.d8-system.svc:5001/system/deckhouse:v1 through it", async () => {
    const ref = `${SVC}/system/deckhouse:v1`;
    await containerd.ctr("-n", "d", "images", "pull", "--hosts-dir", lab.path("hosts"), ref);
    expect(await containerd.ctr("-n", "d", "images", "ls", "-q")).toContain(ref);
  });

  it("a licence with a Bearer-token upstream: the gateway fetches tokens as license-token", async () => {
    expect(
      await skopeoCopy(
        gwToken.hostPort,
        "system/deckhouse:v1",
        `license-token:${LICENCE}`,
        lab.path("pull/t1"),
      ),
    ).toEqual(layerFiles(v1));
    expect(tokens.requests.length).toBeGreaterThan(0);
    expect(tokens.requests.every(r => r.user === "license-token" && r.status === 200)).toBe(true);
    expect(tokens.requests.some(r => r.scopes.includes("repository:deckhouse/ee:pull"))).toBe(true);
  });

  it("the distribution API through it: HEAD, ranges, tag list with the local name, 404 and push refusal", async () => {
    const auth = "upuser:uppass";
    const ca = moduleCa.certPem;
    const head = await https(`${gwBasic.base}/v2/system/deckhouse/manifests/v1`, {
      ca,
      auth,
      method: "HEAD",
    });
    expect(head.status).toBe(200);
    expect(head.headers["docker-content-digest"]).toBe(v1.digest);
    expect(head.body.length).toBe(0);

    const [layer, size] = [...v1.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const range = await https(`${gwBasic.base}/v2/system/deckhouse/blobs/${layer}`, {
      ca,
      auth,
      headers: { range: "bytes=100-199" },
    });
    expect(range.status).toBe(206);
    expect(range.headers["content-range"]).toBe(`bytes 100-199/${size}`);
    expect(range.body.length).toBe(100);

    const tags = await https(`${gwBasic.base}/v2/system/deckhouse/tags/list`, { ca, auth });
    expect(JSON.parse(tags.body.toString())).toEqual({ name: "system/deckhouse", tags: ["v1"] });

    const missing = await https(`${gwBasic.base}/v2/system/deckhouse/manifests/v9`, { ca, auth });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString()).errors[0].code).toBe("MANIFEST_UNKNOWN");

    const outside = await https(`${gwBasic.base}/v2/other/manifests/v1`, { ca, auth });
    expect(outside.status).toBe(404);
    expect(JSON.parse(outside.body.toString()).errors[0].code).toBe("NAME_UNKNOWN");

    const push = await https(`${gwBasic.base}/v2/system/deckhouse/blobs/uploads/`, {
      ca,
      auth,
      method: "POST",
    });
    expect(push.status).toBe(403);
    const anonymous = await https(`${gwBasic.base}/v2/system/deckhouse/manifests/v1`, { ca });
    expect(anonymous.status).toBe(401);
  });

  it("upstream down: 503 UNAVAILABLE, and the upstream password never reaches the logs", async () => {
    await basic.stop();
    const r = await https(`${gwBasic.base}/v2/system/deckhouse/manifests/v1`, {
      ca: moduleCa.certPem,
      auth: "upuser:uppass",
    });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe("UNAVAILABLE");
    // the gateway's log reaches us through a pipe: wait for the line rather than race it
    await gwBasic.proc.waitForLine(/upstream request failed/, 5_000);
    const logs = [...gwBasic.proc.lines, ...gwToken.proc.lines].join("\n");
    expect(logs).not.toContain("uppass");
    expect(logs).not.toContain(LICENCE);
  });
});

describe("Direct mode, an upstream that redirects blob downloads to its storage", () => {
  it("the gateway follows the redirect without the upstream's credentials; the client sees 200 and the bytes", async () => {
    const { gateway } = await bundles(lab.path("bundles-redirect"));
    const plain = await startRegistry({ dir: lab.path("upstream-plain") });
    await pushImage(v1, plain, "deckhouse/ee");
    const storageHits: { path: string; authorization?: string }[] = [];
    const storage = createHttpServer((req, res) => {
      storageHits.push({ path: req.url ?? "", authorization: req.headers.authorization });
      const hex = /^\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
      if (!hex) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "application/octet-stream" });
      createReadStream(join(v1.dir, "blobs", "sha256", hex)).pipe(res);
    });
    // the upstream: a registry whose blob GETs answer 307 to a storage origin (as S3-backed ones do)
    const frontAuth = `Basic ${Buffer.from("reader:reader-pw").toString("base64")}`;
    const front = createHttpServer((req, res) => {
      if (req.headers.authorization !== frontAuth) {
        return void res.writeHead(401, { "www-authenticate": 'Basic realm="front"' }).end();
      }
      const hex = /\/blobs\/sha256:([0-9a-f]{64})$/.exec(req.url ?? "")?.[1];
      if (hex && req.method === "GET") {
        const port = (storage.address() as AddressInfo).port;
        return void res.writeHead(307, { location: `http://127.0.0.1:${port}/blobs/${hex}` }).end();
      }
      const up = httpRequest(
        {
          host: plain.host,
          port: plain.port,
          path: req.url,
          method: req.method,
          headers: req.headers,
        },
        r => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => res.destroy());
      req.pipe(up);
    });
    for (const s of [storage, front]) {
      await new Promise<void>(resolve => s.listen(0, "127.0.0.1", resolve));
      trackCloser(() => new Promise<void>(resolve => s.close(() => resolve())));
    }
    const frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const gw = await startDirectGateway(
      "redirect",
      { url: frontUrl, path: "deckhouse/ee", username: "reader", password: "reader-pw" },
      { name: "reader", password: "reader-pw" },
      gateway,
    );
    expect(
      await skopeoCopy(
        gw.hostPort,
        "system/deckhouse:v1",
        "reader:reader-pw",
        lab.path("pull/redirect"),
      ),
    ).toEqual(layerFiles(v1));
    expect(storageHits.length).toBe(v1.blobs.size - 1);
    // the upstream's credentials stay with the upstream
    expect(storageHits.every(h => h.authorization === undefined)).toBe(true);
    const [layer, size] = [...v1.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const direct = await https(`${gw.base}/v2/system/deckhouse/blobs/${layer}`, {
      ca: moduleCa.certPem,
      auth: "reader:reader-pw",
    });
    expect(direct.status).toBe(200);
    expect(direct.body.length).toBe(size);
  });
});
