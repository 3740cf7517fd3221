// The lab itself: real registries come up in each auth/TLS flavour, images pushed by skopeo read
// back with the digests the layout promised, and everything started is stopped again.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCa,
  createLab,
  createTokenSigner,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  issueServerCert,
  liveProcesses,
  MissingToolError,
  OCI_INDEX,
  OCI_MANIFEST,
  pushImage,
  requireTools,
  run,
  spawnProcess,
  startBlackhole,
  startLatencyProxy,
  startRegistry,
  startTokenServer,
  writeOciLayout,
  type CertificateAuthority,
  type Lab,
  type Registry,
  type TokenServer,
} from ".";

let lab: Lab;
let ca: CertificateAuthority;
let plain: Registry;
let secure: Registry;
let tokenReg: Registry;
let tokens: TokenServer;
const alice = { username: "alice", password: "wonder land" };

beforeAll(async () => {
  lab = await createLab("lab");
  ca = await createCa(lab.path("pki"));
  const signer = await createTokenSigner(lab.path("pki"));
  tokens = await startTokenServer({ signer, users: { [alice.username]: alice.password } });
  [plain, secure, tokenReg] = await Promise.all([
    startRegistry({ dir: lab.path("plain"), host: "127.0.0.2" }),
    startRegistry({
      dir: lab.path("secure"),
      tls: await issueServerCert(ca, "secure"),
      htpasswd: { [alice.username]: alice.password },
    }),
    startRegistry({ dir: lab.path("token"), tokenAuth: tokens.registryAuth("e2e-lab") }),
  ]);
});

afterAll(async () => {
  await lab?.close();
});

/** skopeo's view of a tag: raw manifest and digest, trusting the lab CA. */
async function inspect(reg: Registry, ref: string, creds?: typeof alice) {
  const args = ["inspect", "--raw"];
  if (creds) args.push("--creds", `${creds.username}:${creds.password}`);
  if (reg.scheme === "https") args.push("--cert-dir", await certDir(reg));
  else args.push("--tls-verify=false");
  const { stdout } = await run("skopeo", [...args, `docker://${reg.hostPort}/${ref}`]);
  return {
    manifest: JSON.parse(stdout) as { mediaType?: string; manifests?: unknown[] },
    digest: `sha256:${createHash("sha256").update(stdout).digest("hex")}`,
  };
}

async function certDir(reg: Registry): Promise<string> {
  const dir = lab.path("certs", reg.name);
  await run("mkdir", ["-p", dir]);
  await run("cp", [ca.cert, join(dir, "ca.crt")]);
  return dir;
}

describe("images", () => {
  it("writes deterministic layouts: same spec, same digests; shared base layers are one blob", async () => {
    const base = { seed: "base", payloadBytes: 4096 };
    const a1 = await writeOciLayout(lab.path("img", "a1"), { seed: "a", baseLayers: [base] });
    const a2 = await writeOciLayout(lab.path("img", "a2"), { seed: "a", baseLayers: [base] });
    const b = await writeOciLayout(lab.path("img", "b"), { seed: "b", baseLayers: [base] });
    expect(a2.digest).toBe(a1.digest);
    expect(b.digest).not.toBe(a1.digest);
    const shared = [...a1.blobs.keys()].filter(d => b.blobs.has(d));
    expect(shared).toHaveLength(1); // the base layer; configs and own layers differ
    const onDisk = await readFile(join(a1.dir, "blobs", "sha256", a1.digest.slice(7)));
    expect(`sha256:${createHash("sha256").update(onDisk).digest("hex")}`).toBe(a1.digest);
    const { stdout } = await run("skopeo", ["inspect", "--raw", `oci:${a1.dir}:latest`]);
    expect(JSON.parse(stdout).layers).toHaveLength(2);
  });

  it("pushes a single manifest over plain HTTP on 127.0.0.2 and the registry serves its digest", async () => {
    const img = await writeOciLayout(lab.path("img", "single"), { seed: "s", tags: ["v1", "v2"] });
    expect(img.mediaType).toBe(OCI_MANIFEST);
    const pushed = await pushImage(img, plain, "system/deckhouse", { sourceTag: "v2" });
    expect(pushed.digest).toBe(img.digest);
    expect(plain.hostPort).toMatch(/^127\.0\.0\.2:\d+$/);
    const seen = await inspect(plain, "system/deckhouse:v2");
    expect(seen.digest).toBe(img.digest);
    const puts = plain
      .accessLog()
      .filter(e => e.method === "PUT" && e.path.includes("/manifests/"));
    expect(puts).toEqual([expect.objectContaining({ status: 201 })]);
  });

  it("pushes a multi-arch index over HTTPS + htpasswd, and converts it to a v2s2 list", async () => {
    const img = await writeOciLayout(lab.path("img", "multi"), {
      seed: "m",
      platforms: ["linux/amd64", "linux/arm64/v8"],
      tags: ["v1"],
    });
    expect(img.mediaType).toBe(OCI_INDEX);
    const oci = await pushImage(img, secure, "multi", { creds: alice });
    expect(oci.digest).toBe(img.digest);
    const seen = await inspect(secure, "multi:v1", alice);
    expect(seen.manifest.mediaType).toBe(OCI_INDEX);
    expect(seen.manifest.manifests).toHaveLength(2);
    const docker = await pushImage(img, secure, "multi", {
      creds: alice,
      tag: "v2s2",
      format: "v2s2",
    });
    const list = await inspect(secure, "multi:v2s2", alice);
    expect(list.manifest.mediaType).toBe(DOCKER_MANIFEST_LIST);
    expect(list.digest).toBe(docker.digest);
  });

  it("refuses a client that does not trust the lab CA or has no credentials", async () => {
    const args = ["inspect", "--raw", `docker://${secure.hostPort}/multi:v1`];
    await expect(run("skopeo", [...args, "--creds", "alice:wonder land"])).rejects.toThrow(
      /certificate signed by unknown authority/,
    );
    await expect(run("skopeo", [...args, "--cert-dir", await certDir(secure)])).rejects.toThrow(
      /unauthorized|authentication required/i,
    );
  });
});

