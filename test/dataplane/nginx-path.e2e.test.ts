// The blob data path (docs/adr/0110): real nginx with the config the nodeservices-manager renders,
// in front of the bundled gateway (behind it on loopback) and real distribution 2.8. Blob and
// manifest reads are streamed by nginx once the gateway's verdict allows them; every refusal is the gateway's
// own answer, counted once; everything else is the gateway's.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { connect } from "node:tls";
import { join } from "node:path";
import {
  createLab,
  type Lab,
  pushImage,
  type Registry,
  requireTools,
  writeOciLayout,
} from "../e2e-lab";
import { https } from "./support/gateway";
import { type GatewayStack, stackFixtures, startStack, type StackFixtures } from "./support/stacks";

let lab: Lab;
let local: GatewayStack;
let proxy: GatewayStack;

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl", "htpasswd", "nginx");
  lab = await createLab("nginx-path");
  const f: StackFixtures = await stackFixtures(lab);
  local = await startStack(f, "local", { payloadBytes: 1_000_000 });
  proxy = await startStack(f, "proxy", { payloadBytes: 1_000_000 });
}, 180_000);

afterAll(async () => {
  await lab?.close();
});

/** The largest blob of the stack's image (its layer). */
const layer = (s: GatewayStack): string =>
  ([...s.image.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number])[0];

/** Sum of a counter's samples whose labels include every `label="value"` given. */
async function counter(s: GatewayStack, name: string, labels: string[]): Promise<number> {
  const text = await (await fetch(`${s.monitoring}/metrics`)).text();
  return text
    .split("\n")
    .filter(l => l.startsWith(`${name}{`) && labels.every(x => l.includes(x)))
    .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
}

const blobAnswers = (s: GatewayStack, code: string) =>
  counter(s, "registry_gateway_requests_total", [
    'listener="client"',
    'route="blob"',
    `code="${code}"`,
  ]);

describe("blob reads go through nginx, not through the gateway", () => {
  for (const mode of ["local", "proxy"] as const) {
    it(`${mode}: ro GETs a blob whole and a Range of it; the gateway answered only verdicts`, async () => {
      const s = mode === "local" ? local : proxy;
      const digest = layer(s);
      const path = `${s.base}/v2/system/deckhouse/blobs/${digest}`;
      const auth = `${s.ro.name}:${s.ro.password}`;
      const verdictsBefore = await blobAnswers(s, "204");
      const whole = await https(path, { ca: s.ca, auth });
      expect(whole.status).toBe(200);
      expect(`sha256:${createHash("sha256").update(whole.body).digest("hex")}`).toBe(digest);
      // Proxy: until distribution has committed the blob it fetched, it streams it whole and
      // ignores Range (as it did behind the gateway alone); wait for the cached copy
      let range = await https(path, { ca: s.ca, auth, headers: { range: "bytes=0-9" } });
      for (let i = 0; mode === "proxy" && range.status === 200 && i < 50; i++) {
        await new Promise(r => setTimeout(r, 200));
        range = await https(path, { ca: s.ca, auth, headers: { range: "bytes=0-9" } });
      }
      expect(range.status).toBe(206);
      expect(range.body).toEqual(whole.body.subarray(0, 10));
      const head = await https(path, { ca: s.ca, auth, method: "HEAD" });
      expect(head.status).toBe(200);
      expect(Number(head.headers["content-length"])).toBe(whole.body.length);
      expect(await blobAnswers(s, "204")).toBeGreaterThanOrEqual(verdictsBefore + 3);
      // no blob was ever streamed by the gateway itself
      expect(await blobAnswers(s, "200")).toBe(0);
      expect(await blobAnswers(s, "206")).toBe(0);
      expect(s.nginx?.proc.running).toBe(true);
    });
  }
});

/** Headers of an answer but those nginx and distribution set each their own way (hop, date). */
const comparable = (headers: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(headers).filter(
      ([k]) => !["date", "server", "connection", "keep-alive"].includes(k),
    ),
  );

/** Waits for distribution to have committed `digest` and linked it into system/deckhouse. */
async function committed(s: GatewayStack, digest: string): Promise<void> {
  const hex = digest.slice("sha256:".length);
  const v2 = join((s.distribution as Registry).storageDir, "docker/registry/v2");
  const files = [
    join(v2, "repositories/system/deckhouse/_layers/sha256", hex, "link"),
    join(v2, "blobs/sha256", hex.slice(0, 2), hex, "data"),
  ];
  for (let i = 0; i < 100; i++) {
    if (files.every(f => existsSync(f))) return;
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`distribution never committed ${digest} into system/deckhouse`);
}

