// mirror push streams blobs from the bundle to real distribution (TLS, htpasswd): a bundle with a
// 72 MiB layer and three 15 MiB layers pushed with --parallel 4 must not hold blobs in memory. The
// push runs as its own process and reports its peak RSS (REGISTRY_MODULE_MIRROR_PHASES=1 →
// process.resourceUsage().maxRSS); the bound is the peak of the same command pushing a one-layer
// bundle of 1 MiB plus 40 MiB, generous next to the few MiB streaming needs and well below what
// holding whole blobs or 16 MiB chunks costs. A corrupt bundle blob is refused while it streams:
// our message with the digest its bytes have, no tag, and the registry never keeps the blob.
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCa,
  createLab,
  issueServerCert,
  requireTools,
  startRegistry,
  type Lab,
  type Registry,
} from "../e2e-lab";
import { RegistryClient } from "../../lib/oci/client";
import { OciError } from "../../lib/oci/errors";
import { mirrorCli, pushArgs } from "./cli";

const rw = { username: "rw", password: "target-rw-pass" };
const MiB = 1 << 20;

let lab: Lab;
let caPem: string;
let caFile: string;
let target: Registry;

interface Blob {
  digest: string;
  size: number;
}

/** A random blob of `size` bytes written in 1 MiB pieces (never whole in this process either). */
async function writeRandomBlob(bundle: string, size: number): Promise<Blob> {
  const tmp = join(bundle, "blob.tmp");
  const out = createWriteStream(tmp);
  const hash = createHash("sha256");
  for (let left = size; left > 0; left -= MiB) {
    const piece = randomBytes(Math.min(MiB, left));
    hash.update(piece);
    if (!out.write(piece)) await once(out, "drain");
  }
  out.end();
  await once(out, "finish");
  const hex = hash.digest("hex");
  await rename(tmp, join(bundle, "blobs", "sha256", hex));
  return { digest: `sha256:${hex}`, size };
}

async function writeJsonBlob(bundle: string, doc: unknown): Promise<Blob> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const hex = createHash("sha256").update(bytes).digest("hex");
  await writeFile(join(bundle, "blobs", "sha256", hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

/** An OCI layout bundle (what `mirror pull` writes) with one image, tag `v1`, of these layers. */
async function writeBundle(
  name: string,
  layerSizes: number[],
): Promise<{ dir: string; layers: Blob[] }> {
  const dir = lab.path(name);
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const layers: Blob[] = [];
  for (const size of layerSizes) layers.push(await writeRandomBlob(dir, size));
  const config = await writeJsonBlob(dir, {
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map(l => l.digest) },
  });
  const manifest = await writeJsonBlob(dir, {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map(l => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", ...l })),
  });
  await writeFile(
    join(dir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          ...manifest,
          annotations: {
            "org.opencontainers.image.ref.name": "v1",
            "io.deckhouse.mirror.tag": "v1",
          },
        },
      ],
    }),
  );
  return { dir, layers };
}

async function push(
  bundle: string,
  repository: string,
): Promise<{ code: number; stdout: string; stderr: string; maxRssMiB: number }> {
  const args = pushArgs(bundle, `${target.hostPort}/${repository}`, {
    creds: `${rw.username}:${rw.password}`,
    ca: caFile,
    parallel: 4,
  });
  const r = await mirrorCli(args, {
    timeoutMs: 180_000,
    env: { REGISTRY_MODULE_MIRROR_PHASES: "1" },
  });
  const line = /mirror phases: (\{.*\})/.exec(r.stderr)?.[1];
  const maxRssMiB = line ? (JSON.parse(line) as { maxRssKiB: number }).maxRssKiB / 1024 : NaN;
  return { ...r, maxRssMiB };
}

async function targetClient<T>(use: (c: RegistryClient) => Promise<T>): Promise<T> {
  const client = new RegistryClient({ registry: target.hostPort, ca: caPem, ...rw });
  try {
    return await use(client);
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  requireTools("docker-registry", "htpasswd", "openssl");
  lab = await createLab("mirror-memory");
  const ca = await createCa(lab.path("pki"));
  caPem = ca.certPem;
  caFile = ca.cert;
  target = await startRegistry({
    dir: lab.path("target"),
    tls: await issueServerCert(ca, "target"),
    htpasswd: { [rw.username]: rw.password },
    quiet: true,
  });
}, 60_000);

afterAll(async () => {
  await lab?.close();
});

describe("mirror push streams blobs", () => {
  it("a 72 MiB layer and three 15 MiB layers, 4 at a time: peak RSS within 40 MiB of a 1 MiB push", async () => {
    const small = await writeBundle("bundle-small", [MiB]);
    const big = await writeBundle("bundle-big", [72 * MiB, 15 * MiB, 15 * MiB, 15 * MiB]);
    const baseline = await push(small.dir, "small/system/deckhouse");
    expect(baseline.code, baseline.stderr).toBe(0);
    const r = await push(big.dir, "big/system/deckhouse");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("uploaded 5 ");
    // every byte arrived: the registry has each layer under its digest, with its size
    await targetClient(async c => {
      for (const layer of big.layers) {
        expect(await c.headBlob("big/system/deckhouse", layer.digest)).toEqual(layer);
      }
      expect(await c.listTags("big/system/deckhouse")).toEqual(["v1"]);
    });
    expect(Number.isFinite(r.maxRssMiB) && Number.isFinite(baseline.maxRssMiB)).toBe(true);
    expect(
      r.maxRssMiB - baseline.maxRssMiB,
      `peak RSS ${r.maxRssMiB.toFixed(1)} MiB vs ${baseline.maxRssMiB.toFixed(1)} MiB for 1 MiB`,
    ).toBeLessThanOrEqual(40);
  }, 240_000);

  it("a 0-byte layer goes up as an empty body", async () => {
    const bundle = await writeBundle("bundle-empty", [0, 1000]);
    const r = await push(bundle.dir, "empty/system/deckhouse");
    expect(r.code, r.stderr).toBe(0);
    await targetClient(async c => {
      for (const layer of bundle.layers)
        expect(await c.headBlob("empty/system/deckhouse", layer.digest)).toEqual(layer);
    });
  }, 120_000);

  it("a corrupt 72 MiB bundle blob is refused while it streams: our message, no tag, no blob kept", async () => {
    const bundle = await writeBundle("bundle-corrupt", [72 * MiB]);
    const layer = bundle.layers[0] as Blob;
    const file = join(bundle.dir, "blobs", "sha256", layer.digest.slice(7));
    const bytes = await readFile(file);
    bytes[40 * MiB] = (bytes[40 * MiB] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const actual = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
    const r = await push(bundle.dir, "corrupt/system/deckhouse");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `bundle blob ${layer.digest} is corrupt: content digest is ${actual}`,
    );
    expect(r.stderr).toContain("mirror pull");
    await targetClient(async c => {
      expect(await c.hasBlob("corrupt/system/deckhouse", layer.digest)).toBe(false);
      const tags = await c.listTags("corrupt/system/deckhouse").catch((err: unknown) => {
        if (err instanceof OciError && err.kind === "not-found") return [];
        throw err;
      });
      expect(tags).toEqual([]);
    });
  }, 240_000);
});
