// Writing blobs: monolithic, chunked from an async iterable, streamed from a source with the
// digest checked before the commit, and cross-repository mounts. A failed upload is cancelled.
import { createHash, type Hash } from "node:crypto";
import { Transform, type Readable } from "node:stream";
import type { RegistrySession } from "./auth";
import type { BlobHead, BlobRef, CallOptions } from "./blobs";
import type { OciErrorTarget } from "./errors";
import { assertDigest, assertRepositoryPath } from "./reference";
import { pullScope, pushScope, sha256, type Operation, type StreamBody } from "./transport";
import type { HttpResponse } from "./http";

export interface ChunkedUploadOptions extends CallOptions {
  /** Expected digest: checked before the upload is committed. */
  digest?: string;
  /** Bytes per PATCH; default 8 MiB. */
  chunkSize?: number;
}

/** A blob to upload without holding it: its size, and byte ranges opened as streams. */
export interface BlobSource {
  size: number;
  /** Bytes start..end-1. */
  open(start: number, end: number): Readable;
}

export interface StreamUploadOptions extends CallOptions {
  /** The blob's digest: every byte is hashed on its way out and nothing is committed otherwise. */
  digest: string;
  /** Blobs up to this size go in one PUT, larger ones in PATCH requests; default 16 MiB. */
  monolithicMaxBytes?: number;
  /** Bytes per PATCH of a larger blob; default 16 MiB. Each is streamed, never buffered. */
  chunkSize?: number;
  /** Bytes sent so far, called as they go (a retried request does not count twice). */
  onBytes?: (n: number) => void;
}

/** Monolithic upload: POST for a location, then one PUT with the whole blob. */
export async function uploadBlob(
  session: RegistrySession,
  repository: string,
  data: Uint8Array,
  options: CallOptions & { digest?: string },
): Promise<BlobHead> {
  const bytes = Buffer.from(data);
  const digest = sha256(bytes);
  const target = session.target(repository, options.digest ?? digest);
  const at = { op: "upload blob", target };
  if (options.digest !== undefined && options.digest !== digest) {
    throw session.error("invalid", at, `content digest is ${digest}`);
  }
  const location = await startUpload(session, repository, target, options.signal);
  const res = await session.send({
    ...at,
    method: "PUT",
    path: withQuery(location, { digest }),
    headers: { "content-type": "application/octet-stream" },
    body: bytes,
    scopes: [pushScope(repository)],
    ...(options.signal ? { signal: options.signal } : {}),
  });
  await session.expect(res, [201], at);
  await res.body.dump();
  return { digest, size: bytes.length };
}

/** See RegistryClient.uploadBlobFrom. */
export async function uploadBlobFrom(
  session: RegistrySession,
  repository: string,
  source: BlobSource,
  options: StreamUploadOptions,
): Promise<BlobHead> {
  assertDigest(options.digest);
  const target = session.target(repository, options.digest);
  const location = await startUpload(session, repository, target, options.signal);
  const upload = new StreamedUpload(session, { repository, target, location }, source, options);
  try {
    return await upload.run();
  } catch (err) {
    await cancelUpload(session, upload.location, repository);
    throw err;
  } finally {
    upload.destroy();
  }
}

/** A byte range of the blob as a request body that adds its bytes to the blob's hash. */
type Piece = StreamBody & { hash(): Hash };

/**
 * One streamed upload. The hash of the bytes committed so far is kept; each request hashes a
 * copy (a request the challenge flow sends twice hashes its bytes again), and the blob's last
 * bytes wait until digest and size match.
 */
class StreamedUpload {
  location: string;
  readonly #session: RegistrySession;
  readonly #repository: string;
  readonly #target: OciErrorTarget;
  readonly #source: BlobSource;
  readonly #options: StreamUploadOptions;
  #hashed = createHash("sha256");
  #reported = 0;
  #wrong: string | undefined;
  readonly #opened: Readable[] = [];

  constructor(
    session: RegistrySession,
    at: { repository: string; target: OciErrorTarget; location: string },
    source: BlobSource,
    options: StreamUploadOptions,
  ) {
    this.#session = session;
    this.#repository = at.repository;
    this.#target = at.target;
    this.location = at.location;
    this.#source = source;
    this.#options = options;
  }

