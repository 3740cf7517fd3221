// mirror pull / push end to end against real distribution: a Basic-auth TLS source and a Bearer
// token source filled by skopeo (OCI manifests, a multi-arch index, Docker v2s2, shared layers, a
// blob above the monolithic limit, a module sub-repository), a bundle skopeo reads as an OCI
// layout, a push under system/deckhouse that skopeo inspects with identical digests, clear
// failures, and runs killed midway whose next run transfers only what was missing.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCa,
  createLab,
  createTokenSigner,
  issueServerCert,
  pushImage,
  requireTools,
  run,
  startLatencyProxy,
  startRegistry,
  startTokenServer,
  writeOciLayout,
  type CertificateAuthority,
  type Lab,
  type OciLayout,
  type Registry,
  manifestDigest,
  skopeoRawManifest,
} from "../e2e-lab";
import { RegistryClient } from "../../lib/oci/client";
import { startContainerd, writeHostsToml } from "../dataplane/support/containerd";
import {
  mirrorCli as cli,
  pullArgs,
  pushArgs,
  spawnMirrorCli,
  tagsAt as tagsAtRegistry,
} from "./cli";

/** The module's fixed registry name (containerd reaches the registry through hosts.toml). */
const SVC = "registry.d8-system.svc:5001";
const alice = { username: "alice", password: "source pass" };
const LICENSE = "lic-0123456789abcdef";
const rw = { username: "rw", password: "target-rw-pass" };

let lab: Lab;
let ca: CertificateAuthority;
let caFile: string;
let basicSrc: Registry;
let tokenSrc: Registry;
let target: Registry;
/** tag (or sub/repo:tag) → digest at the source */
const digests = new Map<string, string>();
let layouts: Record<"v1" | "multi" | "docker" | "big" | "mod", OciLayout>;

/** Tags of a target repository; a repository the registry does not know has none. */
/** Tags at the target (as rw). */
const tagsAt = (repository: string) =>
  tagsAtRegistry(target.hostPort, repository, { ca: ca.certPem, ...rw });

const creds = (u: { username: string; password: string }) => `${u.username}:${u.password}`;
/** The Basic-auth TLS source's repository, and how the CLI reaches it and the target. */
const basicRepo = () => `${basicSrc.hostPort}/deckhouse/ee`;
const asAlice = () => ({ creds: creds(alice), ca: caFile });
const asRw = () => ({ creds: creds(rw), ca: caFile });

