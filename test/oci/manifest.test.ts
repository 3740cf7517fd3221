import { describe, expect, it } from "vitest";
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  OCI_INDEX,
  OCI_MANIFEST,
  parseManifest,
} from "../../lib/oci";

const d = (c: string) => ({ mediaType: "x", digest: `sha256:${c.repeat(64)}`, size: 1 });
const bytes = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("parseManifest", () => {
  it("takes the media type from the document, then Content-Type, then the shape", () => {
    const manifest = { schemaVersion: 2, config: d("a"), layers: [d("b")] };
    expect(parseManifest(bytes({ ...manifest, mediaType: DOCKER_MANIFEST })).mediaType).toBe(
      DOCKER_MANIFEST,
    );
    expect(parseManifest(bytes(manifest), `${DOCKER_MANIFEST}; charset=utf-8`).mediaType).toBe(
      DOCKER_MANIFEST,
    );
    expect(parseManifest(bytes(manifest))).toMatchObject({
      kind: "manifest",
      mediaType: OCI_MANIFEST,
    });
    const index = {
      schemaVersion: 2,
      manifests: [{ ...d("c"), platform: { architecture: "arm64", os: "linux" } }],
    };
    expect(parseManifest(bytes(index))).toMatchObject({ kind: "index", mediaType: OCI_INDEX });
    expect(parseManifest(bytes({ ...index, mediaType: DOCKER_MANIFEST_LIST }))).toMatchObject({
      kind: "index",
      manifests: [{ platform: { architecture: "arm64" } }],
    });
  });

  it.each([
    ["not json", "manifest: not JSON"],
    [JSON.stringify({ schemaVersion: 1 }), "manifest.schemaVersion: expected 2, got 1"],
    [
      JSON.stringify({ schemaVersion: 2, mediaType: "text/plain" }),
      'manifest.mediaType: unsupported "text/plain"',
    ],
    [JSON.stringify({ schemaVersion: 2, config: d("a") }), "manifest.layers: required array"],
    [
      JSON.stringify({ schemaVersion: 2, config: {}, layers: [] }),
      "manifest.config.mediaType: required string",
    ],
    [
      JSON.stringify({ schemaVersion: 2, manifests: [{ ...d("a"), size: -1 }] }),
      "index.manifests[0].size: required non-negative integer",
    ],
  ])("refuses %s", (input, message) => {
    expect(() => parseManifest(Buffer.from(input))).toThrow(message);
  });
});
