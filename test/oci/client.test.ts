// RegistryClient against real CNCF distribution: plain HTTP, HTTPS with a test CA + htpasswd
// Basic, and Bearer tokens from the lab's token server. What the client writes is read back by
// skopeo; what skopeo pushed is read by the client.
import { createHash } from "node:crypto";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  RegistryClient,
  type ImageManifest,
} from "../../lib/oci";
import {
  closedPort,
  createCa,
  createLab,
  createTokenSigner,
  issueServerCert,
  manifestDigest,
  pushImage,
  skopeoRawManifest,
  startBlackhole,
  startRegistry,
  startTokenServer,
  writeOciLayout,
  type CertificateAuthority,
  type Lab,
  type OciLayout,
  type Registry,
  type TokenServer,
} from "../e2e-lab";
import { expectWrongDigestRefused, rejection } from "./support/uploads";

const alice = { username: "alice", password: "correct-horse-battery" };
const licence = "LICENCE-0123456789";
let lab: Lab;
let ca: CertificateAuthority;
let plain: Registry;
let secure: Registry;
let tokenReg: Registry;
let tokens: TokenServer;
let single: OciLayout;
let multi: OciLayout;
const pushed: Record<string, string> = {};
const clients: RegistryClient[] = [];

function client(
  reg: Registry,
  extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {},
) {
  const c = new RegistryClient({
    registry: reg.hostPort,
    scheme: reg.scheme,
    ...(reg.caPem ? { ca: reg.caPem } : {}),
    ...extra,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  lab = await createLab("oci-client");
  ca = await createCa(lab.path("pki"));
  tokens = await startTokenServer({
    signer: await createTokenSigner(lab.path("pki")),
    users: { [alice.username]: alice.password },
  });
  [plain, secure, tokenReg] = await Promise.all([
    startRegistry({ dir: lab.path("plain") }),
    startRegistry({
      dir: lab.path("secure"),
      tls: await issueServerCert(ca, "secure"),
      htpasswd: { [alice.username]: alice.password, "license-token": licence },
    }),
    startRegistry({ dir: lab.path("token"), tokenAuth: tokens.registryAuth("oci-test") }),
  ]);
  single = await writeOciLayout(lab.path("single"), { seed: "single", tags: ["v1"] });
  multi = await writeOciLayout(lab.path("multi"), {
    seed: "multi",
    platforms: ["linux/amd64", "linux/arm64"],
    tags: ["v1"],
  });
  const creds = { creds: alice };
  const [a, b, c, d, e, f] = await Promise.all([
    pushImage(single, plain, "system/deckhouse", { tag: "oci" }),
    pushImage(multi, plain, "system/deckhouse", { tag: "index" }),
    pushImage(single, plain, "system/deckhouse", { tag: "v2s2", format: "v2s2" }),
    pushImage(multi, plain, "system/deckhouse", { tag: "list", format: "v2s2" }),
    pushImage(multi, secure, "system/deckhouse", { tag: "index", ...creds }),
    pushImage(single, tokenReg, "system/deckhouse", { tag: "oci", ...creds }),
  ]);
  Object.assign(pushed, { oci: a.digest, index: b.digest, v2s2: c.digest, list: d.digest });
  Object.assign(pushed, { secureIndex: e.digest, tokenOci: f.digest });
});

afterAll(async () => {
  await Promise.allSettled(clients.map(c => c.close()));
  await lab?.close();
});

describe("manifests of every media type (plain HTTP)", () => {
  it.each([
    ["oci", OCI_MANIFEST],
    ["index", OCI_INDEX],
    ["v2s2", DOCKER_MANIFEST],
    ["list", DOCKER_MANIFEST_LIST],
  ])("HEAD and GET %s → %s with the digest skopeo pushed", async (tag, mediaType) => {
    const reg = client(plain, { scheme: "http" });
    const head = await reg.headManifest("system/deckhouse", tag);
    expect(head).toMatchObject({ digest: pushed[tag], mediaType });
    const byDigest = await reg.headManifest("system/deckhouse", head.digest);
    expect(byDigest.digest).toBe(head.digest);
    const got = await reg.getManifest("system/deckhouse", tag);
    expect(got.digest).toBe(pushed[tag]);
    expect(got.size).toBe(head.size);
    expect(got.document.kind).toBe(
      mediaType.includes("index") || mediaType.includes("list") ? "index" : "manifest",
    );
  });

  it("notices a registry that closes the connection after HEAD (distribution 2.x does)", async () => {
    const reg = client(plain);
    expect(reg.headClosesConnection).toBe(false);
    await reg.getManifest("system/deckhouse", "oci");
    expect(reg.headClosesConnection).toBe(false);
    await reg.headManifest("system/deckhouse", "oci");
    expect(reg.headClosesConnection).toBe(true);
  });

  it("the Accept header matters: without it distribution does not serve the index", async () => {
    const res = await fetch(`${plain.url}/v2/system/deckhouse/manifests/index`, { method: "HEAD" });
    expect(res.headers.get("docker-content-digest")).not.toBe(pushed.index);
  });

  it("a missing tag is a not-found error naming registry, repository and tag", async () => {
    const err = await rejection(client(plain).headManifest("system/deckhouse", "nope"));
    expect(err.kind).toBe("not-found");
    expect(err.status).toBe(404);
    expect(err.message).toBe(
      `HEAD manifest ${plain.hostPort}/system/deckhouse:nope: not found (HTTP 404)`,
    );
    const get = await rejection(
      client(plain).getManifest("system/deckhouse", `sha256:${"0".repeat(64)}`),
    );
    expect(get.message).toMatch(
      /^GET manifest .*\/system\/deckhouse@sha256:0{64}: not found \(HTTP 404 MANIFEST_UNKNOWN/,
    );
  });

  it("bad input is refused before any request", async () => {
    const err = await rejection(client(plain).headManifest("System/Deckhouse", "v1"));
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(
      /repository "System\/Deckhouse": path components must be lowercase/,
    );
    expect(() => new RegistryClient({ registry: "https://x" })).toThrow(/expected host\[:port\]/);
    expect(() => new RegistryClient({ registry: "x.io", username: "u" })).toThrow(/go together/);
  });
});

describe("blobs and uploads", () => {
  it("reads blobs whole and by range, following the manifest", async () => {
    const reg = client(plain);
    const m = (await reg.getManifest("system/deckhouse", "oci")).document as ImageManifest;
    const layer = m.layers[0]!;
    expect(await reg.hasBlob("system/deckhouse", layer.digest)).toBe(true);
    expect(await reg.headBlob("system/deckhouse", layer.digest)).toEqual({
      digest: layer.digest,
      size: layer.size,
    });
    const whole = await reg.getBlobBytes("system/deckhouse", layer.digest);
    expect(whole.length).toBe(layer.size);
    const part = await reg.getBlob("system/deckhouse", layer.digest, {
      range: { start: 10, end: 19 },
    });
    expect(part.range).toEqual({ start: 10, end: 19 });
    expect(part.size).toBe(layer.size);
    const chunks: Buffer[] = [];
    for await (const c of part.body) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(whole.subarray(10, 20));
    expect(await reg.hasBlob("system/deckhouse", `sha256:${"1".repeat(64)}`)).toBe(false);
  });

  it("uploads monolithic and chunked, mounts across repositories; skopeo reads the result", async () => {
    const reg = client(secure, { ...alice });
    const src = client(plain);
    const m = (await src.getManifest("system/deckhouse", "oci")).document as ImageManifest;
    const config = await src.getBlobBytes("system/deckhouse", m.config.digest);
    const layerDigest = m.layers[0]!.digest;
    const layer = await src.getBlobBytes("system/deckhouse", layerDigest);

    expect(await reg.uploadBlob("copy/a", config, { digest: m.config.digest })).toEqual({
      digest: m.config.digest,
      size: config.length,
    });
    const pieces = Readable.from([
      layer.subarray(0, 7),
      layer.subarray(7, 100),
      layer.subarray(100),
    ]);
    const up = await reg.uploadBlobChunked("copy/a", pieces, {
      chunkSize: 64,
      digest: layerDigest,
    });
    expect(up).toEqual({ digest: layerDigest, size: layer.length });
    const manifestBytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: m.config,
        layers: m.layers,
      }),
    );
    const { digest } = await reg.putManifest("copy/a", "copied", manifestBytes, OCI_MANIFEST);
    expect(digest).toBe(`sha256:${createHash("sha256").update(manifestBytes).digest("hex")}`);

    expect(await reg.mountBlob("copy/b", layerDigest, "copy/a")).toBe(true);
    expect(await reg.mountBlob("copy/b", m.config.digest, "copy/a")).toBe(true);
    expect(await reg.mountBlob("copy/c", `sha256:${"2".repeat(64)}`, "copy/a")).toBe(false);
    await reg.putManifest("copy/b", "mounted", manifestBytes, OCI_MANIFEST);

    const raw = await skopeoRawManifest(lab, `${secure.hostPort}/copy/b:mounted`, {
      caPem: ca.certPem,
      creds: `${alice.username}:${alice.password}`,
    });
    expect(manifestDigest(raw)).toBe(digest);
    expect((JSON.parse(raw) as ImageManifest).layers.map(l => l.digest)).toEqual([layerDigest]);
  });

  it("a chunked upload whose content does not match the promised digest is not committed", async () => {
    const reg = client(plain);
    const err = await rejection(
      reg.uploadBlobChunked("bad/upload", Readable.from([Buffer.from("abc")]), {
        digest: `sha256:${"3".repeat(64)}`,
      }),
    );
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(/content digest is sha256:ba7816bf/);
    expect(await reg.hasBlob("bad/upload", `sha256:${"3".repeat(64)}`)).toBe(false);
  });

  it("streams an upload from byte ranges: one PUT when small, PATCH pieces above, progress once per byte", async () => {
    const reg = client(secure, { ...alice });
    const src = client(plain);
    const m = (await src.getManifest("system/deckhouse", "oci")).document as ImageManifest;
    const config = await src.getBlobBytes("system/deckhouse", m.config.digest);
    const layer = await src.getBlobBytes("system/deckhouse", m.layers[0]!.digest);
    const opened: Array<[number, number]> = [];
    const sourceOf = (bytes: Buffer) => ({
      size: bytes.length,
      open: (start: number, end: number) => {
        opened.push([start, end]);
        // pieces of 7 bytes: the client must not rely on the stream's chunking
        const part = bytes.subarray(start, end);
        const pieces: Buffer[] = [];
        for (let i = 0; i < part.length; i += 7) pieces.push(part.subarray(i, i + 7));
        return Readable.from(pieces);
      },
    });
    const logStart = secure.accessLog().length;
    let sent = 0;
    const small = await reg.uploadBlobFrom("stream/a", sourceOf(config), {
      digest: m.config.digest,
      onBytes: n => (sent += n),
    });
    expect(small).toEqual({ digest: m.config.digest, size: config.length });
    expect(sent).toBe(config.length);
    expect(opened).toEqual([[0, config.length]]);
    opened.length = 0;
    const big = await reg.uploadBlobFrom("stream/a", sourceOf(layer), {
      digest: m.layers[0]!.digest,
      monolithicMaxBytes: 64,
      chunkSize: 100,
    });
    expect(big).toEqual({ digest: m.layers[0]!.digest, size: layer.length });
    expect(opened).toHaveLength(Math.ceil(layer.length / 100));
    expect(opened[1]).toEqual([100, 200]);
    const methods = secure
      .accessLog()
      .slice(logStart)
      .filter(e => e.path.includes("/v2/stream/a/blobs/uploads/"))
      .map(e => e.method);
    expect(methods.filter(x => x === "PATCH")).toHaveLength(Math.ceil(layer.length / 100));
    expect(methods.filter(x => x === "PUT")).toHaveLength(2);
    expect(await reg.headBlob("stream/a", m.layers[0]!.digest)).toEqual({
      digest: m.layers[0]!.digest,
      size: layer.length,
    });
    expect(await reg.getBlobBytes("stream/a", m.layers[0]!.digest)).toEqual(layer);
  });

  it("a streamed upload whose bytes do not match its digest is refused with the digest they have: nothing committed", async () => {
    const reg = client(plain);
    await expectWrongDigestRefused(reg, 100_000);
    const bytes = Buffer.alloc(300_000, 1);
    const wrong = `sha256:${"4".repeat(64)}`;
    const source = {
      size: bytes.length,
      open: (start: number, end: number) => Readable.from([bytes.subarray(start, end)]),
    };
    // a source shorter than its announced size is refused the same way
    const short = { size: bytes.length + 5, open: source.open };
    const err = await rejection(reg.uploadBlobFrom("bad/stream", short, { digest: wrong }));
    expect(err.kind).toBe("invalid");
    expect(err.message).toMatch(/content is 300000 bytes where 300005 were expected/);
  });

  it("hasBlobKeepAlive answers like hasBlob on one kept connection; each HEAD costs a new one", async () => {
    const reg = client(secure, { ...alice, connections: 1 });
    const src = client(plain);
    const m = (await src.getManifest("system/deckhouse", "oci")).document as ImageManifest;
    const layer = m.layers[0]!.digest;
    await reg.uploadBlob("keep/a", await src.getBlobBytes("system/deckhouse", layer), {
      digest: layer,
    });
    const absent = `sha256:${"5".repeat(64)}`;
    let connected = 0;
    const count = () => connected++;
    subscribe("undici:client:connected", count);
    try {
      for (let i = 0; i < 3; i++) {
        expect(await reg.hasBlobKeepAlive("keep/a", layer)).toBe(true);
        expect(await reg.hasBlobKeepAlive("keep/a", absent)).toBe(false);
      }
      expect(connected).toBeLessThanOrEqual(1);
      connected = 0;
      for (let i = 0; i < 3; i++) {
        expect(await reg.hasBlob("keep/a", layer)).toBe(true);
        expect(await reg.hasBlob("keep/a", absent)).toBe(false);
      }
      // undici closes the connection after every HEAD (its guard against bodies sent to HEAD)
      expect(connected).toBeGreaterThanOrEqual(5);
    } finally {
      unsubscribe("undici:client:connected", count);
    }
  });

  it("lists tags page by page and the catalog", async () => {
    const reg = client(plain);
    // distribution 2.8 pages are not globally sorted: compare as sets
    expect((await reg.listTags("system/deckhouse", { pageSize: 2 })).sort()).toEqual([
      "index",
      "list",
      "oci",
      "v2s2",
    ]);
    const m = await reg.getManifest("system/deckhouse", "oci");
    const doc = m.document as ImageManifest;
    for (const blob of [doc.config, ...doc.layers]) {
      expect(await reg.mountBlob("catalog/two", blob.digest, "system/deckhouse")).toBe(true);
    }
    await reg.putManifest("catalog/two", "v1", m.bytes, m.mediaType);
    expect(await reg.catalog({ pageSize: 1 })).toEqual(["catalog/two", "system/deckhouse"]);
  });
});

