// The gateway in mode `local` in front of a real stock distribution: authentication, the ACL of
// every module role, streaming reads (HEAD, ranges), chunked uploads, error bodies, metrics.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../lib/oci";
import type { RunningGateway } from "../../images/gateway/src/server";
import {
  createCa,
  createLab,
  issueServerCert,
  type Lab,
  pushImage,
  type Registry,
  startRegistry,
  writeOciLayout,
  type OciLayout,
  skopeoRawManifest,
} from "../e2e-lab";
import { collectedLogs, https, startGatewayFromFile, writeGatewayConfig } from "./support/gateway";
import { user } from "./support/node-config";

let lab: Lab;
let distribution: Registry;
let gateway: RunningGateway;
let ca: string;
let base: string;
let hostPort: string;
let image: OciLayout;
const users = {
  ro: user("ro"),
  rw: user("rw"),
  puller: user("mirror-puller"),
  pusher: user("mirror-pusher"),
};
const cred = (u: { name: string; password: string }) => `${u.name}:${u.password}`;

beforeAll(async () => {
  lab = await createLab("gateway-local");
  const authority = await createCa(lab.path("pki"));
  ca = authority.certPem;
  const cert = await issueServerCert(authority, "gateway");
  distribution = await startRegistry({ dir: lab.path("distribution") });
  const configFile = lab.path("gateway.yaml");
  await writeGatewayConfig(configFile, {
    mode: "local",
    listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
    monitoring: { address: "127.0.0.1:0" },
    users: [
      { name: users.ro.name, passwordHash: users.ro.passwordHash, role: "ro" },
      { name: users.rw.name, passwordHash: users.rw.passwordHash, role: "rw" },
      { name: users.puller.name, passwordHash: users.puller.passwordHash, role: "mirror-puller" },
      { name: users.pusher.name, passwordHash: users.pusher.passwordHash, role: "mirror-pusher" },
    ],
    distribution: { url: distribution.url },
  });
  gateway = await startGatewayFromFile(configFile);
  hostPort = `127.0.0.1:${gateway.addresses.client.port}`;
  base = `https://${hostPort}`;
  image = await writeOciLayout(lab.path("img"), {
    seed: "gw-local",
    tags: ["v1"],
    payloadBytes: 300_000,
  });
});

afterAll(async () => {
  await gateway?.stop();
  await lab?.close();
});

const asRegistry = () => ({ hostPort, scheme: "https" as const, caPem: ca });

const skopeoInspect = (ref: string, creds: string | undefined) =>
  skopeoRawManifest(lab, ref, { caPem: ca, creds });

describe("authentication", () => {
  it("anonymous: 401 with the Basic challenge and a distribution error body", async () => {
    const r = await https(`${base}/v2/`, { ca });
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toBe('Basic realm="Deckhouse registry"');
    expect(r.headers["docker-distribution-api-version"]).toBe("registry/2.0");
    expect(JSON.parse(r.body.toString())).toEqual({
      errors: [{ code: "UNAUTHORIZED", message: "authentication required", detail: null }],
    });
  });

  it("wrong password and unknown user: 401", async () => {
    for (const auth of ["ro:wrong", "nobody:pw", `${users.rw.name}:${users.ro.password}`]) {
      const r = await https(`${base}/v2/`, { ca, auth });
      expect(r.status, auth).toBe(401);
      expect(r.headers["www-authenticate"]).toContain("Basic");
    }
    // logged once per user and address, unknown names not at all (it may be a mistyped password)
    for (let i = 0; i < 5; i++) await https(`${base}/v2/`, { ca, auth: "ro:wrong" });
    const failures = collectedLogs.filter(l => l.includes("authentication failed"));
    expect(failures.filter(l => l.includes('"user":"ro"'))).toHaveLength(1);
    expect(failures.some(l => l.includes('"user":"(unknown)"'))).toBe(true);
    expect(collectedLogs.join("")).not.toContain("nobody");
  });

  it("a verified password costs one bcrypt, not one per request", async () => {
    const before = gateway.verifier.stats.bcryptChecks;
    const auth = cred(users.puller);
    await Promise.all(Array.from({ length: 20 }, () => https(`${base}/v2/`, { ca, auth })));
    for (let i = 0; i < 20; i++)
      expect((await https(`${base}/v2/`, { ca, auth })).status).toBe(200);
    expect(gateway.verifier.stats.bcryptChecks - before).toBe(1);
    // repeating a wrong password costs no more bcrypt either
    const wrong = `${users.puller.name}:guess`;
    for (let i = 0; i < 5; i++)
      expect((await https(`${base}/v2/`, { ca, auth: wrong })).status).toBe(401);
    expect(gateway.verifier.stats.bcryptChecks - before).toBe(2);
  });
});

