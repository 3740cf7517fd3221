// Real images without Docker: deterministic OCI image layouts, pushed with the real `skopeo`.
//
//   const img = await writeOciLayout(join(lab, "img"), { seed: "a", tags: ["v1", "v2"] });
//   const multi = await writeOciLayout(dir, { seed: "m", platforms: ["linux/amd64", "linux/arm64"] });
//   const big = await writeOciLayout(dir, { seed: "b", payloadBytes: 20 << 20 });
//   const shared = { seed: "base", payloadBytes: 1 << 20 };    // same seed → same layer blob
//   await writeOciLayout(dirA, { seed: "a", baseLayers: [shared] });
//   img.digest, img.mediaType, img.manifests[i].digest, img.blobs (digest → size)
//
//   const pushed = await pushImage(img, reg, "system/deckhouse", { tag: "v1", creds });
//   pushed.digest                          // what the registry serves for the tag
//   await pushImage(img, reg, "repo", { format: "v2s2" })   // Docker v2 schema 2 media types
//   await pushImage(multi, reg, "repo")    // an index is always copied with all its manifests
//
// Same spec → same bytes → same digests (tar mtime 0, uid/gid 0, gzip without timestamps,
// pseudo-random payload from a sha256 counter).
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { run } from "./process";
import type { Registry } from "./registry";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

export interface LayerSpec {
  seed: string;
  /** Bytes of incompressible pseudo-random data in `/blob.bin`; default 0. */
  payloadBytes?: number;
}