/** The digest of a pushed manifest, as skopeo reads it from the target (as rw). */
const skopeoDigest = async (reference: string) =>
  manifestDigest(await skopeoRawManifest(lab, reference, { caPem: ca.certPem, creds: creds(rw) }));

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "htpasswd", "openssl", "containerd", "ctr");
  lab = await createLab("mirror");
  ca = await createCa(lab.path("pki"));
  caFile = ca.cert;
  const signer = await createTokenSigner(lab.path("pki"));
  const tokens = await startTokenServer({
    signer,
    users: { [alice.username]: alice.password, "license-token": LICENSE },
  });
  [basicSrc, tokenSrc, target] = await Promise.all([
    startRegistry({
      dir: lab.path("basic"),
      tls: await issueServerCert(ca, "basic"),
      htpasswd: { [alice.username]: alice.password },
    }),
    startRegistry({ dir: lab.path("token"), tokenAuth: tokens.registryAuth("mirror-src") }),
    startRegistry({
      dir: lab.path("target"),
      host: "127.0.0.2",
      tls: await issueServerCert(ca, "target", { ips: ["127.0.0.2"] }),
      htpasswd: { [rw.username]: rw.password },
    }),
  ]);
  const base = { seed: "mirror-base", payloadBytes: 512 << 10 };
  layouts = {
    v1: await writeOciLayout(lab.path("img", "v1"), {
      seed: "v1",
      tags: ["v1"],
      baseLayers: [base],
      payloadBytes: 256 << 10,
    }),
    multi: await writeOciLayout(lab.path("img", "multi"), {
      seed: "multi",
      tags: ["multi"],
      platforms: ["linux/amd64", "linux/arm64"],
      baseLayers: [base],
    }),
    docker: await writeOciLayout(lab.path("img", "docker"), {
      seed: "docker",
      tags: ["docker"],
      baseLayers: [base],
    }),
    big: await writeOciLayout(lab.path("img", "big"), {
      seed: "big",
      tags: ["big"],
      payloadBytes: 20 << 20,
    }),
    mod: await writeOciLayout(lab.path("img", "mod"), {
      seed: "mod",
      tags: ["v1"],
      baseLayers: [base],
    }),
  };
  const src = { hostPort: basicSrc.hostPort, scheme: basicSrc.scheme, caPem: ca.certPem };
  const opts = { creds: alice };
  for (const tag of ["v1", "multi", "big"] as const) {
    digests.set(tag, (await pushImage(layouts[tag], src, "deckhouse/ee", { ...opts, tag })).digest);
  }
  digests.set(
    "docker",
    (await pushImage(layouts.docker, src, "deckhouse/ee", { ...opts, format: "v2s2" })).digest,
  );
  digests.set(
    "modules/foo:v1",
    (await pushImage(layouts.mod, src, "deckhouse/ee/modules/foo", opts)).digest,
  );
  for (const tag of ["v1", "multi"] as const) {
    await pushImage(layouts[tag], tokenSrc, "deckhouse/ce", { creds: alice, tag });
  }
}, 120_000);

afterAll(async () => {
  await lab?.close();
});

const ALL_TAGS = ["v1", "multi", "docker", "big"];

