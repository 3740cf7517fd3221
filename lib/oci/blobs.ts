// Reading blobs: HEAD, presence checks, streamed GETs (ranged, or checked against the digest
// as they stream) and whole small blobs.
import { createHash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import type { RegistrySession } from "./auth";
import { OciError } from "./errors";
import { assertDigest } from "./reference";
import { header, isRedirect, pullScope, sha256 } from "./transport";

export interface CallOptions {
  signal?: AbortSignal;
}

export interface BlobHead {
  digest: string;
  size: number;
}

export interface BlobResponse {
  /** Total blob size when the registry said it (Content-Length, or the Content-Range total). */
  size?: number;
  /** Set when the registry honoured the range (206). */
  range?: { start: number; end: number };
  /** The body: consume it or destroy it. */
  body: Readable;
}

export interface GetBlobOptions extends CallOptions {
  range?: { start: number; end?: number };
  /**
   * Check a whole (not ranged) sha256 blob against its digest while it streams: the last
   * chunk is held back until the check passes, so a reader never sees every byte of a blob
   * that turns out wrong; on a mismatch the body fails with an OciError naming the digest.
   */
  verify?: boolean;
}

/** A blob of one repository, as the registry client's blob calls take it. */
export interface BlobRef {
  repository: string;
  digest: string;
}

export async function headBlob(
  session: RegistrySession,
  { repository, digest }: BlobRef,
  options: CallOptions,
): Promise<BlobHead> {
  const target = session.target(repository, digest);
  assertDigest(digest);
  const op = "HEAD blob";
  const res = await session.send({
    op,
    method: "HEAD",
    path: `/v2/${repository}/blobs/${digest}`,
    scopes: [pullScope(repository)],
    target,
    followRedirects: true,
    ...options,
  });
  await session.expect(res, [200], { op, target });
  await res.body.dump();
  return { digest, size: Number(header(res, "content-length") ?? 0) };
}

/** See RegistryClient.hasBlobKeepAlive. */
export async function hasBlobKeepAlive(
  session: RegistrySession,
  { repository, digest }: BlobRef,
  options: CallOptions,
): Promise<boolean> {
  const target = session.target(repository, digest);
  assertDigest(digest);
  const op = "check blob";
  const res = await session.send({
    op,
    method: "GET",
    path: `/v2/${repository}/blobs/${digest}`,
    headers: { range: "bytes=0-0" },
    scopes: [pullScope(repository)],
    target,
    ...options,
  });
  if (res.statusCode === 404) {
    await res.body.dump();
    return false;
  }
  if (isRedirect(res.statusCode)) {
    await res.body.dump();
    return true;
  }
  await session.expect(res, [200, 206], { op, target });
  // a registry that ignores the range sends the whole blob: drop the connection instead
  if (res.statusCode === 200 && Number(header(res, "content-length") ?? 0) > 64 * 1024)
    res.body.destroy();
  else await res.body.dump();
  return true;
}

export async function getBlob(
  session: RegistrySession,
  { repository, digest }: BlobRef,
  options: GetBlobOptions,
): Promise<BlobResponse> {
  const target = session.target(repository, digest);
  assertDigest(digest);
  const { range, verify, ...call } = options;
  const headers: Record<string, string> = {};
  if (range) headers.range = `bytes=${range.start}-${range.end ?? ""}`;
  const at = { op: "GET blob", target };
  const res = await session.send({
    ...at,
    method: "GET",
    path: `/v2/${repository}/blobs/${digest}`,
    headers,
    scopes: [pullScope(repository)],
    followRedirects: true,
    ...call,
  });
  await session.expect(res, [200, 206], at);
  const length = header(res, "content-length");
  if (res.statusCode === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, "content-range") ?? "");
    if (!m) {
      await res.body.dump();
      throw session.error("protocol", at, "206 without a valid Content-Range");
    }
    return {
      ...(m[3] === "*" ? {} : { size: Number(m[3]) }),
      range: { start: Number(m[1]), end: Number(m[2]) },
      body: res.body,
    };
  }
  const size = length === undefined ? undefined : Number(length);
  if (!verify || !digest.startsWith("sha256:")) {
    return { ...(size === undefined ? {} : { size }), body: res.body };
  }
  const body = res.body.pipe(
    verifyingStream(digest, size, (got, gotSize) =>
      session.error(
        "protocol",
        at,
        `content does not match its digest: received ${gotSize} bytes with digest ${got}` +
          (size !== undefined ? ` (announced ${size})` : ""),
      ),
    ),
  );
  res.body.on("error", e => body.destroy(e));
  body.on("close", () => res.body.destroy());
  return { ...(size === undefined ? {} : { size }), body };
}

/** A whole blob in memory, checked against its digest. */
export async function getBlobBytes(
  session: RegistrySession,
  blob: BlobRef,
  options: CallOptions,
): Promise<Buffer> {
  const { body } = await getBlob(session, blob, options);
  const at = { op: "GET blob", target: session.target(blob.repository, blob.digest) };
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  } catch (err) {
    throw session.wrap(err, at);
  }
  const bytes = Buffer.concat(chunks);
  if (blob.digest.startsWith("sha256:") && sha256(bytes) !== blob.digest) {
    throw session.error("protocol", at, `content digest is ${sha256(bytes)}`);
  }
  return bytes;
}

/** Passes a blob through, holding its last chunk until the digest (and size) check passes. */
function verifyingStream(
  digest: string,
  size: number | undefined,
  mismatch: (got: string, gotSize: number) => Error,
): Transform {
  const hash = createHash("sha256");
  let held: Buffer | undefined;
  let received = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received += chunk.length;
      const out = held;
      held = chunk;
      done(null, out);
    },
    flush(done) {
      const got = `sha256:${hash.digest("hex")}`;
      if (got !== digest || (size !== undefined && received !== size)) {
        done(mismatch(got, received));
        return;
      }
      done(null, held);
    },
  });
}

/** True for an OciError of kind not-found (a 404). */
export function isNotFound(err: unknown): boolean {
  return err instanceof OciError && err.kind === "not-found";
}
