// Image references and repository names, by the grammar of distribution's `reference` package:
//
//   parseRepository("registry.example.com:5000/deckhouse/ee") → { registry, repository }
//   parseImageReference("reg.io/a/b:v1.2@sha256:…")          → { registry, repository, tag, digest }
//   formatReference(ref)                                      → canonical string
//   repoint(ref, repo)                                        → same tag/digest in another repository
//
// A name without a registry part (`ubuntu`, `library/ubuntu`) is on Docker Hub, as Docker reads
// it. Image references must be explicit: a tag or a digest is required (no implicit `latest`).
import { OciError } from "./errors";

export interface RepositoryName {
  /** `host[:port]` as written (lower-cased), `docker.io` for Hub names. */
  registry: string;
  /** Path inside the registry, e.g. `deckhouse/ee`. */
  repository: string;
}

export interface ImageReference extends RepositoryName {
  tag?: string;
  digest?: string;
}

const COMPONENT = "[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*";
const PATH = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(
  `^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`,
);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;

export const DOCKER_HUB = "docker.io";

function invalid(what: string, value: string, rule: string): OciError {
  return new OciError("invalid", `${what} "${value}": ${rule}`, { registry: "" });
}

/** Throws unless `digest` is `algorithm:encoded`; sha256 digests must be 64 lowercase hex. */
export function assertDigest(digest: string): void {
  if (!DIGEST.test(digest) || (digest.startsWith("sha256:") && !SHA256.test(digest))) {
    throw invalid("digest", digest, "expected sha256:<64 lowercase hex>");
  }
}

export function isDigest(reference: string): boolean {
  return DIGEST.test(reference) && (!reference.startsWith("sha256:") || SHA256.test(reference));
}

function splitRegistry(name: string): RepositoryName {
  const slash = name.indexOf("/");
  const first = slash < 0 ? name : name.slice(0, slash);
  const isHost =
    first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("[");
  if (slash >= 0 && isHost) {
    if (!DOMAIN.test(first)) throw invalid("registry", first, "not a host[:port]");
    return { registry: first.toLowerCase(), repository: name.slice(slash + 1) };
  }
  // Docker Hub: single names live under library/
  return { registry: DOCKER_HUB, repository: slash < 0 ? `library/${name}` : name };
}

/** A repository address such as `registry.example.com/deckhouse/ee` (no tag, no digest). */
export function parseRepository(address: string): RepositoryName {
  const value = address.trim();
  if (value === "") throw invalid("repository", address, "empty");
  if (/^[a-z]+:\/\//i.test(value)) {
    throw invalid("repository", address, "no scheme allowed (the scheme is a separate setting)");
  }
  if (value.includes("@")) throw invalid("repository", address, "no digest allowed");
  const trimmed = value.replace(/\/+$/, "");
  if (trimmed.lastIndexOf(":") > trimmed.lastIndexOf("/")) {
    throw invalid("repository", address, "no tag allowed (or a registry host without a path)");
  }
  const name = splitRegistry(trimmed);
  if (!PATH.test(name.repository)) {
    throw invalid(
      "repository",
      address,
      "path components must be lowercase [a-z0-9] separated by '.', '_', '__', '-' or '/'",
    );
  }
  return name;
}

/** `registry/repository[:tag][@digest]`; at least one of tag and digest is required. */
export function parseImageReference(reference: string): ImageReference {
  const value = reference.trim();
  let rest = value;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw invalid("image reference", reference, "invalid digest");
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const lastColon = rest.lastIndexOf(":");
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) {
      throw invalid(
        "image reference",
        reference,
        "tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
      );
    }
  }
  if (tag === undefined && digest === undefined) {
    throw invalid("image reference", reference, "needs a tag (:tag) or a digest (@sha256:…)");
  }
  let name: RepositoryName;
  try {
    name = parseRepository(rest);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw invalid("image reference", reference, why);
  }
  return {
    ...name,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

export function formatRepository(name: RepositoryName): string {
  return `${name.registry}/${name.repository}`;
}

export function formatReference(ref: ImageReference): string {
  return (
    formatRepository(ref) +
    (ref.tag === undefined ? "" : `:${ref.tag}`) +
    (ref.digest === undefined ? "" : `@${ref.digest}`)
  );
}

/** The same tag and digest in another repository (an image re-pointed to a mirror). */
export function repoint(ref: ImageReference, to: RepositoryName): ImageReference {
  return {
    registry: to.registry,
    repository: to.repository,
    ...(ref.tag === undefined ? {} : { tag: ref.tag }),
    ...(ref.digest === undefined ? {} : { digest: ref.digest }),
  };
}

/** What the registry API is asked for: the digest when there is one, else the tag. */
export function manifestReference(ref: ImageReference): string {
  const value = ref.digest ?? ref.tag;
  if (value === undefined)
    throw invalid("image reference", formatReference(ref), "no tag or digest");
  return value;
}

/** Validates a tag or digest used directly as a manifest reference. */
export function assertManifestReference(reference: string): void {
  if (!TAG.test(reference) && !isDigest(reference)) {
    throw invalid("manifest reference", reference, "expected a tag or sha256:<64 hex>");
  }
}

export function assertRepositoryPath(repository: string): void {
  if (!PATH.test(repository)) {
    throw invalid(
      "repository",
      repository,
      "path components must be lowercase [a-z0-9] separated by '.', '_', '__', '-' or '/'",
    );
  }
}