describe("mirror pull → push", () => {
  it("pulls from a Basic-auth TLS source into an OCI layout skopeo reads, every platform", async () => {
    const imagesFile = lab.path("images.txt");
    await writeFile(imagesFile, "# platform images\nv1\nmulti\ndocker\nbig\nmodules/foo:v1\n");
    const bundle = lab.path("bundle");
    const r = await cli(pullArgs(basicRepo(), bundle, { imagesFile, ...asAlice() }));
    expect(r.stderr + r.stdout).not.toContain(alice.password);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/pulled 5 images/);
    // skopeo's oci: transport only looks at OCI media types in index.json; the Docker v2s2 image
    // is kept as the source served it (same digest), so it is checked in index.json itself
    const index = JSON.parse(readFileSync(join(bundle, "index.json"), "utf8")) as {
      manifests: Array<{ digest: string; mediaType: string; annotations: Record<string, string> }>;
    };
    const docker = index.manifests.find(
      m => m.annotations["org.opencontainers.image.ref.name"] === "docker",
    );
    expect(docker?.digest).toBe(digests.get("docker"));
    expect(docker?.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    for (const tag of ALL_TAGS.filter(t => t !== "docker")) {
      const { stdout } = await run("skopeo", ["inspect", "--raw", `oci:${bundle}:${tag}`]);
      expect(`sha256:${createHash("sha256").update(stdout).digest("hex")}`, tag).toBe(
        digests.get(tag),
      );
    }
    // every blob of every platform is there, once
    const files = new Set(readdirSync(join(bundle, "blobs", "sha256")));
    for (const layout of Object.values(layouts)) {
      for (const digest of layout.blobs.keys()) {
        if (layout === layouts.docker) continue; // v2s2 conversion rewrote manifest and config
        expect(files.has(digest.slice(7)), digest).toBe(true);
      }
    }
    expect(existsSync(join(bundle, ".mirror-partial"))).toBe(false);
  }, 60_000);

  it("pushes under system/deckhouse: skopeo inspects every tag with the source digests", async () => {
    const bundle = lab.path("bundle");
    const logStart = target.accessLog().length;
    const r = await cli(pushArgs(bundle, `${target.hostPort}/system/deckhouse`, asRw()));
    expect(r.code, r.stderr).toBe(0);
    const pushEnd = target.accessLog().length;
    expect(r.stdout + r.stderr).not.toContain(rw.password);
    // the module image shares the base layer: mounted from system/deckhouse, not uploaded twice
    expect(r.stdout).toMatch(/mounted [1-9]/);
    for (const tag of ALL_TAGS) {
      expect(await skopeoDigest(`${target.hostPort}/system/deckhouse:${tag}`), tag).toBe(
        digests.get(tag),
      );
    }
    expect(await skopeoDigest(`${target.hostPort}/system/deckhouse/modules/foo:v1`)).toBe(
      digests.get("modules/foo:v1"),
    );
    for (const child of layouts.multi.manifests) {
      expect(await skopeoDigest(`${target.hostPort}/system/deckhouse@${child.digest}`)).toBe(
        child.digest,
      );
    }
    // the 20 MiB layer went in PATCH chunks, small ones in one PUT
    const log = target.accessLog();
    expect(log.some(e => e.method === "PATCH" && e.status === 202)).toBe(true);
    expect(
      log.some(e => e.method === "POST" && e.path.includes("mount=") && e.status === 201),
    ).toBe(true);
    // into an empty repository nothing is asked twice: every manifest references a blob this
    // push uploaded, so none can be there yet (no GET), and no HEAD (each would cost a new
    // connection: blobs are checked with a ranged GET)
    const first = log.slice(logStart, pushEnd);
    expect(first.filter(e => e.method === "GET" && e.path.includes("/manifests/"))).toEqual([]);
    expect(first.filter(e => e.method === "HEAD")).toEqual([]);

    const again = await cli(pushArgs(bundle, `${target.hostPort}/system/deckhouse`, asRw()));
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/uploaded 0 \(0 B\), mounted 0/);
    expect(again.stdout).toMatch(/manifests put 0, already there [1-9]/);
  }, 90_000);

  it("push --dry-run reports what it would upload and writes nothing", async () => {
    const logStart = target.accessLog().length;
    const r = await cli(
      pushArgs(lab.path("bundle"), `${target.hostPort}/dry/system/deckhouse`, {
        ...asRw(),
        dryRun: true,
      }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/would push 5 images \(5 tags\).*to upload [1-9]\d* /);
    const writes = target
      .accessLog()
      .slice(logStart)
      .filter(e => !["GET", "HEAD"].includes(e.method));
    expect(writes).toEqual([]);
    expect(await tagsAt("dry/system/deckhouse")).toEqual([]);
  }, 30_000);

  it("containerd pulls every tag from the pushed registry, as a Local-mode node does", async () => {
    const containerd = await startContainerd(lab.path("ctrd"));
    const hosts = lab.path("hosts");
    await writeHostsToml(hosts, SVC, { url: target.url, caFile, ...rw });
    for (const tag of ALL_TAGS) {
      const ref = `${SVC}/system/deckhouse:${tag}`;
      await containerd.ctr("-n", "m", "images", "pull", "--hosts-dir", hosts, ref);
      const listed = await containerd.ctr("-n", "m", "images", "ls");
      const line = listed.split("\n").find(l => l.startsWith(`${ref} `));
      expect(line, listed).toContain(digests.get(tag));
    }
    await containerd.proc.stop();
  }, 90_000);

  it("a release tag brings the module images its images_digests.json lists, pushed by digest", async () => {
    // the release image: one layer made by GNU tar holding deckhouse/modules/images_digests.json
    const modA = layouts.mod.digest;
    const modB = digests.get("multi") as string;
    const root = lab.path("release-fs");
    await mkdir(join(root, "deckhouse", "modules"), { recursive: true });
    await writeFile(
      join(root, "deckhouse", "modules", "images_digests.json"),
      JSON.stringify({ moduleA: { controller: modA }, moduleB: { agent: modB, webhook: modA } }),
    );
    const layerFile = lab.path("release-layer.tar.gz");
    await run("tar", ["-czf", layerFile, "-C", root, "deckhouse"]);
    const layer = await readFile(layerFile);
    const config = Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [] },
      }),
    );
    const sha = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: {
          mediaType: "application/vnd.oci.image.config.v1+json",
          digest: sha(config),
          size: config.length,
        },
        layers: [
          {
            mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
            digest: sha(layer),
            size: layer.length,
          },
        ],
      }),
    );
    // module A lives in the root repository by digest only (like Deckhouse module images)
    const modBundle = lab.path("bundle");
    const src = new RegistryClient({ registry: basicSrc.hostPort, ca: ca.certPem, ...alice });
    try {
      for (const blob of layouts.mod.blobs.keys()) {
        if (blob === modA) continue;
        await src.uploadBlob(
          "deckhouse/ee",
          await readFile(join(modBundle, "blobs", "sha256", blob.slice(7))),
          { digest: blob },
        );
      }
      await src.putManifest(
        "deckhouse/ee",
        modA,
        await readFile(join(modBundle, "blobs", "sha256", modA.slice(7))),
        "application/vnd.oci.image.manifest.v1+json",
      );
      await src.uploadBlob("deckhouse/ee", config);
      await src.uploadBlob("deckhouse/ee", layer);
      await src.putManifest(
        "deckhouse/ee",
        "release-1",
        manifest,
        "application/vnd.oci.image.manifest.v1+json",
      );
    } finally {
      await src.close();
    }

    const bundle = lab.path("bundle-release");
    const r = await cli(pullArgs(basicRepo(), bundle, { tags: ["release-1"], ...asAlice() }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("release metadata lists 2 more images");
    expect(r.stdout).toMatch(/pulled 3 images/);
    const p = await cli(pushArgs(bundle, `${target.hostPort}/release/system/deckhouse`, asRw()));
    expect(p.code, p.stderr).toBe(0);
    expect(await skopeoDigest(`${target.hostPort}/release/system/deckhouse:release-1`)).toBe(
      sha(manifest),
    );
    for (const d of [modA, modB]) {
      expect(await skopeoDigest(`${target.hostPort}/release/system/deckhouse@${d}`)).toBe(d);
    }
    // and tagged with their digest's hex: a registry's API lists tags, never untagged manifests,
    // so only a tag lets Local's mirrorer (which copies what the other masters list) find them
    expect((await tagsAt("release/system/deckhouse")).sort()).toEqual(
      ["release-1", ...[modA, modB].map(d => d.slice("sha256:".length))].sort(),
    );
    for (const d of [modA, modB]) {
      const tag = d.slice("sha256:".length);
      expect(await skopeoDigest(`${target.hostPort}/release/system/deckhouse:${tag}`)).toBe(d);
    }
  }, 60_000);

  it("--images-file is exactly the images listed: a release image there brings no module images", async () => {
    // release-1 (pushed by the test above) lists two module images in its images_digests.json;
    // only --tag treats an image as a release, and reading every listed image's layers for that
    // file would be a second pass over the whole bundle
    const imagesFile = lab.path("images-release.txt");
    await writeFile(imagesFile, "release-1\n");
    const bundle = lab.path("bundle-release-listed");
    const r = await cli(pullArgs(basicRepo(), bundle, { imagesFile, ...asAlice() }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("release metadata");
    expect(r.stdout).toMatch(/pulled 1 image /);
    const index = JSON.parse(readFileSync(join(bundle, "index.json"), "utf8")) as {
      manifests: unknown[];
    };
    expect(index.manifests).toHaveLength(1);
  }, 60_000);

  it("pulls from a Bearer token source", async () => {
    const bundle = lab.path("bundle-token");
    const r = await cli(
      pullArgs(`${tokenSrc.hostPort}/deckhouse/ce`, bundle, {
        tags: ["v1", "multi"],
        creds: creds(alice),
        plainHttp: true,
      }),
    );
    expect(r.code, r.stderr).toBe(0);
    for (const tag of ["v1", "multi"]) {
      const { stdout } = await run("skopeo", ["inspect", "--raw", `oci:${bundle}:${tag}`]);
      expect(`sha256:${createHash("sha256").update(stdout).digest("hex")}`).toBe(digests.get(tag));
    }
  }, 60_000);

  it("pulls with a licence key (Basic user license-token at the token realm), never printing it", async () => {
    const bundle = lab.path("bundle-licence");
    const withLicence = (license: string, into: string) =>
      pullArgs(`${tokenSrc.hostPort}/deckhouse/ce`, into, {
        tags: ["v1"],
        license,
        plainHttp: true,
      });
    const r = await cli(withLicence(LICENSE, bundle));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(LICENSE);
    const { stdout } = await run("skopeo", ["inspect", "--raw", `oci:${bundle}:v1`]);
    expect(`sha256:${createHash("sha256").update(stdout).digest("hex")}`).toBe(digests.get("v1"));
    const bad = await cli(withLicence("wrong-key-42", lab.path("bundle-licence-bad")));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/authentication failed/);
    expect(bad.stderr).not.toContain("wrong-key-42");
  }, 30_000);

  it("--dry-run prints the images and size and writes nothing", async () => {
    const bundle = lab.path("bundle-dry");
    const r = await cli(
      pullArgs(basicRepo(), bundle, { tags: ["big", "v1"], ...asAlice(), dryRun: true }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`.:big ${digests.get("big")}`);
    expect(r.stdout).toMatch(/would fetch 2 images, \d+ unique blobs, 2\d\.\d MiB/);
    expect(existsSync(bundle)).toBe(false);
  }, 30_000);
});