describe("HTTPS with the test CA and htpasswd Basic", () => {
  it("trusts the CA on top of the system roots and sends Basic after the challenge", async () => {
    const reg = client(secure, { ...alice });
    await reg.ping();
    expect((await reg.headManifest("system/deckhouse", "index")).digest).toBe(pushed.secureIndex);
    const before = secure.accessLog().length;
    await reg.headManifest("system/deckhouse", "index");
    // the second call goes straight with credentials: no new 401 round trip
    expect(
      secure
        .accessLog()
        .slice(before)
        .map(e => e.status),
    ).toEqual([200]);
  });

  it("a licence is Basic user license-token", async () => {
    const reg = client(secure, { license: licence });
    expect((await reg.headManifest("system/deckhouse", "index")).mediaType).toBe(OCI_INDEX);
  });

  it("a wrong password is an auth error that does not carry the password", async () => {
    const reg = client(secure, { username: alice.username, password: "wrong-password-123" });
    const err = await rejection(reg.headManifest("system/deckhouse", "index"));
    expect(err.kind).toBe("auth");
    expect(err.message).toBe(
      `HEAD manifest ${secure.hostPort}/system/deckhouse:index: authentication failed: credentials rejected (HTTP 401)`,
    );
    expect(JSON.stringify(err)).not.toContain("wrong-password-123");
  });

  it("no credentials → authentication required", async () => {
    const err = await rejection(client(secure).headManifest("system/deckhouse", "index"));
    expect(err.kind).toBe("auth");
    expect(err.message).toMatch(/authentication required and no credentials are configured/);
  });

  it("an unknown CA is a TLS error", async () => {
    const reg = new RegistryClient({ registry: secure.hostPort, ...alice });
    clients.push(reg);
    const err = await rejection(reg.headManifest("system/deckhouse", "index"));
    expect(err.kind).toBe("tls");
    expect(err.message).toMatch(/^HEAD manifest .*: TLS: .*(certificate|verify)/i);
  });

  it("a CA that is not PEM is refused when the client is made", () => {
    expect(() => new RegistryClient({ registry: "x.io", ca: "not a certificate" })).toThrow(
      /CA is not a valid PEM certificate/,
    );
  });
});

