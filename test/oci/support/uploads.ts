// Checks both engines of RegistryClient share (test/oci/client.test.ts on undici,
// test/oci/node-engine.test.ts on node:http): the same registry answers must give the same
// outcome on either.
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { expect } from "vitest";
import { OciError, type RegistryClient } from "../../../lib/oci";

/** The OciError `p` rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(p: Promise<unknown>): Promise<OciError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OciError);
  return err as OciError;
}

/**
 * A streamed upload whose bytes do not match its digest, in one PUT and in PATCH pieces: refused
 * as invalid with the digest the bytes have, and nothing committed under the claimed digest.
 */
export async function expectWrongDigestRefused(
  reg: RegistryClient,
  chunkSize?: number,
): Promise<void> {
  const bytes = Buffer.alloc(300_000, 7);
  const wrong = `sha256:${"4".repeat(64)}`;
  const source = {
    size: bytes.length,
    open: (start: number, end: number) => Readable.from([bytes.subarray(start, end)]),
  };
  for (const monolithicMaxBytes of [1 << 20, 1000]) {
    const err = await rejection(
      reg.uploadBlobFrom("bad/stream", source, {
        digest: wrong,
        monolithicMaxBytes,
        ...(chunkSize ? { chunkSize } : {}),
      }),
    );
    expect(err.kind).toBe("invalid");
    expect(err.message).toContain(
      `content digest is sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    );
    expect(await reg.hasBlob("bad/stream", wrong)).toBe(false);
  }
}
