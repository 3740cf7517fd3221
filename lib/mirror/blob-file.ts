// One downloaded blob's bytes into its bundle file, as one sink: each chunk of the response is
// hashed and counted where it arrives, and written in batches, one write at a time.
//
//   const received = await writeHashed(res.body, partial, { append: false, hash, onBytes });
//
// Not a Transform piped into an fs.WriteStream: that chain ran ~40 JavaScript functions and one
// write(2) per 16 KiB TLS record, the interpreter's whole cost in a pull with TurboFan off
// (docs/adr/0141). Here a record costs one 'data' call; a write carries up to BATCH_BYTES.
import { close, open, write } from "node:fs";
import type { Hash } from "node:crypto";
import type { Readable } from "node:stream";

/**
 * Bytes per write. Each chunk of the response is copied into one of these at once and dropped:
 * a chunk held until its batch is written outlives a young-generation collection or two, is
 * promoted, and its memory then waits for a full collection (holding chunks instead of copying
 * them took a pull's peak from 59 to 110–118 MiB).
 */
const BATCH_BYTES = 128 * 1024;

/**
 * Batch buffers not in use, shared by the downloads of a process: a download takes two (one
 * filling while the other is written) and gives them back, so a pull allocates about
 * 2 × --parallel of them whatever the number of blobs.
 */
const spare: Buffer[] = [];
const SPARE_KEPT = 16;

function takeBuffer(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
}

function giveBuffer(buf: Buffer): void {
  if (spare.length < SPARE_KEPT) spare.push(buf);
}

/** The response ended (socket closed, request aborted) before its last byte. */
class PrematureCloseError extends Error {
  override name = "PrematureCloseError";
  readonly code = "ERR_STREAM_PREMATURE_CLOSE";
}

/**
 * Streams `body` into `file` (truncated, or appended to with `append`), adding every byte to
 * `hash` and reporting it to `onBytes`. Resolves with the bytes received once all are written
 * and the file is closed; rejects with the body's error or the file's (the file is left as far
 * as it got: a later pull continues it).
 */
export function writeHashed(
  body: Readable,
  file: string,
  options: { append: boolean; hash: Hash; onBytes: (n: number) => void },
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    new BatchedWriter(body, options, resolve, reject).start(file, options.append);
  });
}

class BatchedWriter {
  #fd: number | undefined;
  #fill: Buffer | undefined;
  #filled = 0;
  /** The rest of a chunk that came while both buffers were taken: the body waits meanwhile. */
  #held: Buffer | undefined;
  /** This writer paused the body (and only then resumes it). */
  #paused = false;
  #received = 0;
  /** An open or a write in flight: the file is closed only after it returns. */
  #busy = false;
  #ended = false;
  #settled = false;
  #failure: { err: unknown } | undefined;

  constructor(
    private readonly body: Readable,
    private readonly options: { hash: Hash; onBytes: (n: number) => void },
    private readonly resolve: (received: number) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  start(file: string, append: boolean): void {
    const { body } = this;
    // listening before the file is open: an error meanwhile is this call's, not the process's
    body.once("end", () => {
      this.#ended = true;
      if (!this.#busy) this.#next();
    });
    body.once("error", err => this.#fail(err));
    body.once("close", () => {
      if (!this.#ended) this.#fail(new PrematureCloseError("the response ended early"));
    });
    this.#busy = true;
    open(file, append ? "a" : "w", (err, fd) => {
      this.#busy = false;
      if (!err) this.#fd = fd;
      if (err || this.#failure) {
        this.#fail(this.#failure?.err ?? err);
        return;
      }
      body.on("data", (chunk: Buffer) => {
        this.options.hash.update(chunk);
        this.#received += chunk.length;
        this.options.onBytes(chunk.length);
        this.#take(chunk);
      });
    });
  }

  /** Copies the chunk into the batch, starting a write each time one is full. */
  #take(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#filled === BATCH_BYTES) {
        if (this.#busy) {
          this.#held = chunk.subarray(offset);
          this.#paused = true;
          this.body.pause();
          return;
        }
        this.#next();
      }
      this.#fill ??= takeBuffer();
      const n = chunk.copy(this.#fill, this.#filled, offset);
      this.#filled += n;
      offset += n;
    }
    if (this.#filled === BATCH_BYTES && !this.#busy) this.#next();
  }

  /** Writes the batch, or finishes once the body has ended and all is written. */
  #next(): void {
    if (this.#settled || this.#fd === undefined) return;
    const fill = this.#fill;
    if (fill === undefined || this.#filled === 0) {
      if (this.#ended) this.#settle(null);
      return;
    }
    const bytes = this.#filled;
    this.#fill = undefined;
    this.#filled = 0;
    this.#write(this.#fd, fill, 0, bytes);
  }

  #write(fd: number, buf: Buffer, from: number, to: number): void {
    this.#busy = true;
    write(fd, buf, from, to - from, null, (err, written) => {
      this.#busy = false;
      if (err || this.#failure) {
        giveBuffer(buf);
        this.#fail(this.#failure?.err ?? err);
        return;
      }
      // a short write (a full disk says ENOSPC on the next one): the rest goes again
      if (from + written < to) return this.#write(fd, buf, from + written, to);
      giveBuffer(buf);
      this.#written();
    });
  }

  #written(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held !== undefined) this.#take(held);
    if (this.#ended) {
      if (!this.#busy) this.#next();
    } else if (this.#held === undefined) {
      if (this.#filled === BATCH_BYTES && !this.#busy) this.#next();
      if (this.#paused) {
        this.#paused = false;
        this.body.resume();
      }
    }
  }

  #fail(err: unknown): void {
    if (this.#settled) return;
    this.body.destroy();
    // an open or write in flight returns first, then fails the call (see start and #write)
    if (this.#busy) this.#failure ??= { err };
    else this.#settle(err);
  }

  /** Closes the file, then reports: the first error, the close's own (lost bytes), or done. */
  #settle(failure: unknown): void {
    this.#settled = true;
    if (this.#fill !== undefined) giveBuffer(this.#fill);
    this.#fill = undefined;
    const report = (closeErr: Error | null): void => {
      if (failure !== null) this.reject(failure);
      else if (closeErr) this.reject(closeErr);
      else this.resolve(this.#received);
    };
    if (this.#fd === undefined) report(null);
    else close(this.#fd, report);
  }
}
