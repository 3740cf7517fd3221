// Hostile clients against the running gateway of each mode (issue 15): requests no honest client
// sends must end in a 4xx and leave the gateway serving everyone else. Real distribution 2.8 behind
// (and, for Proxy and Direct, a TLS + htpasswd upstream), the gateway as its bundled program.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab, requireTools } from "../e2e-lab";
import { https } from "./support/gateway";
import type { Socket } from "node:net";
import { basicAuth, openSocket, rawExchange } from "./support/raw";
import { type GatewayStack, stackFixtures, startStack, type StackFixtures } from "./support/stacks";

let lab: Lab;
const stacks: Partial<Record<"local" | "proxy" | "direct", GatewayStack>> = {};
const stack = (mode: "local" | "proxy" | "direct"): GatewayStack => {
  const s = stacks[mode];
  if (!s) throw new Error(`stack ${mode} did not start`);
  return s;
};

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl", "htpasswd");
  lab = await createLab("hostile");
  const f: StackFixtures = await stackFixtures(lab);
  for (const mode of ["local", "proxy", "direct"] as const)
    stacks[mode] = await startStack(f, mode);
}, 180_000);

afterAll(async () => {
  await lab?.close();
});

const MODES = ["local", "proxy", "direct"] as const;
const MANIFEST = "/v2/system/deckhouse/manifests/v1";