describe("token server", () => {
  it("issues tokens distribution accepts; wrong passwords get 401", async () => {
    const img = await writeOciLayout(lab.path("img", "tok"), { seed: "t", tags: ["v1"] });
    const pushed = await pushImage(img, tokenReg, "system/deckhouse", {
      creds: alice,
      format: "v2s2",
    });
    const seen = await inspect(tokenReg, "system/deckhouse:v1", alice);
    expect(seen.manifest.mediaType).toBe(DOCKER_MANIFEST);
    expect(seen.digest).toBe(pushed.digest);
    expect(tokens.requests).toContainEqual({
      service: "e2e-lab",
      scopes: ["repository:system/deckhouse:pull,push"],
      user: "alice",
      status: 200,
    });
    await expect(
      inspect(tokenReg, "system/deckhouse:v1", { username: "alice", password: "nope" }),
    ).rejects.toThrow(/invalid username\/password|unauthorized/i);
    expect(tokens.requests.at(-1)?.status).toBe(401);
  });

  it("a pull-through proxy in front of the token registry serves its images", async () => {
    const img = await writeOciLayout(lab.path("img", "proxied"), { seed: "p", tags: ["v1"] });
    const pushed = await pushImage(img, tokenReg, "proxied/image", { creds: alice });
    const proxy = await startRegistry({
      dir: lab.path("proxy"),
      proxy: { remoteUrl: tokenReg.url, ...alice },
    });
    const seen = await inspect(proxy, "proxied/image:v1");
    expect(seen.digest).toBe(pushed.digest);
    expect(tokenReg.accessLog().some(e => e.path === "/v2/proxied/image/manifests/v1")).toBe(true);
    await proxy.stop();
  });

  it("the registry challenges with the server's realm", async () => {
    const res = await fetch(`${tokenReg.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(
      `Bearer realm="${tokens.realm}",service="e2e-lab"`,
    );
  });
});

/** Running, as opposed to gone or a zombie waiting for init to reap it. */
function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}/stat`)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("processes and network", () => {
  it("a missing tool fails with the apt-get line that installs it", () => {
    expect(() => requireTools("sh", "no-such-tool-e2e")).toThrow(MissingToolError);
    expect(() => requireTools("htpasswd", "no-such-tool-e2e")).toThrow(
      "no-such-tool-e2e is not installed (not on PATH): apt-get install -y no-such-tool-e2e",
    );
  });

  it("stop() ends the whole process group, children included", async () => {
    const pidFile = lab.path("grandchild.pid");
    const p = spawnProcess("sh", "sh", [
      "-c",
      `sleep 30 & echo $! > ${pidFile}; echo started; wait`,
    ]);
    await p.waitForLine(/started/);
    const grandchild = Number(await readFile(pidFile, "utf8"));
    expect(liveProcesses()).toContain(p);
    await p.stop();
    expect(p.running).toBe(false);
    expect(liveProcesses()).not.toContain(p);
    await expect.poll(() => alive(grandchild), { timeout: 2_000 }).toBe(false);
  });

  it("waitForLine rejects with the output tail when the process exits first", async () => {
    const p = spawnProcess("false", "sh", ["-c", "echo boom >&2; exit 3"]);
    await expect(p.waitForLine(/never/)).rejects.toThrow(/false exited before .*\n.*boom/s);
    expect(await p.exited).toBe(3);
  });

  it("a latency proxy delays each direction and relays the registry untouched", async () => {
    const wan = await startLatencyProxy({ target: plain.hostPort, oneWayMs: 25 });
    const started = performance.now();
    const res = await fetch(`http://${wan.hostPort}/v2/`);
    const ms = performance.now() - started;
    expect(res.status).toBe(200);
    expect(ms).toBeGreaterThanOrEqual(50);
    expect(wan.connections).toBe(1);
    await wan.stop();
  });

  it("a quiet registry (no per-request logs) still starts and serves", async () => {
    const quiet = await startRegistry({ dir: lab.path("quiet"), quiet: true });
    expect((await fetch(`${quiet.url}/v2/`)).status).toBe(200);
    expect(quiet.accessLog()).toEqual([]);
    await quiet.stop();
  });

  it("a black hole accepts connections and never answers", async () => {
    const hole = await startBlackhole("127.0.0.3");
    const socket = connect(hole.port, hole.host);
    await new Promise<void>(resolve => socket.once("connect", () => resolve()));
    socket.write("GET /v2/ HTTP/1.1\r\nhost: x\r\n\r\n");
    const answered = await Promise.race([
      new Promise(resolve => socket.once("data", () => resolve(true))),
      new Promise(resolve => setTimeout(() => resolve(false), 200)),
    ]);
    expect(answered).toBe(false);
    expect(hole.connections).toBe(1);
    socket.destroy();
    await hole.stop();
  });
});
