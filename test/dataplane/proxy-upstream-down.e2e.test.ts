// Proxy mode with the upstream stopped (issue 11's fault): real distribution 2.8 as the cache, the
// gateway as its bundled program, real nginx in front, a real TLS + htpasswd upstream the test
// stops and starts again. A cached image still pulls; a manifest (by digest or tag) or blob never
// cached answers 503 UNAVAILABLE naming the upstream and the cause, in the body and in the status line (the only
// text containerd prints for a failed manifest HEAD), on the nginx path and on the gateway's own
// listener; once the upstream is back, the same read succeeds (docs/adr/0160).
import { access } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createLab,
  issueServerCert,
  type Lab,
  type OciLayout,
  pushImage,
  type Registry,
  requireTools,
  skopeoCopyToDir,
  startRegistry,
  until,
  writeOciLayout,
} from "../e2e-lab";
import { type Containerd, startContainerd, writeHostsToml } from "./support/containerd";
import { https, type RawResponse } from "./support/gateway";
import {
  type GatewayStack,
  stackFixtures,
  startStack,
  type StackFixtures,
  UPSTREAM_USER,
} from "./support/stacks";

let lab: Lab;
let f: StackFixtures;
let s: GatewayStack;
let uncached: OciLayout;
let containerd: Containerd;
/** the module's fixed registry name, mirrored to nginx as on a node */
const SVC = "registry.d8-system.svc:5001";
const REPO = "/v2/system/deckhouse";
const ACCEPT =
  "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
  "application/vnd.docker.distribution.manifest.v2+json";

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl", "htpasswd", "nginx");
  lab = await createLab("proxy-upstream-down");
  f = await stackFixtures(lab);
  s = await startStack(f, "proxy");
  uncached = await writeOciLayout(lab.path("uncached"), { seed: "never-cached", tags: ["v2"] });
  await pushImage(uncached, s.upstream!, "deckhouse/ee", {
    creds: { username: UPSTREAM_USER.name, password: UPSTREAM_USER.password },
  });
  containerd = await startContainerd(lab.path("ctrd"));
  await writeHostsToml(lab.path("hosts"), SVC, {
    url: s.base,
    caFile: f.moduleCa.cert,
    username: s.ro.name,
    password: s.ro.password,
  });
}, 180_000);

afterAll(async () => {
  await lab?.close();
});

const ctrPull = (ref: string) =>
  containerd.ctr("-n", "down", "images", "pull", "--hosts-dir", lab.path("hosts"), ref);
const creds = () => `${s.ro.name}:${s.ro.password}`;
/** Through nginx, as every node pulls. */
const viaNginx = (path: string, method = "GET"): Promise<RawResponse> =>
  https(`${s.base}${path}`, { ca: s.ca, method, auth: creds(), headers: { accept: ACCEPT } });
/** The gateway's own listener, without nginx (plain HTTP behind it). */
async function viaGateway(path: string, method = "GET") {
  const r = await fetch(`http://${s.gateway}${path}`, {
    method,
    headers: {
      accept: ACCEPT,
      authorization: `Basic ${Buffer.from(creds()).toString("base64")}`,
    },
  });
  return {
    status: r.status,
    statusMessage: r.statusText,
    body: Buffer.from(await r.arrayBuffer()),
  };
}

/** The upstream again, on its address with its storage; `password` is the one it accepts. */
async function startUpstream(upstream: Registry, password: string): Promise<Registry> {
  return startRegistry({
    dir: lab.path(`upstream-${password}`),
    port: upstream.port,
    storageDir: upstream.storageDir,
    tls: await issueServerCert(f.upstreamCa, "upstream-proxy"),
    htpasswd: { [UPSTREAM_USER.name]: password },
  });
}

const DOWN = /^upstream registry 127\.0\.0\.1:\d+ is unavailable: .+/;

function expectUpstreamDown(
  r: { status: number; statusMessage: string; body: Buffer },
  head: boolean,
) {
  expect(r.status).toBe(503);
  expect(r.statusMessage).toMatch(DOWN);
  if (head) return;
  const doc = JSON.parse(r.body.toString("utf8")) as {
    errors: Array<{ code: string; message: string }>;
  };
  expect(doc.errors).toHaveLength(1);
  expect(doc.errors[0]!.code).toBe("UNAVAILABLE");
  expect(doc.errors[0]!.message).toMatch(DOWN);
  expect(doc.errors[0]!.message).toBe(r.statusMessage);
  // never the credentials of the upstream or of the listener
  expect(r.body.toString()).not.toContain(UPSTREAM_USER.password);
  expect(r.body.toString()).not.toContain("listener-secret");
}