/** The legitimate client: ro pulls the manifest. */
async function pullsManifest(s: GatewayStack): Promise<number> {
  const r = await https(`${s.base}${MANIFEST}`, {
    ca: s.ca,
    auth: `${s.ro.name}:${s.ro.password}`,
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  return r.status;
}

describe("request targets the URL parser rejects end in 400 (defect 1: crashed the process)", () => {
  const targets = ["http://[", "//[", "http://a:99999/", "http://[::1/v2/", "//a:65536/v2/"];
  for (const mode of MODES) {
    it(`${mode}: client listener answers 400 to each and keeps serving`, async () => {
      const s = stack(mode);
      for (const target of targets) {
        const a = await rawExchange(
          { base: s.base, ca: s.ca },
          `GET ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: ${basicAuth(s.ro.name, s.ro.password)}\r\n\r\n`,
        );
        expect(a.status, `${mode} ${target}: ${a.text}`).toBeGreaterThanOrEqual(400);
        expect(a.status, `${mode} ${target}`).toBeLessThan(500);
        expect(s.proc.running, `${mode} gateway died on ${target}:\n${s.proc.tail()}`).toBe(true);
      }
      expect(await pullsManifest(s)).toBe(200);
    });
  }

  it("proxy: the upstream listener answers 400 too, unauthenticated", async () => {
    const s = stack("proxy");
    for (const target of targets) {
      const a = await rawExchange(
        { base: s.upstreamListener as string },
        `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`,
      );
      expect(a.status, `${target}: ${a.text}`).toBeGreaterThanOrEqual(400);
      expect(a.status, target).toBeLessThan(500);
      expect(s.proc.running, `gateway died on ${target}:\n${s.proc.tail()}`).toBe(true);
    }
    expect(await pullsManifest(s)).toBe(200);
  });

  it("the monitoring listener answers 400 too", async () => {
    const s = stack("local");
    const a = await rawExchange({ base: s.monitoring }, `GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(a.status, a.text).toBe(400);
    expect(s.proc.running).toBe(true);
  });
});

describe("GET, HEAD and DELETE with a declared body (defect 2: held a socket to distribution for ever)", () => {
  for (const mode of ["local", "proxy"] as const) {
    it(`${mode}: answered without waiting for a body that never comes`, async () => {
      const s = stack(mode);
      const auth = basicAuth(s.ro.name, s.ro.password);
      for (const method of ["GET", "HEAD", "DELETE"]) {
        const a = await rawExchange(
          { base: s.base, ca: s.ca },
          `${method} ${MANIFEST} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n` +
            `Accept: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 5\r\n\r\n`,
          15_000,
        );
        expect(a.status, `${mode} ${method} got no answer within 15 s: ${a.text}`).toBeDefined();
      }
    });
  }
});

describe("forwarded headers (defect 7)", () => {
  it("local: a client's X-Forwarded-Host and X-Forwarded-For never reach distribution", async () => {
    const s = stack("local");
    const dist = s.distribution;
    if (!dist) throw new Error("no distribution");
    const mark = dist.process.lines.length;
    const r = await https(`${s.base}/v2/system/deckhouse/blobs/uploads/`, {
      ca: s.ca,
      method: "POST",
      auth: `${s.rw.name}:${s.rw.password}`,
      headers: { "x-forwarded-host": "evil.example:666", "x-forwarded-for": "6.6.6.6" },
      body: "",
    });
    expect(r.status).toBe(202);
    // distribution builds the upload Location from X-Forwarded-Host when it is present
    expect(String(r.headers.location)).not.toContain("evil.example");
    const logged = dist.process.lines.slice(mark).join("\n");
    expect(logged).not.toContain("6.6.6.6");
    expect(logged).toContain("127.0.0.1");
  });
});

describe("writes in modes that store nothing (defect 9: only the ACL's 403 was ever seen)", () => {
  for (const mode of ["proxy", "direct"] as const) {
    it(`${mode}: an rw user's upload and manifest PUT are refused with 405 UNSUPPORTED by the gateway itself`, async () => {
      const s = stack(mode);
      const seen = s.distribution?.accessLog().length ?? 0;
      for (const [method, path] of [
        ["POST", "/v2/system/deckhouse/blobs/uploads/"],
        ["PUT", "/v2/system/deckhouse/manifests/v9"],
        ["DELETE", `/v2/system/deckhouse/manifests/${s.image.digest}`],
      ] as const) {
        const r = await https(`${s.base}${path}`, {
          ca: s.ca,
          method,
          auth: `${s.rw.name}:${s.rw.password}`,
          body: "",
        });
        expect(r.status, `${mode} ${method} ${path}`).toBe(405);
        expect(JSON.parse(r.body.toString()).errors[0].code).toBe("UNSUPPORTED");
      }
      // refused at the gateway: distribution never saw them
      const after = s.distribution?.accessLog().slice(seen) ?? [];
      expect(after.filter(e => e.method !== "GET" && e.method !== "HEAD")).toEqual([]);
    });
  }
});

describe("Direct protocol details (defect 6)", () => {
  const tagsUrl = (s: GatewayStack, q = "") => `${s.base}/v2/system/deckhouse/tags/list${q}`;

  it("tags/list?n=0 answers an empty page without a Link back to itself", async () => {
    const s = stack("direct");
    const r = await https(tagsUrl(s, "?n=0"), { ca: s.ca, auth: `${s.ro.name}:${s.ro.password}` });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ name: "system/deckhouse", tags: [] });
    expect(r.headers.link).toBeUndefined();
  });

  it("HEAD tags/list has the Content-Length of the GET body (name rewritten in both)", async () => {
    const s = stack("direct");
    const auth = `${s.ro.name}:${s.ro.password}`;
    const get = await https(tagsUrl(s), { ca: s.ca, auth });
    const head = await https(tagsUrl(s), { ca: s.ca, auth, method: "HEAD" });
    expect(JSON.parse(get.body.toString()).name).toBe("system/deckhouse");
    expect(head.status).toBe(200);
    expect(Number(head.headers["content-length"])).toBe(get.body.length);
  });

  it("a Range past the end of a blob is 416, not 502", async () => {
    const s = stack("direct");
    // the largest blob is a layer, never a manifest
    const [layer, size] = [...s.image.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const r = await https(`${s.base}/v2/system/deckhouse/blobs/${layer}`, {
      ca: s.ca,
      auth: `${s.ro.name}:${s.ro.password}`,
      headers: { range: `bytes=${size + 10}-` },
    });
    expect(r.status).toBe(416);
    expect(await pullsManifest(s)).toBe(200);
  });
});

describe("readiness while distribution's connections are all taken (defect 2)", () => {
  it("local: /readyz still answers with 260 upload chunks trickling their bodies", async () => {
    const s = stack("local");
    const auth = `${s.rw.name}:${s.rw.password}`;
    const held: Socket[] = [];
    try {
      const sessions: URL[] = [];
      for (let i = 0; i < 260; i++) {
        const started = await https(`${s.base}/v2/system/deckhouse/blobs/uploads/`, {
          ca: s.ca,
          method: "POST",
          auth,
          body: "",
        });
        sessions.push(new URL(String(started.headers.location), s.base));
      }
      for (const location of sessions) {
        const sock = await openSocket({ base: s.base, ca: s.ca });
        sock.on("error", () => undefined);
        // a chunk that announces 1 MB and sends 10 bytes: distribution reads it as it comes,
        // holding its connection for as long as the client likes
        sock.write(
          `PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: x\r\n` +
            `Authorization: ${basicAuth(s.rw.name, s.rw.password)}\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: 1000000\r\n\r\n0123456789`,
        );
        held.push(sock);
      }
      await new Promise(r => setTimeout(r, 1_000));
      const deadline = new Promise<number>(r => setTimeout(() => r(-1), 15_000).unref());
      const ready = fetch(`${s.monitoring}/readyz`).then(r => r.status);
      expect(await Promise.race([ready, deadline])).toBe(200);
    } finally {
      for (const sock of held) sock.destroy();
    }
  }, 120_000);
});
