// Manifest documents of the four media types, parsed into one discriminated union.
//
//   parseManifest(bytes, contentType) → { kind: "manifest", config, layers } | { kind: "index", manifests }
//
// The media type comes from the document when it names one (OCI makes the field optional), else
// from the Content-Type the registry sent, else from the shape (`manifests` vs `layers`).
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  isManifestMediaType,
  OCI_INDEX,
  OCI_MANIFEST,
  type ManifestMediaType,
} from "./media-types";
import { isRecord } from "../validation/reader";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

export interface ImageManifest {
  kind: "manifest";
  mediaType: typeof OCI_MANIFEST | typeof DOCKER_MANIFEST;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  kind: "index";
  mediaType: typeof OCI_INDEX | typeof DOCKER_MANIFEST_LIST;
  manifests: Array<Descriptor & { platform?: Platform }>;
  annotations?: Record<string, string>;
}

export type ManifestDocument = ImageManifest | ImageIndex;

export class ManifestParseError extends Error {
  override name = "ManifestParseError";
}


function descriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v)) throw new ManifestParseError(`${what}: expected an object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== "string")
    throw new ManifestParseError(`${what}.mediaType: required string`);
  if (typeof digest !== "string") throw new ManifestParseError(`${what}.digest: required string`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new ManifestParseError(`${what}.size: required non-negative integer`);
  }
  const out: Descriptor = { mediaType, digest, size };
  if (isRecord(v.annotations)) out.annotations = v.annotations as Record<string, string>;
  if (Array.isArray(v.urls)) out.urls = v.urls.filter((u): u is string => typeof u === "string");
  return out;
}

function platform(v: unknown, what: string): Platform | undefined {
  if (v === undefined) return undefined;
  if (!isRecord(v) || typeof v.architecture !== "string" || typeof v.os !== "string") {
    throw new ManifestParseError(`${what}: expected {architecture, os}`);
  }
  return v as unknown as Platform;
}

/** Parses manifest bytes; throws ManifestParseError naming the offending field. */
export function parseManifest(bytes: Uint8Array, contentType?: string): ManifestDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new ManifestParseError("manifest: not JSON");
  }
  if (!isRecord(doc)) throw new ManifestParseError("manifest: expected a JSON object");
  if (doc.schemaVersion !== 2) {
    throw new ManifestParseError(
      `manifest.schemaVersion: expected 2, got ${String(doc.schemaVersion)}`,
    );
  }
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  const header = contentType?.split(";")[0]?.trim();
  let mediaType: ManifestMediaType;
  if (declared !== undefined) {
    if (!isManifestMediaType(declared)) {
      throw new ManifestParseError(`manifest.mediaType: unsupported "${declared}"`);
    }
    mediaType = declared;
  } else if (header && isManifestMediaType(header)) {
    mediaType = header;
  } else {
    mediaType = Array.isArray(doc.manifests) ? OCI_INDEX : OCI_MANIFEST;
  }
  const annotations = isRecord(doc.annotations)
    ? { annotations: doc.annotations as Record<string, string> }
    : {};
  switch (mediaType) {
    case OCI_INDEX:
    case DOCKER_MANIFEST_LIST: {
      if (!Array.isArray(doc.manifests))
        throw new ManifestParseError("index.manifests: required array");
      const manifests = doc.manifests.map((m, i) => {
        const d = descriptor(m, `index.manifests[${i}]`);
        const p = platform(isRecord(m) ? m.platform : undefined, `index.manifests[${i}].platform`);
        return p ? { ...d, platform: p } : d;
      });
      return { kind: "index", mediaType, manifests, ...annotations };
    }
    case OCI_MANIFEST:
    case DOCKER_MANIFEST: {
      if (!Array.isArray(doc.layers))
        throw new ManifestParseError("manifest.layers: required array");
      return {
        kind: "manifest",
        mediaType,
        config: descriptor(doc.config, "manifest.config"),
        layers: doc.layers.map((l, i) => descriptor(l, `manifest.layers[${i}]`)),
        ...annotations,
      };
    }
  }
}