describe("Proxy mode, upstream stopped and started again", () => {
  it("cached image pulls, an uncached manifest, tag or blob is a clear 503, and the same read recovers", async () => {
    // cache v1 as a node would: a full pull through nginx
    await skopeoCopyToDir(lab, `${s.hostPort}/system/deckhouse:v1`, lab.path("pull/v1"), {
      caPem: s.ca,
      creds: creds(),
    });
    const layers = join(
      s.distribution!.storageDir,
      "docker/registry/v2/repositories/system/deckhouse/_layers/sha256",
    );
    const blobs = [...s.image.blobs.keys()].filter(d => d !== s.image.digest);
    await until(
      "distribution caches v1's blobs",
      async () => {
        for (const d of blobs) await access(join(layers, d.replace("sha256:", ""), "link"));
        return true;
      },
      { timeoutMs: 60_000, retryErrors: true },
    );

    const upstream = s.upstream!;
    await upstream.stop();

    expect((await viaNginx(`${REPO}/manifests/v1`)).status).toBe(200);
    expect((await viaNginx(`${REPO}/manifests/${s.image.digest}`)).status).toBe(200);
    for (const d of blobs) expect((await viaNginx(`${REPO}/blobs/${d}`)).status).toBe(200);

    const never = `${REPO}/manifests/${uncached.digest}`;
    expectUpstreamDown(await viaNginx(never), false);
    expectUpstreamDown(await viaNginx(never, "HEAD"), true);
    expectUpstreamDown(await viaGateway(never), false);
    expectUpstreamDown(await viaGateway(never, "HEAD"), true);
    // a blob never cached: from the storage location's fallback to distribution, and directly
    const layer = [...uncached.blobs.keys()].find(d => d !== uncached.digest) as string;
    expectUpstreamDown(await viaNginx(`${REPO}/blobs/${layer}`), false);
    expectUpstreamDown(await viaGateway(`${REPO}/blobs/${layer}`), false);
    // a tag never cached: distribution asks the upstream, then falls back to its own tags and
    // answers 404, which would read as "no such image" while nobody could know
    const neverTag = `${REPO}/manifests/v2`;
    expectUpstreamDown(await viaNginx(neverTag), false);
    expectUpstreamDown(await viaNginx(neverTag, "HEAD"), true);
    expectUpstreamDown(await viaGateway(neverTag), false);
    expectUpstreamDown(await viaGateway(neverTag, "HEAD"), true);

    // containerd 1.6 resolves with a HEAD and prints only its status line: the cause is in it
    await ctrPull(`${SVC}/system/deckhouse:v1`);
    const failed = await ctrPull(`${SVC}/system/deckhouse@${uncached.digest}`).catch(
      (e: Error) => e,
    );
    expect(failed).toBeInstanceOf(Error);
    expect(String((failed as Error).message)).toMatch(
      /failed with status code .*: 503 upstream registry 127\.0\.0\.1:\d+ is unavailable: /,
    );
    const failedTag = await ctrPull(`${SVC}/system/deckhouse:v2`).catch((e: Error) => e);
    expect(failedTag).toBeInstanceOf(Error);
    expect(String((failedTag as Error).message)).toMatch(
      /failed with status code .*: 503 upstream registry 127\.0\.0\.1:\d+ is unavailable: /,
    );

    // an upstream that answers, but refuses the gateway's credentials, is not "unavailable":
    // distribution's 500 for it stays what it is
    const refusing = await startUpstream(upstream, "rotated-elsewhere");
    for (const r of [await viaNginx(never), await viaGateway(never)]) {
      expect(r.status).toBe(500);
      expect(r.body.toString()).not.toMatch(/unavailable/);
    }
    for (const r of [await viaNginx(neverTag), await viaGateway(neverTag)]) {
      expect(r.status).toBe(404);
      expect(r.body.toString()).not.toMatch(/unavailable/);
    }
    await refusing.stop();

    // the upstream returns on the same address with the same storage
    await startUpstream(upstream, UPSTREAM_USER.password);
    const back = await viaNginx(never);
    expect(back.status).toBe(200);
    expect(back.body.length).toBe(uncached.size);
    expect((await viaGateway(never, "HEAD")).status).toBe(200);
    await ctrPull(`${SVC}/system/deckhouse@${uncached.digest}`);
    expect((await viaNginx(neverTag, "HEAD")).status).toBe(200);
    expect((await viaGateway(neverTag)).status).toBe(200);
    // a tag the upstream does not have is not found, as before: the upstream answered
    for (const r of [
      await viaNginx(`${REPO}/manifests/v9`),
      await viaGateway(`${REPO}/manifests/v9`),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body.toString()).toMatch(/MANIFEST_UNKNOWN/);
    }
  });
});
