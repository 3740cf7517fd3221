// A platform release names the module images it runs: Deckhouse ships their digests in the release
// image as `images_digests.json` ({ModuleCamel: {imageCamel: "sha256:…"}}, the same map as
// `global.modulesImages.digests`, docs/architecture.md#checker). mirror pull reads it from the release layers it has
// just put in the bundle (no second download) and pulls those digests from the same repository.
import { createReadStream } from "node:fs";
import { createGunzip } from "node:zlib";
import type { Descriptor } from "../oci/manifest";
import { isDigest } from "../oci/reference";
import { blobPath } from "./bundle";
import { isRecord, Problems, type Section } from "../validation/reader";

const DIGESTS_FILE = /(^|\/)images_digests\.json$/;

export class ReleaseMetadataError extends Error {
  override name = "ReleaseMetadataError";
}

/**
 * The digests listed by the first `images_digests.json` found in `layers` (searched top layer
 * first, as the image's filesystem shows them), or undefined when none has it.
 */
export async function releaseDigests(
  bundle: string,
  layers: readonly Descriptor[],
): Promise<string[] | undefined> {
  for (const layer of [...layers].reverse()) {
    const text = await findInLayer(bundle, layer);
    if (text !== undefined) return parseImagesDigests(text, layer.digest);
  }
  return undefined;
}

/** `{Module: {image: digest}}` → sorted unique digests; names the offending key otherwise. */
export function parseImagesDigests(text: string, where: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ReleaseMetadataError(`images_digests.json in ${where}: not JSON`);
  }
  // fields are named as jq paths (`.Module.image`), after the file they are in
  const problems = new Problems(`images_digests.json in ${where}`, {
    failFast: ({ field, rule }) =>
      new ReleaseMetadataError(
        `images_digests.json in ${where}: ${field ? `.${field} ` : ""}${rule}`,
      ),
  });
  const root = problems.root(doc, "", () => "expected an object of modules");
  const out = new Set<string>();
  for (const module of root.keys()) {
    if (!isRecord(root.value?.[module])) root.reject(module, "must be an object of images");
    const images = root.section(module) as Section;
    for (const image of images.keys()) {
      const digest = images.get(image);
      if (typeof digest !== "string" || !isDigest(digest) || !digest.startsWith("sha256:")) {
        images.reject(image, "must be sha256:<64 hex>");
        continue;
      }
      out.add(digest);
    }
  }
  return [...out].sort();
}

async function findInLayer(bundle: string, layer: Descriptor): Promise<string | undefined> {
  const type = layer.mediaType;
  const gzip = type.endsWith("gzip") || type.endsWith(".tar.gzip");
  if (!gzip && !type.endsWith(".tar") && !type.endsWith("tar")) return undefined; // zstd, foreign
  const file = createReadStream(blobPath(bundle, layer.digest));
  const stream = gzip ? file.pipe(createGunzip()) : file;
  try {
    return await scanTar(stream, DIGESTS_FILE);
  } finally {
    file.destroy();
    stream.destroy();
  }
}

/** Streams a tar archive; returns the text of the first regular file whose path matches. */
export async function scanTar(
  source: AsyncIterable<unknown>,
  wanted: RegExp,
): Promise<string | undefined> {
  let buf = Buffer.alloc(0);
  let skip = 0;
  let collect: { size: number; parts: Buffer[]; got: number } | undefined;
  let longName: string | undefined;
  let collectingLongName = false;
  for await (const piece of source) {
    buf = Buffer.concat([buf, piece as Buffer]);
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, buf.length);
        buf = buf.subarray(n);
        skip -= n;
        if (skip > 0) break;
        continue;
      }
      if (collect) {
        const n = Math.min(collect.size - collect.got, buf.length);
        collect.parts.push(buf.subarray(0, n));
        collect.got += n;
        buf = buf.subarray(n);
        if (collect.got < collect.size) break;
        const text = Buffer.concat(collect.parts).toString("utf8");
        const size = collect.size;
        collect = undefined;
        skip = (512 - (size % 512)) % 512;
        if (collectingLongName) {
          longName = text.replace(/\0.*$/s, "");
          collectingLongName = false;
          continue;
        }
        return text;
      }
      if (buf.length < 512) break;
      const header = buf.subarray(0, 512);
      buf = buf.subarray(512);
      if (header.every(b => b === 0)) return undefined;
      const field = (start: number, len: number) =>
        header
          .subarray(start, start + len)
          .toString("utf8")
          .replace(/\0.*$/s, "");
      const size = parseInt(field(124, 12).trim() || "0", 8);
      const typeflag = field(156, 1);
      const prefix = field(257, 6).startsWith("ustar") ? field(345, 155) : "";
      const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
      longName = undefined;
      const padded = size + ((512 - (size % 512)) % 512);
      if (typeflag === "L") {
        collectingLongName = true;
        collect = { size, parts: [], got: 0 };
      } else if ((typeflag === "0" || typeflag === "") && wanted.test(name.replace(/^\.\//, ""))) {
        collect = { size, parts: [], got: 0 };
      } else {
        skip = padded;
      }
    }
  }
  return undefined;
}