/** Requests distribution received for `path` (its access log). */
const distributionSaw = (s: GatewayStack, path: string) =>
  (s.distribution as Registry).accessLog().filter(e => e.path === path).length;

/**
 * distributionSaw once its log has been quiet for 300 ms: a log line reaches us through a pipe,
 * after the answer it belongs to, so a count taken right after a request may miss it (seen
 * once under load: the test's own direct read counted in the next round).
 */
async function quietlySaw(s: GatewayStack, path: string): Promise<number> {
  let last = distributionSaw(s, path);
  for (let quiet = 0, i = 0; quiet < 3 && i < 100; i++) {
    await new Promise(r => setTimeout(r, 100));
    const now = distributionSaw(s, path);
    quiet = now === last ? quiet + 1 : 0;
    last = now;
  }
  return last;
}

describe("committed blobs are served from distribution's storage (docs/adr/0136)", () => {
  for (const mode of ["local", "proxy"] as const) {
    it(`${mode}: GET and HEAD answer what distribution answers, without distribution`, async () => {
      const s = mode === "local" ? local : proxy;
      const digest = layer(s);
      const path = `/v2/system/deckhouse/blobs/${digest}`;
      const auth = `${s.ro.name}:${s.ro.password}`;
      // Proxy: the first read fills distribution's cache (the file is not there yet)
      expect((await https(`${s.base}${path}`, { ca: s.ca, auth })).status).toBe(200);
      await committed(s, digest);
      const direct = (s.distribution as Registry).url;
      for (const method of ["GET", "HEAD"]) {
        const seen = await quietlySaw(s, path);
        const viaNginx = await https(`${s.base}${path}`, { ca: s.ca, auth, method });
        expect(await quietlySaw(s, path)).toBe(seen);
        const fromDistribution = await fetch(`${direct}${path}`, { method });
        expect(viaNginx.status).toBe(200);
        expect(comparable(viaNginx.headers)).toEqual(
          comparable(Object.fromEntries(fromDistribution.headers)),
        );
        const body = Buffer.from(await fromDistribution.arrayBuffer());
        expect(viaNginx.body.equals(body)).toBe(true);
      }
    });
  }

  it("local: a Range keeps distribution's own 206", async () => {
    const s = local;
    const path = `/v2/system/deckhouse/blobs/${layer(s)}`;
    const range = { range: "bytes=10-19" };
    const viaNginx = await https(`${s.base}${path}`, {
      ca: s.ca,
      auth: `${s.ro.name}:${s.ro.password}`,
      headers: range,
    });
    const fromDistribution = await fetch(`${(s.distribution as Registry).url}${path}`, {
      headers: range,
    });
    expect(viaNginx.status).toBe(206);
    expect(comparable(viaNginx.headers)).toEqual(
      comparable(Object.fromEntries(fromDistribution.headers)),
    );
  });

  it("local: a blob in storage but not linked into the requested repository is 404 BLOB_UNKNOWN", async () => {
    const s = local;
    const other = await writeOciLayout(lab.path("elsewhere"), {
      seed: "linked-elsewhere",
      tags: ["v1"],
      payloadBytes: 50_000,
    });
    // pushed under another name, straight to distribution: its files are in the shared storage
    await pushImage(other, s.distribution as Registry, "system/elsewhere");
    const digest = ([...other.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number])[0];
    const hex = digest.slice("sha256:".length);
    const v2 = join((s.distribution as Registry).storageDir, "docker/registry/v2");
    expect(existsSync(join(v2, "blobs/sha256", hex.slice(0, 2), hex, "data"))).toBe(true);
    const path = `/v2/system/deckhouse/blobs/${digest}`;
    const viaNginx = await https(`${s.base}${path}`, {
      ca: s.ca,
      auth: `${s.ro.name}:${s.ro.password}`,
    });
    const fromDistribution = await fetch(`${(s.distribution as Registry).url}${path}`);
    expect(viaNginx.status).toBe(404);
    expect(fromDistribution.status).toBe(404);
    expect(JSON.parse(viaNginx.body.toString())).toEqual(await fromDistribution.json());
    expect(JSON.parse(viaNginx.body.toString()).errors[0].code).toBe("BLOB_UNKNOWN");
  });
});

