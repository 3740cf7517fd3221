// What the cluster needs (docs/architecture.md#checker): the image digests of the critical embedded
// modules (`global.modulesImages.digests.<moduleCamel>.<imageCamel>`) and the images of the
// `d8-system/deckhouse` Deployment, turned into queue items for one target repository.
//
//   const images = collectRequiredImages({ modules, digests, deckhouse });
//   buildQueueItems(images, parseRepository("reg.example.com/deckhouse/ee"), "Default")
//
// Default: every module digest as `<repo>@<digest>` plus every deckhouse container and init
// container image re-pointed to the repo (tag stays tag, digest stays digest). Relax: only the
// `deckhouse` container, which must be a tag. Items are sorted by image.
import type { CheckMode } from "../domain/settings";
// the OCI modules themselves, not the barrel (it brings the HTTP client; see params.ts)
import { OciError } from "../oci/errors";
import {
  formatReference,
  isDigest,
  parseImageReference,
  repoint,
  type RepositoryName,
} from "../oci/reference";
import type { QueueItem } from "./state";
import { isRecord, Problems, type Section } from "../validation/reader";

export interface DeckhouseImages {
  containers: Record<string, string>;
  initContainers: Record<string, string>;
}

export interface RequiredImages {
  /** digest → info (`module/<kebab-module>/<kebab-image>`), first module (sorted) wins. */
  moduleDigests: Map<string, string>;
  deckhouse: DeckhouseImages;
}

export class RequiredImagesError extends Error {
  override name = "RequiredImagesError";
}

/** `nodeManager` / `NodeManager` / `node-manager` → `nodeManager` (the digests' key form). */
export function lowerCamel(name: string): string {
  const parts = name.split(/[-_.\s]+/).filter(Boolean);
  return parts
    .map((p, i) => (i === 0 ? p[0]!.toLowerCase() + p.slice(1) : p[0]!.toUpperCase() + p.slice(1)))
    .join("");
}

/** `nodeManagerAgent` → `node-manager-agent`. */
export function kebab(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1-$2")
    .replace(/[_\s.]+/g, "-")
    .toLowerCase();
}

export function collectRequiredImages(input: {
  /** Names of the modules whose images are required (any case form). */
  modules: readonly string[];
  /** `global.modulesImages.digests`. */
  digests: unknown;
  deckhouse: DeckhouseImages | undefined;
}): RequiredImages {
  if (input.modules.length === 0) {
    throw new RequiredImagesError("modules snapshot contains no entries");
  }
  if (!input.deckhouse) {
    throw new RequiredImagesError("Deployment d8-system/deckhouse is missing from the snapshot");
  }
  const problems = new Problems("required images", {
    failFast: ({ field, rule }) => new RequiredImagesError(`${field}: ${rule}`),
  });
  const all = problems.root(
    isRecord(input.digests) ? input.digests : {},
    "global.modulesImages.digests",
  );
  const moduleDigests = new Map<string, string>();
  for (const module of [...new Set(input.modules.map(lowerCamel))].sort()) {
    if (all.value?.[module] === undefined) continue;
    const images = all.section(module, { required: true }) as Section;
    for (const image of images.keys().sort()) {
      const digest = images.get(image);
      if (typeof digest !== "string" || !isDigest(digest)) {
        images.reject(image, "must be a digest (sha256:<64 hex>)");
        continue;
      }
      if (!moduleDigests.has(digest)) {
        moduleDigests.set(digest, `module/${kebab(module)}/${kebab(image)}`);
      }
    }
  }
  if (moduleDigests.size === 0) throw new RequiredImagesError("modules has no images");
  return { moduleDigests, deckhouse: input.deckhouse };
}

function repointed(image: string, repo: RepositoryName) {
  let ref;
  try {
    ref = parseImageReference(image);
  } catch (err) {
    const why = err instanceof OciError ? err.message : String(err);
    throw new RequiredImagesError(`failed to parse image reference "${image}": ${why}`);
  }
  // a reference with both keeps only the digest: that is what is pulled
  return repoint(ref.digest ? { ...ref, tag: undefined } : ref, repo);
}

export function buildQueueItems(
  images: RequiredImages,
  repo: RepositoryName,
  mode: CheckMode,
): QueueItem[] {
  const byImage = new Map<string, string>();
  const add = (image: string, info: string): void => {
    if (!byImage.has(image)) byImage.set(image, info);
  };
  switch (mode) {
    case "Relax": {
      const image = images.deckhouse.containers.deckhouse;
      if (image === undefined) {
        throw new RequiredImagesError(
          'Deployment d8-system/deckhouse has no container "deckhouse"',
        );
      }
      const ref = repointed(image, repo);
      if (ref.digest !== undefined) {
        throw new RequiredImagesError(
          `expected deckhouse image reference to be a tag, but got: ${formatReference(ref)}`,
        );
      }
      add(formatReference(ref), "deckhouse/containers/deckhouse");
      break;
    }
    case "Default": {
      for (const [digest, info] of images.moduleDigests) {
        add(formatReference({ ...repo, digest }), info);
      }
      for (const kind of ["containers", "initContainers"] as const) {
        const containers = images.deckhouse[kind];
        for (const name of Object.keys(containers).sort()) {
          add(
            formatReference(repointed(containers[name] as string, repo)),
            `deckhouse/${kind}/${name}`,
          );
        }
      }
      break;
    }
  }
  return [...byImage]
    .map(([image, info]) => ({ image, info }))
    .sort((a, b) => (a.image < b.image ? -1 : a.image > b.image ? 1 : 0));
}
