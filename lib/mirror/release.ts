// A platform release names the module images it runs: Deckhouse ships their digests in the release
// image as `images_digests.json` ({ModuleCamel: {imageCamel: "sha256:…"}}, the same map as
// `global.modulesImages.digests`, docs/architecture.md#checker). mirror pull reads it from the
// release layers it has just put in the bundle (no second download) and pulls those digests from
// the same repository.
import { createReadStream } from "node:fs";
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
  // zlib only when a release is read: loading it costs every other run ~1 MiB
  const stream = gzip ? file.pipe((await import("node:zlib")).createGunzip()) : file;
  try {
    return await scanTar(stream, DIGESTS_FILE);
  } finally {
    file.destroy();
    stream.destroy();
  }
}

/** Where a tar scan stands between pieces of the stream: one per scan, changed in place. */
interface TarScan {
  wanted: RegExp;
  /** Bytes received and not consumed yet. */
  buf: Buffer;
  /** Bytes still to pass over: an unwanted entry, or the padding after one. */
  skip: number;
  /** The entry being read: the wanted file or a GNU long name. */
  collect: { size: number; parts: Buffer[]; got: number } | undefined;
  collectingLongName: boolean;
  /** The GNU long name the next header's entry carries. */
  longName: string | undefined;
}

/** `drain`'s answer when the buffer ran out before the scan could decide. */
const NEED_MORE = Symbol("need more");

/** Streams a tar archive; returns the text of the first regular file whose path matches. */
export async function scanTar(
  source: AsyncIterable<unknown>,
  wanted: RegExp,
): Promise<string | undefined> {
  const scan: TarScan = {
    wanted,
    buf: Buffer.alloc(0),
    skip: 0,
    collect: undefined,
    collectingLongName: false,
    longName: undefined,
  };
  for await (const piece of source) {
    scan.buf = Buffer.concat([scan.buf, piece as Buffer]);
    const outcome = drain(scan);
    if (outcome !== NEED_MORE) return outcome;
  }
  return undefined;
}

/** Consumes the buffer: the wanted file's text, undefined at the archive's end, or NEED_MORE. */
function drain(scan: TarScan): string | undefined | typeof NEED_MORE {
  for (;;) {
    if (scan.skip > 0) {
      if (!skipped(scan)) return NEED_MORE;
      continue;
    }
    if (scan.collect) {
      const text = collected(scan, scan.collect);
      if (text === undefined) return NEED_MORE;
      if (!scan.collectingLongName) return text;
      scan.longName = text.replace(/\0.*$/s, "");
      scan.collectingLongName = false;
      continue;
    }
    if (scan.buf.length < 512) return NEED_MORE;
    const header = scan.buf.subarray(0, 512);
    scan.buf = scan.buf.subarray(512);
    // two zero blocks end an archive: the first one is enough to stop
    if (header.every(b => b === 0)) return undefined;
    readHeader(scan, header);
  }
}

/** Passes over what the buffer holds of the bytes to skip; true once all are passed. */
function skipped(scan: TarScan): boolean {
  const n = Math.min(scan.skip, scan.buf.length);
  scan.buf = scan.buf.subarray(n);
  scan.skip -= n;
  return scan.skip === 0;
}

/** Takes the entry's bytes from the buffer; its text once complete (its padding then skipped). */
function collected(scan: TarScan, collect: NonNullable<TarScan["collect"]>): string | undefined {
  const n = Math.min(collect.size - collect.got, scan.buf.length);
  collect.parts.push(scan.buf.subarray(0, n));
  collect.got += n;
  scan.buf = scan.buf.subarray(n);
  if (collect.got < collect.size) return undefined;
  scan.collect = undefined;
  scan.skip = (512 - (collect.size % 512)) % 512;
  return Buffer.concat(collect.parts).toString("utf8");
}

/** A ustar header: collect the wanted regular file or a GNU long name, skip anything else. */
function readHeader(scan: TarScan, header: Buffer): void {
  const size = parseInt(headerField(header, 124, 12).trim() || "0", 8);
  const typeflag = headerField(header, 156, 1);
  const prefix = headerField(header, 257, 6).startsWith("ustar")
    ? headerField(header, 345, 155)
    : "";
  const base = headerField(header, 0, 100);
  const name = scan.longName ?? (prefix ? `${prefix}/${base}` : base);
  scan.longName = undefined;
  if (typeflag === "L") {
    scan.collectingLongName = true;
    scan.collect = { size, parts: [], got: 0 };
  } else if ((typeflag === "0" || typeflag === "") && scan.wanted.test(name.replace(/^\.\//, ""))) {
    scan.collect = { size, parts: [], got: 0 };
  } else {
    scan.skip = size + ((512 - (size % 512)) % 512);
  }
}

/** A NUL-terminated text field of a tar header. */
function headerField(header: Buffer, start: number, len: number): string {
  return header
    .subarray(start, start + len)
    .toString("utf8")
    .replace(/\0.*$/s, "");
}