describe("ACL with real clients", () => {
  it("rw pushes with skopeo; ro pulls the same digest", async () => {
    const pushed = await pushImage(image, asRegistry(), "system/deckhouse", {
      creds: { username: users.rw.name, password: users.rw.password },
    });
    expect(pushed.digest).toBe(image.digest);
    const raw = await skopeoInspect(`${hostPort}/system/deckhouse:v1`, cred(users.ro));
    expect(createHash("sha256").update(raw).digest("hex")).toBe(image.digest.slice(7));
  });

  it("ro cannot push: skopeo fails, the API answers 403 DENIED", async () => {
    const err = await pushImage(image, asRegistry(), "system/deckhouse", {
      tag: "by-ro",
      creds: { username: users.ro.name, password: users.ro.password },
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(/denied|403/i);
    const r = await https(`${base}/v2/system/deckhouse/blobs/uploads/`, {
      ca,
      method: "POST",
      auth: cred(users.ro),
    });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe("DENIED");
    const del = await https(`${base}/v2/system/deckhouse/manifests/${image.digest}`, {
      ca,
      method: "DELETE",
      auth: cred(users.ro),
    });
    expect(del.status).toBe(403);
  });

  it("catalog: mirror-puller and rw list it, ro may not; mirror-puller cannot push, mirror-pusher can", async () => {
    const cat = (u: { name: string; password: string }) =>
      https(`${base}/v2/_catalog`, { ca, auth: cred(u) });
    expect((await cat(users.ro)).status).toBe(403);
    for (const u of [users.puller, users.rw, users.pusher]) {
      const r = await cat(u);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString()).repositories).toContain("system/deckhouse");
    }
    const byPuller = await https(`${base}/v2/system/deckhouse/blobs/uploads/`, {
      ca,
      method: "POST",
      auth: cred(users.puller),
    });
    expect(byPuller.status).toBe(403);
    const pushed = await pushImage(image, asRegistry(), "system/deckhouse", {
      tag: "by-pusher",
      creds: { username: users.pusher.name, password: users.pusher.password },
    });
    expect(pushed.digest).toBe(image.digest);
  });
});

describe("distribution API through the gateway", () => {
  it("HEAD manifest: digest and length, no body; unknown tag: 404 MANIFEST_UNKNOWN from distribution", async () => {
    const r = await https(`${base}/v2/system/deckhouse/manifests/v1`, {
      ca,
      method: "HEAD",
      auth: cred(users.ro),
      headers: { accept: image.mediaType },
    });
    expect(r.status).toBe(200);
    expect(r.headers["docker-content-digest"]).toBe(image.digest);
    expect(Number(r.headers["content-length"])).toBe(image.size);
    expect(r.body.length).toBe(0);
    const missing = await https(`${base}/v2/system/deckhouse/manifests/nope`, {
      ca,
      auth: cred(users.ro),
    });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString()).errors[0].code).toBe("MANIFEST_UNKNOWN");
  });

  it("ranges of a blob come back as 206 with exactly those bytes", async () => {
    const [digest, size] = [...image.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const whole = await readFile(join(image.dir, "blobs", "sha256", digest.slice(7)));
    expect(whole.length).toBe(size);
    const r = await https(`${base}/v2/system/deckhouse/blobs/${digest}`, {
      ca,
      auth: cred(users.ro),
      headers: { range: "bytes=1000-1999" },
    });
    expect(r.status).toBe(206);
    expect(r.headers["content-range"]).toBe(`bytes 1000-1999/${size}`);
    expect(r.body.equals(whole.subarray(1000, 2000))).toBe(true);
    const head = await https(`${base}/v2/system/deckhouse/blobs/${digest}`, {
      ca,
      method: "HEAD",
      auth: cred(users.ro),
    });
    expect(head.status).toBe(200);
    expect(Number(head.headers["content-length"])).toBe(size);
  });

  it("chunked uploads (PATCH with Content-Range, then PUT) land in distribution; Locations point at the gateway", async () => {
    const start = await https(`${base}/v2/system/other/blobs/uploads/`, {
      ca,
      method: "POST",
      auth: cred(users.rw),
    });
    expect(start.status).toBe(202);
    expect(String(start.headers.location)).toMatch(
      new RegExp(`^https://${hostPort.replace(/\./g, "\\.")}/v2/system/other/blobs/uploads/`),
    );

    const client = new RegistryClient({
      registry: hostPort,
      ca,
      username: users.rw.name,
      password: users.rw.password,
    });
    try {
      const data = Buffer.alloc(2_500_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
      async function* pieces() {
        for (let o = 0; o < data.length; o += 300_000) yield data.subarray(o, o + 300_000);
      }
      const uploaded = await client.uploadBlobChunked("system/other", pieces(), {
        chunkSize: 1_000_000,
      });
      expect(uploaded.size).toBe(data.length);
      const back = await client.getBlobBytes("system/other", uploaded.digest);
      expect(back.equals(data)).toBe(true);
      // distribution saw three PATCHes and one PUT for it
      const log = distribution
        .accessLog()
        .filter(e => e.path.startsWith("/v2/system/other/blobs/uploads/"));
      expect(log.filter(e => e.method === "PATCH").length).toBeGreaterThanOrEqual(3);
    } finally {
      await client.close();
    }
  });

  it("paths outside /v2 and unknown API paths: 404", async () => {
    expect((await https(`${base}/`, { ca, auth: cred(users.rw) })).status).toBe(404);
    expect(
      (await https(`${base}/v2/UPPER/manifests/v1`, { ca, auth: cred(users.rw) })).status,
    ).toBe(404);
  });
});

describe("monitoring", () => {
  it("metrics count requests and authentications, and hold no credentials", async () => {
    const port = gateway.addresses.monitoring.port;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(
      /registry_gateway_requests_total\{code="401",listener="client",method="GET",route="base"\} \d+/,
    );
    expect(text).toMatch(/registry_gateway_authentications_total\{result="bad-password"\} \d+/);
    expect(text).toMatch(
      /registry_gateway_response_body_bytes_total\{listener="client",route="blob"\} \d+/,
    );
    for (const u of Object.values(users)) expect(text).not.toContain(u.password);
    expect(text).not.toMatch(/user="/);
    expect(collectedLogs.join("")).not.toContain(users.rw.password);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });

  it("distribution down: 503 UNAVAILABLE to clients, /readyz 503", async () => {
    await distribution.stop();
    const r = await https(`${base}/v2/system/deckhouse/manifests/v1`, { ca, auth: cred(users.ro) });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe("UNAVAILABLE");
    const ready = await fetch(`http://127.0.0.1:${gateway.addresses.monitoring.port}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain("distribution unreachable");
  });
});
