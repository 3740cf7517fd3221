// writeHashed, the sink a pull streams each blob into (lib/mirror/blob-file.ts): every byte in
// the file and the hash whatever the chunk sizes, appends, a reader slower than the network (a
// FIFO read at our pace: the body must wait, nothing lost or reordered), and failures — a body
// that errors or ends early (a real HTTP answer cut short by its server), a file that cannot be
// opened, an error before the file is open — each failing the call, never the process.
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeHashed } from "../../lib/mirror/blob-file";
import { NodeHttp } from "../../lib/oci/http";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mirror-blob-file-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** `bytes` cut into chunks of the given sizes, repeated until all are given. */
function chunked(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length] as number;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

async function sink(body: Readable, file: string, append = false) {
  const hash = createHash("sha256");
  let reported = 0;
  const received = await writeHashed(body, file, {
    append,
    hash,
    onBytes: n => (reported += n),
  });
  return { received, reported, digest: hash.digest("hex") };
}

describe("writeHashed", () => {
  it("puts every byte in the file and the hash, chunks from 1 byte to larger than a batch", async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 77);
    const file = join(dir, "whole");
    const got = await sink(
      Readable.from(chunked(bytes, [1, 16_384, 7, 300_000, 131_072, 65_536, 999])),
      file,
    );
    expect(got.received).toBe(bytes.length);
    expect(got.reported).toBe(bytes.length);
    expect(got.digest).toBe(sha(bytes));
    expect((await readFile(file)).equals(bytes)).toBe(true);
  });

  it("an empty body makes an empty file", async () => {
    const file = join(dir, "empty");
    await writeFile(file, "old content");
    const got = await sink(Readable.from([]), file);
    expect(got.received).toBe(0);
    expect(await readFile(file)).toHaveLength(0);
  });

  it("appends to a partial file (a pull continuing with a Range request)", async () => {
    const head = randomBytes(100_000);
    const tail = randomBytes(500_000);
    const file = join(dir, "partial");
    await writeFile(file, head);
    const got = await sink(Readable.from(chunked(tail, [16_384])), file, true);
    expect(got.received).toBe(tail.length);
    expect((await readFile(file)).equals(Buffer.concat([head, tail]))).toBe(true);
  });

  it("a reader slower than the body: the body waits, nothing is lost or reordered", async () => {
    // a FIFO read 4 KiB at a time with pauses: writes stay in flight while chunks keep coming
    const fifo = join(dir, "slow.fifo");
    execFileSync("mkfifo", [fifo]);
    const bytes = randomBytes(2 * 1024 * 1024);
    const body = new PassThrough({ highWaterMark: 16_384 });
    const read = (async () => {
      const parts: Buffer[] = [];
      const reader = createReadStream(fifo, { highWaterMark: 4096 });
      for await (const part of reader) {
        parts.push(part as Buffer);
        if (parts.length % 64 === 0) await new Promise(r => setTimeout(r, 2));
      }
      return Buffer.concat(parts);
    })();
    const written = sink(body, fifo);
    let paused = 0;
    for (const chunk of chunked(bytes, [16_384])) {
      if (!body.write(chunk)) {
        paused++;
        await new Promise(r => body.once("drain", r));
      }
    }
    body.end();
    const got = await written;
    expect(got.digest).toBe(sha(bytes));
    expect(paused).toBeGreaterThan(0);
    expect((await read).equals(bytes)).toBe(true);
  });

  it("a body that fails midway fails the call; the file holds a prefix a later pull continues", async () => {
    const bytes = randomBytes(1024 * 1024);
    const file = join(dir, "failed");
    const body = new PassThrough();
    const written = sink(body, file);
    for (const chunk of chunked(bytes, [16_384]).slice(0, 40)) body.write(chunk);
    await new Promise(r => setTimeout(r, 50));
    body.destroy(new Error("connection reset by the test"));
    await expect(written).rejects.toThrow("connection reset by the test");
    const kept = await readFile(file);
    expect(kept.length).toBeLessThanOrEqual(40 * 16_384);
    expect(kept.equals(bytes.subarray(0, kept.length))).toBe(true);
  });

  it("an HTTP answer its server cuts short fails the call, not the process", async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { "content-length": String(4 * 1024 * 1024) });
      res.write(randomBytes(300_000), () => res.socket?.destroy());
    });
    await new Promise<void>(r => server.listen(0, "127.0.0.1", r));
    const http = new NodeHttp({ connections: 1, timeoutMs: 10_000 });
    try {
      const { port } = server.address() as AddressInfo;
      const res = await http.request({
        origin: `http://127.0.0.1:${port}`,
        path: "/blob",
        method: "GET",
        headers: {},
      });
      const written = sink(res.body, join(dir, "cut"));
      await expect(written).rejects.toMatchObject({ code: expect.stringMatching(/^E|^ERR_/) });
    } finally {
      await http.close();
      await new Promise(r => server.close(r));
    }
  });

  it("a body that ends before its last byte without an error is a premature close", async () => {
    const body = new PassThrough();
    const written = sink(body, join(dir, "premature"));
    body.write(randomBytes(1000));
    await new Promise(r => setTimeout(r, 20));
    body.destroy();
    await expect(written).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
  });

  it("a file that cannot be opened fails the call with the file's error; the body is released", async () => {
    const body = Readable.from([randomBytes(1000)]);
    await expect(sink(body, join(dir, "no-such-dir", "blob"))).rejects.toMatchObject({
      code: "ENOENT",
    });
    expect(body.destroyed).toBe(true);
  });

  it("a body that errors while the file is being opened fails the call, not the process", async () => {
    const body = new PassThrough();
    const written = sink(body, join(dir, "early"));
    body.destroy(new Error("failed before the file was open"));
    await expect(written).rejects.toThrow("failed before the file was open");
  });
});
