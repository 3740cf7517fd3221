// How the sandbox fills Local mode's registries (./local-fill.ts), without the five nodes: the
// sandbox's generated release in an EE-like upstream (real distribution, TLS + Basic), the BUILT
// `registry-module mirror pull --tag` into a bundle, and `mirror push` as the `rw` user to a real
// distribution standing where a master's gateway stands (TLS by "the module's CA", htpasswd with
// `rw`), with the password and CA read from Secrets in a real lab API server — created only after
// the push has started, as a switch to Local creates them while a user is already waiting.
// Needs `npm run build` first (the CLI a user runs).
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCa,
  issueServerCert,
  manifestDigest,
  startRegistry,
  stopAll,
  type Registry,
} from "../e2e-lab";
import { run } from "../e2e-lab/process";
import { startControlPlane, type ControlPlane } from "../lab/control-plane";
import { LOCAL_PATH, MIRROR_CLI, pullBundle, pushBundle } from "./local-fill";
import { makeRelease, RELEASE_TAG, startUpstream, type Upstream } from "./sandbox";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const RW_PASSWORD = "sandbox-rw-pass-0123";

let dir: string;
let cp: ControlPlane;
let upstream: Upstream;
let gateway: Registry;
let moduleCaPem: string;
let release: Awaited<ReturnType<typeof makeRelease>>;

beforeAll(async () => {
  if (!existsSync(MIRROR_CLI)) throw new Error(`${MIRROR_CLI} is missing: run \`npm run build\``);
  dir = await mkdtemp(join(tmpdir(), "rsbx-fill-"));
  release = await makeRelease(join(dir, "release"), ["registryGateway", "registryDistribution"]);
  const ca = await createCa(join(dir, "pki-upstreams"), "sandbox upstreams CA");
  upstream = await startUpstream("ee", dir, "127.0.0.1", ca, release);
  const moduleCa = await createCa(join(dir, "pki-module"), "registry module CA");
  moduleCaPem = moduleCa.certPem;
  gateway = await startRegistry({
    dir: join(dir, "gateway"),
    tls: await issueServerCert(moduleCa, "gateway"),
    htpasswd: { rw: RW_PASSWORD },
  });
  cp = await startControlPlane({ dir: join(dir, "cp") });
  await cp.kubectl(["create", "namespace", "d8-system"]);
}, 180_000);

afterAll(async () => {
  await cp?.stop();
  await stopAll();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The manifest digest `ref` has in the gateway's registry (skopeo, trusting the module CA). */
async function digestAt(ref: string, creds: string): Promise<string> {
  const certDir = join(dir, "module-certs");
  await mkdir(certDir, { recursive: true });
  await writeFile(join(certDir, "ca.crt"), moduleCaPem);
  const { stdout } = await run("skopeo", [
    "inspect", "--raw", "--cert-dir", certDir, "--creds", creds, `docker://${ref}`,
  ]); // prettier-ignore
  return manifestDigest(stdout);
}

describe("filling Local's registries as a user does", () => {
  let bundle: string;

  it("mirror pull --tag brings the release and the module images its images_digests.json lists, not the uncached image", async () => {
    bundle = join(dir, "bundle");
    const pulled = await pullBundle(upstream, RELEASE_TAG, bundle);
    expect(pulled.stdout).toMatch(/^pulled 3 images into /);
    const index = JSON.parse(readFileSync(join(bundle, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const digests = index.manifests.map(m => m.digest).sort();
    expect(digests).toEqual(
      [release.platform.digest, ...release.modules.map(m => m.digest)].sort(),
    );
    expect(digests).not.toContain(release.uncached.digest);
  }, 120_000);

  it("mirror push waits for the rw user's Secret and the module CA, then fills the gateway's registry", async () => {
    const pushing = pushBundle(cp, gateway.hostPort, bundle, {
      timeoutMs: 90_000,
      caFile: join(dir, "module-ca.crt"),
    });
    // the switch creates them a while after the user started waiting
    await new Promise(r => setTimeout(r, 3_000));
    await cp.apply([
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "registry-user-rw", namespace: "d8-system" },
        type: "registry/user",
        data: { name: b64("rw"), password: b64(RW_PASSWORD), passwordHash: b64("unused") },
      },
      {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "registry-pki", namespace: "d8-system" },
        type: "registry/pki",
        data: { "ca.crt": b64(moduleCaPem) },
      },
    ]);
    const pushed = await pushing;
    expect(pushed.attempts).toBeGreaterThanOrEqual(1);
    expect(pushed.stdout).toMatch(/^pushed 3 images \(3 tags\) to /);
    const creds = `rw:${RW_PASSWORD}`;
    const at = `${gateway.hostPort}/${LOCAL_PATH}`;
    expect(await digestAt(`${at}:${RELEASE_TAG}`, creds)).toBe(release.platform.digest);
    for (const m of release.modules)
      expect(await digestAt(`${at}@${m.digest}`, creds)).toBe(m.digest);
  }, 150_000);
});
