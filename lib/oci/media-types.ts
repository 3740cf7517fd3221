// Media types of the manifests and configs the client reads and writes.
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";

export type ManifestMediaType =
  typeof OCI_MANIFEST | typeof OCI_INDEX | typeof DOCKER_MANIFEST | typeof DOCKER_MANIFEST_LIST;

export const MANIFEST_MEDIA_TYPES: readonly ManifestMediaType[] = [
  OCI_INDEX,
  OCI_MANIFEST,
  DOCKER_MANIFEST_LIST,
  DOCKER_MANIFEST,
];

/**
 * Every manifest type we understand. Registries pick the stored form only when the client accepts
 * it: distribution 2.8 answers an index or a v2s2 list with `MANIFEST_UNKNOWN` (or a schema 1
 * down-conversion) when the type is missing from Accept.
 */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(", ");

export function isManifestMediaType(value: string): value is ManifestMediaType {
  return (MANIFEST_MEDIA_TYPES as readonly string[]).includes(value);
}