describe("manifest reads go through nginx too", () => {
  for (const mode of ["local", "proxy"] as const) {
    it(`${mode}: ro GETs and HEADs the manifest by tag and by digest; the gateway answered only verdicts`, async () => {
      const s = mode === "local" ? local : proxy;
      const auth = `${s.ro.name}:${s.ro.password}`;
      const accept = { accept: "application/vnd.oci.image.manifest.v1+json" };
      const answers = (code: string) =>
        counter(s, "registry_gateway_requests_total", [
          'listener="client"',
          'route="manifest"',
          `code="${code}"`,
        ]);
      const verdictsBefore = await answers("204");
      const servedBefore = await answers("200");
      const byTag = await https(`${s.base}/v2/system/deckhouse/manifests/v1`, {
        ca: s.ca,
        auth,
        headers: accept,
      });
      expect(byTag.status).toBe(200);
      const digest = `sha256:${createHash("sha256").update(byTag.body).digest("hex")}`;
      expect(byTag.headers["docker-content-digest"]).toBe(digest);
      const byDigest = await https(`${s.base}/v2/system/deckhouse/manifests/${digest}`, {
        ca: s.ca,
        auth,
        method: "HEAD",
        headers: accept,
      });
      expect(byDigest.status).toBe(200);
      expect(await answers("204")).toBe(verdictsBefore + 2);
      expect(await answers("200")).toBe(servedBefore);
    });
  }

  it("anonymous manifest HEAD: 401 with one Basic challenge", async () => {
    const r = await https(`${local.base}/v2/system/deckhouse/manifests/v1`, {
      ca: local.ca,
      method: "HEAD",
    });
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toBe('Basic realm="Deckhouse registry"');
  });
});

describe("refusals are the gateway's own answers, counted once", () => {
  it("anonymous: 401 with the Basic challenge and the distribution error body", async () => {
    const s = local;
    const r = await https(`${s.base}/v2/system/deckhouse/blobs/${layer(s)}`, { ca: s.ca });
    expect(r.status).toBe(401);
    expect(r.headers["www-authenticate"]).toBe('Basic realm="Deckhouse registry"');
    expect(r.headers["docker-distribution-api-version"]).toBe("registry/2.0");
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe("UNAUTHORIZED");
  });

  it("a wrong password: 401, one authentication failure counted per request", async () => {
    const s = local;
    const before = await counter(s, "registry_gateway_authentications_total", [
      'result="bad-password"',
    ]);
    const r = await https(`${s.base}/v2/system/deckhouse/blobs/${layer(s)}`, {
      ca: s.ca,
      auth: `${s.ro.name}:not-the-password`,
    });
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe("UNAUTHORIZED");
    expect(
      await counter(s, "registry_gateway_authentications_total", ['result="bad-password"']),
    ).toBe(before + 1);
  });

  it("ro deleting a blob: 403 DENIED from the gateway (other methods bypass the verdict)", async () => {
    const s = local;
    const r = await https(`${s.base}/v2/system/deckhouse/blobs/${layer(s)}`, {
      ca: s.ca,
      auth: `${s.ro.name}:${s.ro.password}`,
      method: "DELETE",
    });
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe("DENIED");
  });

  it("proxy: a name outside system/deckhouse is 404 NAME_UNKNOWN, as without nginx", async () => {
    const s = proxy;
    const r = await https(`${s.base}/v2/other/blobs/${layer(s)}`, {
      ca: s.ca,
      auth: `${s.ro.name}:${s.ro.password}`,
    });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body.toString()).errors[0].code).toBe("NAME_UNKNOWN");
  });
});

describe("TLS as distribution negotiates it (docs/adr/0136)", () => {
  it("a client listing AES-256-GCM first (Node, OpenSSL) gets distribution's choice, AES-128-GCM", async () => {
    const [host, port] = local.hostPort.split(":") as [string, string];
    const cipher = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host, port: Number(port), ca: local.ca }, () => {
        resolve(socket.getCipher().standardName);
        socket.end();
      });
      socket.on("error", reject);
    });
    expect(cipher).toBe("TLS_AES_128_GCM_SHA256");
  });
});

describe("what nginx forwards", () => {
  it("a client's X-Registry-Verdict header never turns a request into a verdict", async () => {
    const s = local;
    const r = await https(`${s.base}/v2/system/deckhouse/manifests/v1`, {
      ca: s.ca,
      auth: `${s.ro.name}:${s.ro.password}`,
      headers: {
        "x-registry-verdict": "GET",
        accept: "application/vnd.oci.image.manifest.v1+json",
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.length).toBeGreaterThan(0);
  });

  it("the gateway sees the client's address, not nginx's, through X-Forwarded-For", async () => {
    const s = local;
    // a client at another loopback address guesses a password: the gateway's log names it
    await https(`${s.base}/v2/system/deckhouse/manifests/v1`, {
      ca: s.ca,
      auth: `${s.ro.name}:wrong-from-127.0.0.7`,
      localAddress: "127.0.0.7",
    });
    // (nginx's own address would be 127.0.0.1: the wait would time out)
    const line = await s.proc.waitForLine(/"msg":"authentication failed".*"remote":"127\.0\.0\.7"/);
    expect(line[0]).toContain('"user":"ro"');
  });
});
