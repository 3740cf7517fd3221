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
import { isRecord, Problems, type Section } from "../validation/reader";

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

/** Reads fail fast: the first problem is the ManifestParseError, `<field>: <rule>`. */
function problems(): Problems {
  return new Problems("manifest", {
    failFast: ({ field, rule }) => new ManifestParseError(`${field}: ${rule}`),
  });
}

function requiredString(s: Section, key: string): string {
  const v = s.get(key);
  if (typeof v !== "string") s.reject(key, "required string");
  return v as string;
}

function descriptor(s: Section): Descriptor {
  const mediaType = requiredString(s, "mediaType");
  const digest = requiredString(s, "digest");
  const size = s.get("size");
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0)
    s.reject("size", "required non-negative integer");
  const out: Descriptor = { mediaType, digest, size: size as number };
  const { annotations, urls } = s.value ?? {};
  if (isRecord(annotations)) out.annotations = annotations as Record<string, string>;
  if (Array.isArray(urls)) out.urls = urls.filter((u): u is string => typeof u === "string");
  return out;
}

function platform(s: Section): Platform | undefined {
  const v = s.get("platform");
  if (v === undefined) return undefined;
  if (!isRecord(v) || typeof v.architecture !== "string" || typeof v.os !== "string")
    s.reject("platform", "expected {architecture, os}");
  return v as unknown as Platform;
}

/** The descriptors under `key`, which must be a list (of mappings). */
function descriptors(s: Section, key: string): Section[] {
  if (!Array.isArray(s.get(key))) s.reject(key, "required array");
  return s.sections(key) ?? [];
}

/** Parses manifest bytes; throws ManifestParseError naming the offending field. */
export function parseManifest(bytes: Uint8Array, contentType?: string): ManifestDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new ManifestParseError("manifest: not JSON");
  }
  const root = problems().root(doc, "manifest", () => "expected a JSON object");
  const schemaVersion = root.value?.schemaVersion;
  if (schemaVersion !== 2) root.reject("schemaVersion", `expected 2, got ${String(schemaVersion)}`);
  const mediaType = mediaTypeOf(root, contentType);
  const annotations = isRecord(root.value?.annotations)
    ? { annotations: root.value.annotations as Record<string, string> }
    : {};
  switch (mediaType) {
    case OCI_INDEX:
    case DOCKER_MANIFEST_LIST:
      return { kind: "index", mediaType, manifests: indexEntries(doc), ...annotations };
    case OCI_MANIFEST:
    case DOCKER_MANIFEST: {
      const layerSections = descriptors(root, "layers");
      const config = descriptor(root.section("config", { required: true }) as Section);
      return {
        kind: "manifest",
        mediaType,
        config,
        layers: layerSections.map(descriptor),
        ...annotations,
      };
    }
  }
}

/** The document's own media type, else the Content-Type's, else the one its shape implies. */
function mediaTypeOf(root: Section, contentType: string | undefined): ManifestMediaType {
  const declared = root.value?.mediaType;
  if (typeof declared === "string") {
    if (!isManifestMediaType(declared)) root.reject("mediaType", `unsupported "${declared}"`);
    return declared as ManifestMediaType;
  }
  const header = contentType?.split(";")[0]?.trim();
  if (header && isManifestMediaType(header)) return header;
  return Array.isArray(root.value?.manifests) ? OCI_INDEX : OCI_MANIFEST;
}

/** An index's entries, each with its platform when it names one (errors under `index.`). */
function indexEntries(doc: unknown): ImageIndex["manifests"] {
  const index = problems().root(doc, "index");
  return descriptors(index, "manifests").map(m => {
    const d = descriptor(m);
    const p = platform(m);
    return p ? { ...d, platform: p } : d;
  });
}