  async run(): Promise<BlobHead> {
    const { digest } = this.#options;
    const { size } = this.#source;
    const monolithicMax = this.#options.monolithicMaxBytes ?? 16 * 1024 * 1024;
    const chunkSize = Math.max(1, this.#options.chunkSize ?? 16 * 1024 * 1024);
    if (size <= monolithicMax) {
      const path = withQuery(this.location, { digest });
      await this.#send({ op: "upload blob", method: "PUT", path }, this.#piece(0, size), 201);
      return { digest, size };
    }
    for (let offset = 0; offset < size; offset += chunkSize) {
      const end = Math.min(size, offset + chunkSize);
      const request = {
        op: "upload blob chunk",
        method: "PATCH" as const,
        path: this.location,
        headers: { "content-range": `${offset}-${end - 1}` },
      };
      const res = await this.#send(request, this.#piece(offset, end), 202);
      this.location = this.#session.location(res, { op: request.op, target: this.#target });
    }
    await commitUpload(this.#session, this.#repository, this.location, {
      digest,
      target: this.#target,
      signal: this.#options.signal,
    });
    return { digest, size };
  }

  destroy(): void {
    for (const stream of this.#opened) stream.destroy();
  }

  async #send(
    request: {
      op: string;
      method: "PUT" | "PATCH";
      path: string;
      headers?: Record<string, string>;
    },
    body: Piece,
    ok: number,
  ): Promise<HttpResponse> {
    const session = this.#session;
    const at = { op: request.op, target: this.#target };
    let res: HttpResponse;
    try {
      res = await session.send({
        ...request,
        headers: { "content-type": "application/octet-stream", ...request.headers },
        body,
        scopes: [pushScope(this.#repository)],
        target: this.#target,
        ...(this.#options.signal ? { signal: this.#options.signal } : {}),
      });
    } catch (err) {
      if (this.#wrong !== undefined) {
        throw session.error("invalid", { op: "upload blob", target: this.#target }, this.#wrong);
      }
      throw err;
    }
    await session.expect(res, [ok], at);
    await res.body.dump();
    this.#hashed = body.hash();
    return res;
  }

  /** A body of bytes start..end that adds them to the hash; the blob's last bytes wait for it. */
  #piece(start: number, end: number): Piece {
    let attempt = this.#hashed;
    return {
      length: end - start,
      hash: () => attempt,
      open: () => {
        attempt = this.#hashed.copy();
        const check = this.#checked(attempt, start, end);
        const file = this.#source.open(start, end);
        file.on("error", e => check.destroy(e));
        this.#opened.push(file, check);
        return file.pipe(check);
      },
    };
  }

  #checked(h: Hash, start: number, end: number): Transform {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the stream's callbacks have their own `this`
    const upload = this;
    const { size } = this.#source;
    const { digest } = this.#options;
    const last = end === size;
    let position = start;
    let held: Buffer | undefined;
    return new Transform({
      transform(chunk: Buffer, _enc, done) {
        h.update(chunk);
        position += chunk.length;
        upload.#progress(position);
        const out = held;
        held = last ? chunk : undefined;
        done(null, last ? out : chunk);
      },
      flush(done) {
        if (position !== end) {
          upload.#wrong = `content is ${position} bytes where ${end} were expected (blob of ${size})`;
        } else if (last) {
          const got = `sha256:${h.copy().digest("hex")}`;
          if (got !== digest) upload.#wrong = `content digest is ${got}`;
        }
        if (upload.#wrong !== undefined) done(new Error(upload.#wrong));
        else done(null, held);
      },
    });
  }

  /** Reports bytes past the furthest sent so far (a retried request does not count twice). */
  #progress(position: number): void {
    if (position > this.#reported) {
      this.#options.onBytes?.(position - this.#reported);
      this.#reported = position;
    }
  }
}

/** Chunked upload: PATCH per chunk with Content-Range, then PUT ?digest= to commit. */
export async function uploadBlobChunked(
  session: RegistrySession,
  repository: string,
  source: AsyncIterable<Uint8Array>,
  options: ChunkedUploadOptions,
): Promise<BlobHead> {
  const chunkSize = options.chunkSize ?? 8 * 1024 * 1024;
  const target = session.target(repository, options.digest ?? "upload");
  if (options.digest !== undefined) assertDigest(options.digest);
  let location = await startUpload(session, repository, target, options.signal);
  const hash = createHash("sha256");
  let offset = 0;
  const signal = options.signal ? { signal: options.signal } : {};
  const at = { op: "upload blob chunk", target };
  const patch = async (chunk: Buffer): Promise<void> => {
    const res = await session.send({
      ...at,
      method: "PATCH",
      path: location,
      headers: {
        "content-type": "application/octet-stream",
        "content-range": `${offset}-${offset + chunk.length - 1}`,
      },
      body: chunk,
      scopes: [pushScope(repository)],
      ...signal,
    });
    await session.expect(res, [202], at);
    await res.body.dump();
    location = session.location(res, at);
    offset += chunk.length;
  };
  try {
    for await (const chunk of inChunks(source, chunkSize, hash)) await patch(chunk);
    const digest = `sha256:${hash.digest("hex")}`;
    if (options.digest !== undefined && options.digest !== digest) {
      throw session.error("invalid", { op: "upload blob", target }, `content digest is ${digest}`);
    }
    await commitUpload(session, repository, location, {
      digest,
      target: session.target(repository, digest),
      signal: options.signal,
    });
    return { digest, size: offset };
  } catch (err) {
    await cancelUpload(session, location, repository);
    throw err;
  }
}

/** The source regrouped into chunks of `chunkSize` bytes (the last one shorter), all hashed. */
async function* inChunks(
  source: AsyncIterable<Uint8Array>,
  chunkSize: number,
  hash: Hash,
): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    const buf = Buffer.from(piece);
    hash.update(buf);
    pending.push(buf);
    pendingBytes += buf.length;
    while (pendingBytes >= chunkSize) {
      const all = Buffer.concat(pending);
      yield all.subarray(0, chunkSize);
      pending = [all.subarray(chunkSize)];
      pendingBytes = all.length - chunkSize;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

/** See RegistryClient.mountBlob. */
export async function mountBlob(
  session: RegistrySession,
  { repository, digest }: BlobRef,
  fromRepository: string,
  options: CallOptions,
): Promise<boolean> {
  const target = session.target(repository, digest);
  assertDigest(digest);
  assertRepositoryPath(fromRepository);
  const at = { op: "mount blob", target };
  const res = await session.send({
    ...at,
    method: "POST",
    path: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`,
    scopes: [pushScope(repository), pullScope(fromRepository)],
    ...options,
  });
  await session.expect(res, [201, 202], at);
  await res.body.dump();
  if (res.statusCode === 201) return true;
  await cancelUpload(session, session.location(res, at), repository);
  return false;
}

async function startUpload(
  session: RegistrySession,
  repository: string,
  target: OciErrorTarget,
  signal?: AbortSignal,
): Promise<string> {
  const at: Operation = { op: "start upload", target };
  const res = await session.send({
    ...at,
    method: "POST",
    path: `/v2/${repository}/blobs/uploads/`,
    scopes: [pushScope(repository)],
    ...(signal ? { signal } : {}),
  });
  await session.expect(res, [202], at);
  await res.body.dump();
  return session.location(res, at);
}

/** PUT ?digest= without a body: the upload's bytes are all sent. */
async function commitUpload(
  session: RegistrySession,
  repository: string,
  location: string,
  commit: { digest: string; target: OciErrorTarget; signal: AbortSignal | undefined },
): Promise<void> {
  const at = { op: "upload blob", target: commit.target };
  const res = await session.send({
    ...at,
    method: "PUT",
    path: withQuery(location, { digest: commit.digest }),
    scopes: [pushScope(repository)],
    ...(commit.signal ? { signal: commit.signal } : {}),
  });
  await session.expect(res, [201], at);
  await res.body.dump();
}

async function cancelUpload(
  session: RegistrySession,
  location: string,
  repository: string,
): Promise<void> {
  try {
    const res = await session.send({
      op: "cancel upload",
      method: "DELETE",
      path: location,
      scopes: [pushScope(repository)],
      target: { registry: session.registry, repository },
    });
    await res.body.dump();
  } catch {
    // best effort: the registry purges abandoned uploads itself
  }
}

function withQuery(location: string, params: Record<string, string>): string {
  const url = new URL(location);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.toString();
}