export interface ImageSpec {
  /** Everything derives from it: same spec → same digests. */
  seed: string;
  /** Tags in the layout (all point at the top descriptor); default ["latest"]. */
  tags?: string[];
  /** `os/arch[/variant]` or `arch`; one → a manifest, several → an OCI index. Default amd64. */
  platforms?: string[];
  /** Bytes of pseudo-random data in the image's own layer; default 0. */
  payloadBytes?: number;
  /** Layers below the image's own, shared between images that use the same spec. */
  baseLayers?: LayerSpec[];
  /** Annotations on each manifest (cheap way to get distinct digests over the same blobs). */
  annotations?: Record<string, string>;
  /** More files in the image's own layer, path → content (e.g. a release's metadata). */
  files?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface OciLayout {
  dir: string;
  tags: string[];
  /** Digest, media type and size of the top-level manifest or index. */
  digest: string;
  mediaType: string;
  size: number;
  /** The image manifests (one per platform). */
  manifests: Array<Descriptor & { platform: Platform }>;
  /** Every blob in the layout (configs, layers, manifests, index) → size. */
  blobs: Map<string, number>;
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

export async function writeOciLayout(dir: string, spec: ImageSpec): Promise<OciLayout> {
  const tags = spec.tags ?? ["latest"];
  const platforms = (spec.platforms ?? ["linux/amd64"]).map(parsePlatform);
  const blobsDir = join(dir, "blobs", "sha256");
  await mkdir(blobsDir, { recursive: true });
  const blobs = new Map<string, number>();
  const put = async (mediaType: string, data: Buffer): Promise<Descriptor> => {
    const digest = `sha256:${sha256(data)}`;
    if (!blobs.has(digest)) {
      await writeFile(join(blobsDir, digest.slice(7)), data);
      blobs.set(digest, data.length);
    }
    return { mediaType, digest, size: data.length };
  };

  const base = spec.baseLayers ?? [];
  const baseLayers = base.map(l => layer(l.seed, "", l.payloadBytes ?? 0));
  const manifests: OciLayout["manifests"] = [];
  for (const platform of platforms) {
    const own = layer(spec.seed, platformString(platform), spec.payloadBytes ?? 0, spec.files);
    const layers = [...baseLayers, own];
    const layerDescriptors: Descriptor[] = [];
    for (const l of layers) layerDescriptors.push(await put(OCI_LAYER_GZIP, l.gz));
    const config = await put(
      OCI_CONFIG,
      json({
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant ? { variant: platform.variant } : {}),
        config: { Cmd: ["/hello"], Labels: { "e2e.seed": spec.seed } },
        rootfs: { type: "layers", diff_ids: layers.map(l => `sha256:${sha256(l.tar)}`) },
        history: layers.map(() => ({ created_by: "e2e-lab writeOciLayout" })),
      }),
    );
    const manifest = await put(
      OCI_MANIFEST,
      json({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config,
        layers: layerDescriptors,
        ...(spec.annotations ? { annotations: spec.annotations } : {}),
      }),
    );
    manifests.push({ ...manifest, platform });
  }

  let top: Descriptor;
  if (manifests.length === 1) {
    const only = manifests[0] as OciLayout["manifests"][number];
    top = { mediaType: only.mediaType, digest: only.digest, size: only.size };
  } else {
    top = await put(OCI_INDEX, json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  }
  await writeFile(join(dir, "oci-layout"), json({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(dir, "index.json"),
    json({
      schemaVersion: 2,
      manifests: tags.map(t => ({
        ...top,
        annotations: { "org.opencontainers.image.ref.name": t },
      })),
    }),
  );
  return { dir, tags, ...top, manifests, blobs };
}

function parsePlatform(p: string): Platform {
  const parts = p.split("/");
  if (parts.length === 1) return { os: "linux", architecture: parts[0] as string };
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return { os, architecture, ...(variant ? { variant } : {}) };
}

function platformString(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

function layer(
  seed: string,
  platform: string,
  payloadBytes: number,
  extra: Record<string, string> = {},
): { tar: Buffer; gz: Buffer } {
  const files: Array<[string, Buffer]> = [
    ["etc/e2e-release", Buffer.from(`NAME=e2e-lab\nSEED=${seed}\nPLATFORM=${platform}\n`)],
    [`hello-${seed}.txt`, Buffer.from(`hello from ${seed} ${platform}\n`)],
    ...Object.entries(extra).map(([path, text]): [string, Buffer] => [path, Buffer.from(text)]),
  ];
  if (payloadBytes > 0) files.push(["blob.bin", pseudoRandom(payloadBytes, `${seed}:${platform}`)]);
  const tar = ustar(files);
  return { tar, gz: gzipSync(tar, { level: 1 }) };
}

function ustar(files: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const [name] of files) {
    // every ancestor directory, parents first
    for (let slash = name.indexOf("/"); slash > 0; slash = name.indexOf("/", slash + 1))
      dirs.add(name.slice(0, slash + 1));
  }
  for (const d of dirs) parts.push(tarHeader(d, 0, "5", 0o755));
  for (const [name, data] of files) {
    parts.push(tarHeader(name, data.length, "0", 0o644), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function tarHeader(name: string, size: number, type: "0" | "5", mode: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write(mode.toString(8).padStart(7, "0") + "\0", 100, "ascii");
  h.write("0000000\0", 108, "ascii"); // uid
  h.write("0000000\0", 116, "ascii"); // gid
  h.write(size.toString(8).padStart(11, "0") + "\0", 124, "ascii");
  h.write("00000000000\0", 136, "ascii"); // mtime 0
  h.write("        ", 148, "ascii"); // checksum is computed with spaces here
  h.write(type, 156, "ascii");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return h;
}

function pseudoRandom(bytes: number, seed: string): Buffer {
  const out = Buffer.alloc(bytes);
  for (let off = 0, i = 0; off < bytes; off += 32, i++) {
    createHash("sha256").update(`${seed}:${i}`).digest().copy(out, off);
  }
  return out;
}

export interface PushOptions {
  /** Tag in the layout to copy; default the layout's first tag. */
  sourceTag?: string;
  /** Tag in the registry; default the source tag. */
  tag?: string;
  /** `user:password` for the destination. */
  creds?: { username: string; password: string };
  /** `v2s2` converts to Docker media types (manifest list for an index). Default: as written. */
  format?: "oci" | "v2s2";
}

/** Pushes a layout tag with `skopeo copy`; returns the digest the registry now serves. */
export async function pushImage(
  layout: OciLayout,
  registry: Pick<Registry, "hostPort" | "scheme" | "caPem">,
  repository: string,
  options: PushOptions = {},
): Promise<{ reference: string; digest: string }> {
  const sourceTag = options.sourceTag ?? layout.tags[0] ?? "latest";
  const tag = options.tag ?? sourceTag;
  const reference = `${registry.hostPort}/${repository}:${tag}`;
  const work = await mkdtemp(join(tmpdir(), "e2e-push-"));
  try {
    const args = ["--insecure-policy", "copy", "--retry-times", "2"];
    if (layout.mediaType === OCI_INDEX) args.push("--all");
    if (options.format) args.push("--format", options.format);
    if (options.creds)
      args.push("--dest-creds", `${options.creds.username}:${options.creds.password}`);
    if (registry.scheme === "https" && registry.caPem) {
      await writeFile(join(work, "ca.crt"), registry.caPem);
      args.push("--dest-cert-dir", work);
    } else {
      args.push("--dest-tls-verify=false");
    }
    const digestFile = join(work, "digest");
    args.push(
      "--digestfile",
      digestFile,
      `oci:${layout.dir}:${sourceTag}`,
      `docker://${reference}`,
    );
    // Stock distribution answered a blob HEAD of an index push with 500 once in CI ("trying to
    // reuse blob … failed to read from destination repository"), most likely a read racing the
    // commit of the same blob by a parallel upload (the race of distribution/distribution#2077,
    // there on Azure). The copy is idempotent, so on a 500 it is made again, twice at most.
    for (let attempt = 1; ; attempt++) {
      try {
        await run("skopeo", args, { env: { HOME: work, XDG_RUNTIME_DIR: work } });
        break;
      } catch (err) {
        if (attempt >= 3 || !/: 500 \(Internal Server Error\)/.test(String(err))) throw err;
      }
    }
    return { reference, digest: (await readFile(digestFile, "utf8")).trim() };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