describe("Bearer tokens", () => {
  it("fetches one token per scope and reuses it across concurrent requests", async () => {
    const reg = client(tokenReg, { ...alice });
    const before = tokens.requests.length;
    const heads = await Promise.all(
      Array.from({ length: 20 }, () => reg.headManifest("system/deckhouse", "oci")),
    );
    expect(new Set(heads.map(h => h.digest))).toEqual(new Set([pushed.tokenOci]));
    const issued = tokens.requests.slice(before);
    expect(issued).toEqual([
      {
        service: "oci-test",
        scopes: ["repository:system/deckhouse:pull"],
        user: "alice",
        status: 200,
      },
    ]);
  });

  it("pushes with a pull,push token and reads the tag list", async () => {
    const reg = client(tokenReg, { ...alice });
    const m = await reg.getManifest("system/deckhouse", "oci");
    await reg.putManifest("system/deckhouse", "again", m.bytes, m.mediaType);
    expect(await reg.listTags("system/deckhouse")).toEqual(["again", "oci"]);
    expect(
      tokens.requests.some(r => r.scopes.includes("repository:system/deckhouse:pull,push")),
    ).toBe(true);
  });

  it("wrong credentials: the token server's refusal, without the password", async () => {
    const reg = client(tokenReg, { username: "alice", password: "not-her-password" });
    const err = await rejection(reg.headManifest("system/deckhouse", "oci"));
    expect(err.kind).toBe("auth");
    expect(err.message).toMatch(
      /^HEAD manifest .*system\/deckhouse:oci: authentication failed: the token server refused the credentials \(401/,
    );
    expect(err.message).not.toContain("not-her-password");
  });

  it("anonymous: a token without access, so the registry refuses", async () => {
    const err = await rejection(client(tokenReg).headManifest("system/deckhouse", "oci"));
    expect(err.kind).toBe("auth");
    expect(err.message).toMatch(/authentication required \(HTTP 401/);
  });
});

describe("unreachable registries", () => {
  it("a peer that never answers is a timeout within the per-request limit", async () => {
    const hole = await startBlackhole();
    const reg = new RegistryClient({ registry: hole.hostPort, scheme: "http", timeoutMs: 300 });
    clients.push(reg);
    const started = Date.now();
    const err = await rejection(reg.headManifest("system/deckhouse", "v1"));
    expect(err.kind).toBe("timeout");
    expect(err.message).toMatch(/^HEAD manifest .*: request timeout/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("the caller's deadline aborts a request in flight", async () => {
    const hole = await startBlackhole();
    const reg = client({ ...plain, hostPort: hole.hostPort, scheme: "http" } as Registry);
    const err = await rejection(
      reg.headManifest("system/deckhouse", "v1", { signal: AbortSignal.timeout(200) }),
    );
    expect(err.kind).toBe("timeout");
    expect(err.message).toMatch(/request timeout \(deadline passed\)/);
  });

  it("a closed port is a network error", async () => {
    const port = await closedPort();
    const err = await rejection(
      client({ ...plain, hostPort: `127.0.0.1:${port}`, scheme: "http" } as Registry).ping(),
    );
    expect(err.kind).toBe("network");
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it("HTTPS to a plain-HTTP registry is a TLS error", async () => {
    const err = await rejection(client({ ...plain, scheme: "https" } as Registry).ping());
    expect(err.kind).toBe("tls");
  });
});
