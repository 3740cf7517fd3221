// The bundle: an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) holding every image
// of a mirror pull in one de-duplicated blob store. Manifests and indexes are blobs too.
//
//   index.json entries: top-level manifests/indexes, annotated with
//     org.opencontainers.image.ref.name   the tag ("v1.70.0"), or "<sub/repo>:<tag>" outside the root
//     io.deckhouse.mirror.repository      repository relative to the source ("" = the source itself)
//     io.deckhouse.mirror.tag             the tag (absent for images pinned by digest)
//
// index.json is written last and atomically: a bundle with an index.json is complete, and a
// partial blob never has its final name (downloads land in .mirror-partial/ and are renamed once
// their digest is verified).
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Descriptor } from "../oci/manifest";
import { OCI_INDEX } from "../oci/media-types";
import { assertDigest } from "../oci/reference";
import { isRecord, Problems } from "../validation/reader";

export const REF_NAME = "org.opencontainers.image.ref.name";
export const REPOSITORY_ANNOTATION = "io.deckhouse.mirror.repository";
export const TAG_ANNOTATION = "io.deckhouse.mirror.tag";
const PARTIAL_DIR = ".mirror-partial";

export interface BundleImage {
  /** Repository relative to the source/target root; "" for the root itself. */
  repository: string;
  /** Absent when the image is kept by digest only. */
  tag?: string;
  descriptor: Descriptor;
}

export class BundleError extends Error {
  override name = "BundleError";
}

/** A bundle blob whose content does not match its digest: a new `mirror pull` repairs it. */
export class CorruptBlobError extends BundleError {
  override name = "CorruptBlobError";
  constructor(
    readonly digest: string,
    why: string,
  ) {
    super(`bundle blob ${digest} is corrupt: ${why}`);
  }
}

export function blobPath(bundle: string, digest: string): string {
  assertDigest(digest);
  const [algorithm, hex] = digest.split(":") as [string, string];
  return join(bundle, "blobs", algorithm, hex);
}

export function partialPath(bundle: string, digest: string): string {
  assertDigest(digest);
  return join(bundle, PARTIAL_DIR, digest.replace(":", "-"));
}

export function partialDir(bundle: string): string {
  return join(bundle, PARTIAL_DIR);
}

export async function initBundle(bundle: string): Promise<void> {
  await mkdir(join(bundle, "blobs", "sha256"), { recursive: true });
  await mkdir(join(bundle, PARTIAL_DIR), { recursive: true });
  await writeFile(join(bundle, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

/** A display name: `repo:tag`, `repo@digest`, with "" shown as the root `.`. */
export function imageName(image: Pick<BundleImage, "repository" | "tag"> & { digest?: string }) {
  const repo = image.repository === "" ? "." : image.repository;
  return image.tag !== undefined ? `${repo}:${image.tag}` : `${repo}@${image.digest ?? "?"}`;
}

function entryOf(image: BundleImage): Descriptor {
  const annotations: Record<string, string> = { [REPOSITORY_ANNOTATION]: image.repository };
  if (image.tag !== undefined) {
    annotations[TAG_ANNOTATION] = image.tag;
    annotations[REF_NAME] =
      image.repository === "" ? image.tag : `${image.repository}:${image.tag}`;
  }
  const { mediaType, digest, size } = image.descriptor;
  return { mediaType, digest, size, annotations };
}

/** Replaces the index with `images` merged over what it had (same repository+tag/digest wins). */
export async function writeIndex(bundle: string, images: readonly BundleImage[]): Promise<void> {
  const existing = await readIndex(bundle).catch(() => [] as BundleImage[]);
  const key = (i: BundleImage): string => `${i.repository}\0${i.tag ?? i.descriptor.digest}`;
  const merged = new Map(existing.map(i => [key(i), i]));
  for (const image of images) merged.set(key(image), image);
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [...merged.values()].map(entryOf),
  };
  const file = join(bundle, "index.json");
  await writeFile(`${file}.tmp`, JSON.stringify(index, null, 1));
  await rename(`${file}.tmp`, file);
}

/** The images of a complete bundle; throws a BundleError naming what is wrong. */
export async function readIndex(bundle: string): Promise<BundleImage[]> {
  let layout: unknown;
  try {
    layout = JSON.parse(await readFile(join(bundle, "oci-layout"), "utf8"));
  } catch {
    throw new BundleError(`bundle ${bundle}: oci-layout missing or not JSON (not an OCI layout)`);
  }
  const problems = new Problems(`bundle ${bundle}`, {
    failFast: ({ field, rule }) => new BundleError(`bundle ${bundle}: ${field}: ${rule}`),
  });
  if (!isRecord(layout) || layout.imageLayoutVersion !== "1.0.0")
    problems.add("oci-layout.imageLayoutVersion", 'must be "1.0.0"');
  let index: unknown;
  try {
    index = JSON.parse(await readFile(join(bundle, "index.json"), "utf8"));
  } catch {
    throw new BundleError(
      `bundle ${bundle}: index.json missing or not JSON (an interrupted pull writes it last: run the pull again)`,
    );
  }
  const root = problems.root(index, "index.json");
  if (!Array.isArray(root.value?.manifests)) root.reject("manifests", "must be an array");
  return (root.sections("manifests") ?? []).map((item): BundleImage => {
    const { mediaType, digest, size } = item.value ?? {};
    if (typeof mediaType !== "string" || typeof digest !== "string" || typeof size !== "number")
      problems.add(item.path, "mediaType, digest and size are required");
    try {
      assertDigest(digest as string);
    } catch {
      item.reject("digest", "expected sha256:<64 lowercase hex>");
    }
    const m = item.value as Record<string, unknown>;
    const annotations = isRecord(m.annotations) ? m.annotations : {};
    const repoValue = annotations[REPOSITORY_ANNOTATION];
    const repository = typeof repoValue === "string" ? repoValue : "";
    const tagValue = annotations[TAG_ANNOTATION] ?? annotations[REF_NAME];
    const tag = typeof tagValue === "string" ? tagValue.replace(/^.*:/, "") : undefined;
    return {
      repository,
      ...(tag === undefined ? {} : { tag }),
      descriptor: {
        mediaType: mediaType as string,
        digest: digest as string,
        size: size as number,
      },
    };
  });
}

/** sha256 of a file, streamed. */
export async function hashFile(file: string): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** True when the bundle holds the blob with the expected size and digest. */
export async function hasVerifiedBlob(
  bundle: string,
  digest: string,
  size: number,
): Promise<boolean> {
  const file = blobPath(bundle, digest);
  try {
    if ((await stat(file)).size !== size) return false;
  } catch {
    return false;
  }
  return (await hashFile(file)).digest === digest;
}

/**
 * A blob's bytes, checked against its descriptor. `verify: false` skips the sha256 pass for
 * callers whose consumer checks the digest anyway (the client's upload with a promised digest).
 */
export async function readBlob(
  bundle: string,
  descriptor: Descriptor,
  options: { verify?: boolean } = {},
): Promise<Buffer> {
  const file = blobPath(bundle, descriptor.digest);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    throw new BundleError(`bundle blob ${descriptor.digest} is missing (${file})`);
  }
  if (options.verify === false && bytes.length === descriptor.size) return bytes;
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  if (digest !== descriptor.digest || bytes.length !== descriptor.size) {
    throw new CorruptBlobError(
      descriptor.digest,
      `content digest is ${digest}, ${bytes.length} bytes (expected ${descriptor.size})`,
    );
  }
  return bytes;
}