describe("mirror failures name the cause and change nothing", () => {
  it("missing tags: all named, no bundle written", async () => {
    const bundle = lab.path("bundle-missing");
    const r = await cli(
      pullArgs(basicRepo(), bundle, { tags: ["v1", "nope", "gone"], ...asAlice() }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${basicSrc.hostPort}/deckhouse/ee:nope`);
    expect(r.stderr).toContain(`${basicSrc.hostPort}/deckhouse/ee:gone`);
    expect(existsSync(bundle)).toBe(false);
  }, 30_000);

  it("wrong password: authentication error without the password", async () => {
    const r = await cli(
      pullArgs(basicRepo(), lab.path("b-auth"), {
        tags: ["v1"],
        creds: "alice:wrong-secret",
        ca: caFile,
      }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/authentication failed/);
    expect(r.stderr).not.toContain("wrong-secret");
  }, 30_000);

  it("unknown CA: TLS error that says to pass --ca", async () => {
    const r = await cli(
      pullArgs(basicRepo(), lab.path("b-tls"), { tags: ["v1"], creds: creds(alice) }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TLS failed: pass the registry's CA with --ca/);
  }, 30_000);

  it("full disk: says so and what to do; no index.json", async () => {
    // a 2 MiB tmpfs as the bundle's disk (the suite runs as root, as containerd needs)
    const small = lab.path("small-disk");
    await mkdir(small);
    await run("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", small]).catch((err: unknown) => {
      throw new Error(
        `cannot mount a tmpfs for the full-disk case (run the suite as root): ${String(err)}`,
      );
    });
    try {
      const r = await cli(pullArgs(basicRepo(), join(small, "b"), { tags: ["big"], ...asAlice() }));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/disk full writing .*: free space and run the same command again/);
      expect(existsSync(join(small, "b", "index.json"))).toBe(false);
    } finally {
      await run("umount", [small]);
    }
  }, 30_000);

  it("network cut midway: says so and that a re-run continues; no index.json", async () => {
    const relay = await startLatencyProxy({ target: basicSrc.hostPort, oneWayMs: 30 });
    const bundle = lab.path("bundle-cut");
    const proc = spawnMirrorCli(
      "mirror-cut",
      pullArgs(`${relay.hostPort}/deckhouse/ee`, bundle, {
        tags: ["v1", "multi", "big"],
        ...asAlice(),
        parallel: 1,
      }),
    );
    const deadline = Date.now() + 30_000;
    while (
      !existsSync(join(bundle, ".mirror-partial")) ||
      readdirSync(join(bundle, ".mirror-partial")).length === 0
    ) {
      if (proc.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`no download started:\n${proc.lines.join("\n")}`);
      await new Promise(r => setTimeout(r, 5));
    }
    await relay.stop();
    const code = await proc.exited;
    expect(code).toBe(1);
    expect(proc.lines.join("\n")).toMatch(
      /run the same command again: it continues where it stopped/,
    );
    expect(existsSync(join(bundle, "index.json"))).toBe(false);
  }, 60_000);

  it("a corrupt bundle blob is refused before anything is tagged", async () => {
    const bundle = lab.path("bundle-corrupt");
    const pulled = await cli(pullArgs(basicRepo(), bundle, { tags: ["v1"], ...asAlice() }));
    expect(pulled.code, pulled.stderr).toBe(0);
    const [layer] = [...layouts.v1.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const file = join(bundle, "blobs", "sha256", layer.slice(7));
    const bytes = await readFile(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const r = await cli(pushArgs(bundle, `${target.hostPort}/corrupt/system/deckhouse`, asRw()));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(layer);
    expect(r.stderr).toMatch(/content digest is sha256:/);
    const tags = await tagsAt("corrupt/system/deckhouse");
    expect(tags).toEqual([]);
  }, 30_000);

  it("bad flags: usage error naming the flag, exit 2", async () => {
    const r = await cli(pullArgs(basicRepo(), lab.path("x"), { tags: ["v1"], parallel: "0" }));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--parallel "0": expected an integer from 1 to 64');
    const p = await cli(
      pushArgs(lab.path("no-such-bundle"), `${target.hostPort}/system/deckhouse`, asRw()),
    );
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/oci-layout missing/);
  }, 30_000);
});

describe("interrupted runs resume", () => {
  const layerDigests = (): string[] => [
    ...new Set(
      Object.entries(layouts)
        .filter(([k]) => k !== "docker")
        .flatMap(([, l]) =>
          [...l.blobs.keys()].filter(
            d => ![l.digest, ...l.manifests.map(m => m.digest)].includes(d),
          ),
        ),
    ),
  ];

  async function killWhen(args: string[], ready: () => boolean): Promise<void> {
    const proc = spawnMirrorCli("mirror-cli", args);
    const deadline = Date.now() + 60_000;
    while (!ready()) {
      if (proc.child.exitCode !== null)
        throw new Error(`finished before it could be interrupted:\n${proc.lines.join("\n")}`);
      if (Date.now() > deadline) throw new Error("never reached the interruption point");
      await new Promise(r => setTimeout(r, 5));
    }
    proc.kill("SIGKILL");
    await proc.exited;
  }

  it("a killed pull leaves no index.json; the next run fetches only the missing blobs", async () => {
    const slow = await startLatencyProxy({ target: basicSrc.hostPort, oneWayMs: 40 });
    const bundle = lab.path("bundle-killed");
    const args = pullArgs(`${slow.hostPort}/deckhouse/ee`, bundle, {
      tags: ["v1", "multi", "big"],
      imagesFile: lab.path("images.txt"),
      ...asAlice(),
      parallel: 1,
    });
    const wanted = layerDigests();
    const finished = (): string[] => {
      const dir = join(bundle, "blobs", "sha256");
      if (!existsSync(dir)) return [];
      const files = new Set(readdirSync(dir));
      return wanted.filter(d => files.has(d.slice(7)));
    };
    await killWhen(args, () => finished().length >= 3);
    const before = finished();
    expect(before.length).toBeLessThan(wanted.length);
    expect(existsSync(join(bundle, "index.json"))).toBe(false);

    const logStart = basicSrc.accessLog().length;
    // the same command, without the slow relay (the bundle does not know where it came from)
    const r = await cli(args.map(a => a.replace(slow.hostPort, basicSrc.hostPort)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`already there ${before.length} `));
    const fetched = basicSrc
      .accessLog()
      .slice(logStart)
      .filter(e => e.method === "GET" && /\/blobs\/sha256:/.test(e.path) && e.status < 300)
      .map(e => e.path.replace(/^.*\/blobs\//, "").replace(/\?.*$/, ""));
    for (const d of before) expect(fetched, `re-downloaded ${d}`).not.toContain(d);
    for (const d of wanted) expect(before.includes(d) || fetched.includes(d), d).toBe(true);
    await slow.stop();
  }, 120_000);

  it("a partial blob continues with a Range request: only the rest is fetched", async () => {
    const bundle = lab.path("bundle-partial");
    const bigLayer = [...layouts.big.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const [digest, size] = bigLayer;
    await mkdir(join(bundle, ".mirror-partial"), { recursive: true });
    const head = (
      await readFile(join(layouts.big.dir, "blobs", "sha256", digest.slice(7)))
    ).subarray(0, 5 << 20);
    await writeFile(join(bundle, ".mirror-partial", digest.replace(":", "-")), head);
    const logStart = basicSrc.accessLog().length;
    const r = await cli(pullArgs(basicRepo(), bundle, { tags: ["big"], ...asAlice() }));
    expect(r.code, r.stderr).toBe(0);
    const gets = basicSrc
      .accessLog()
      .slice(logStart)
      .filter(e => e.method === "GET" && e.path.endsWith(digest));
    expect(gets.map(e => [e.status, e.bytes])).toEqual([[206, size - (5 << 20)]]);
    const { stdout } = await run("skopeo", ["inspect", "--raw", `oci:${bundle}:big`]);
    expect(`sha256:${createHash("sha256").update(stdout).digest("hex")}`).toBe(digests.get("big"));
  }, 60_000);

  it("a killed push leaves no tag; the next run uploads only the missing blobs", async () => {
    const slow = await startLatencyProxy({
      target: target.hostPort,
      host: "127.0.0.2",
      oneWayMs: 40,
    });
    const repo = "resume/system/deckhouse";
    const args = pushArgs(lab.path("bundle"), `${slow.hostPort}/${repo}`, {
      ...asRw(),
      parallel: 1,
    });
    const uploaded = (from: number): string[] =>
      target
        .accessLog()
        .slice(from)
        .filter(
          e =>
            e.method === "PUT" &&
            e.status === 201 &&
            e.path.includes("/blobs/uploads/") &&
            e.path.startsWith(`/v2/${repo}/`),
        )
        .map(e => decodeURIComponent(/digest=([^&]+)/.exec(e.path)?.[1] ?? ""));
    const start = target.accessLog().length;
    await killWhen(args, () => uploaded(start).length >= 3);
    const first = uploaded(start);
    const tags = await tagsAt(repo);
    expect(tags).toEqual([]);

    const second = target.accessLog().length;
    const r = await cli(args.map(a => a.replace(slow.hostPort, target.hostPort)));
    expect(r.code, r.stderr).toBe(0);
    const again = uploaded(second);
    for (const d of first) expect(again, `uploaded twice ${d}`).not.toContain(d);
    for (const tag of ALL_TAGS) {
      expect(await skopeoDigest(`${target.hostPort}/${repo}:${tag}`), tag).toBe(digests.get(tag));
    }
    await slow.stop();
  }, 120_000);
});
