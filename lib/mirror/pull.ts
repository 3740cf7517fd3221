// mirror pull: resolve the requested images at the source, then fill a bundle with their
// manifests, indexes (every platform) and blobs, de-duplicated, every digest verified.
//
//   const plan = await planPull({ client, repository: "deckhouse/ee", images: [{ repository: "", tag: "v1.70.0" }] });
//   await pull(plan, { bundle, parallel: 4, progress })   → PullSummary
//
// Resumable: blobs already in the bundle (size and digest checked) are not downloaded again, and
// a partial download continues with a Range request from where it stopped. index.json is written
// last, so an interrupted pull leaves no tag in the bundle that looks complete.
import { createHash } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { RegistryClient } from "../oci/client";
import { OciError } from "../oci/errors";
import type { Descriptor } from "../oci/manifest";
import {
  blobPath,
  hasVerifiedBlob,
  imageName,
  initBundle,
  partialDir,
  partialPath,
  writeIndex,
  type BundleImage,
} from "./bundle";
import { writeHashed } from "./blob-file";
import { MirrorError } from "./errors";
import { walkImage, type ManifestNode } from "./graph";
import { Phases } from "./phases";
import { runPool } from "./pool";
import { releaseDigests } from "./release";
import { silentProgress, type Progress } from "./progress";

export interface ImageRequest {
  /** Repository relative to the source; "" for the source repository itself. */
  repository: string;
  tag?: string;
  digest?: string;
}

export interface PlannedImage {
  image: BundleImage;
  name: string;
  manifests: ManifestNode[];
  /** Blobs this image adds to the plan (shared ones belong to the first image that uses them). */
  blobs: Descriptor[];
  /** Bytes of every blob of the image, shared or not. */
  size: number;
}

export interface PullPlan {
  registry: string;
  repository: string;
  images: PlannedImage[];
  /** Unique blobs → the full repository to fetch them from. */
  blobSources: Map<string, string>;
  totalBytes: number;
}

export interface PullSummary {
  images: number;
  manifests: number;
  blobs: number;
  downloadedBlobs: number;
  downloadedBytes: number;
  /** Blobs found complete in the bundle (earlier or interrupted pull). */
  reusedBlobs: number;
  reusedBytes: number;
  totalBytes: number;
  seconds: number;
}

export function fullRepository(root: string, relative: string): string {
  return relative === "" ? root : `${root}/${relative}`;
}

/** A requested image with its place in the request and where it is fetched from. */
interface ResolvedRequest {
  request: ImageRequest;
  index: number;
  reference: string;
  repo: string;
}

type ImageGraph = Awaited<ReturnType<typeof walkImage>>;

/** Resolving requests at the source: the client, the call's signal and the phase timer. */
interface SourceReader {
  client: RegistryClient;
  call: { signal?: AbortSignal };
  phases: Phases;
}

/**
 * Resolves every requested image at the source, `parallel` images at a time (default 4); all
 * missing tags are reported together. Blobs shared by several images belong to the first one in
 * request order, whatever order the answers came in.
 */
export async function planPull(options: {
  client: RegistryClient;
  repository: string;
  images: readonly ImageRequest[];
  parallel?: number;
  signal?: AbortSignal;
  phases?: Phases;
}): Promise<PullPlan> {
  const { client, repository } = options;
  const source: SourceReader = {
    client,
    call: options.signal ? { signal: options.signal } : {},
    phases: options.phases ?? new Phases(),
  };
  const requests = options.images.map((request, index) => {
    const reference = request.digest ?? request.tag;
    if (reference === undefined)
      throw new MirrorError("usage", "image request needs a tag or a digest");
    return { request, index, reference, repo: fullRepository(repository, request.repository) };
  });
  const graphs = await resolveRequests(source, requests, options.parallel ?? 4);
  return { registry: client.registry, repository, ...assemblePlan(requests, graphs) };
}

/** Each request's root descriptor and manifest graph, by request index; throws for missing ones. */
async function resolveRequests(
  source: SourceReader,
  requests: readonly ResolvedRequest[],
  parallel: number,
): Promise<Array<{ root: Descriptor; graph: ImageGraph }>> {
  const missing: Array<string | undefined> = [];
  const resolved: Array<{ root: Descriptor; graph: ImageGraph }> = [];
  await runPool(requests, parallel, async ({ index, reference, repo }) => {
    let manifest: ManifestNode & { size: number };
    try {
      manifest = await fetchManifest(source, repo, reference);
    } catch (err) {
      if (err instanceof OciError && err.kind === "not-found") {
        missing[index] = `${source.client.registry}/${repo}:${reference}`.replace(
          /:(sha256:)/,
          "@$1",
        );
        return;
      }
      throw err;
    }
    const root = { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size };
    const graph = await walkImage(root, async d =>
      d.digest === manifest.digest ? manifest : fetchManifest(source, repo, d.digest),
    );
    resolved[index] = { root, graph };
  });
  const notFound = missing.filter((m): m is string => m !== undefined);
  if (notFound.length > 0) {
    throw new MirrorError(
      "not-found",
      `not found at the source (nothing was written): ${notFound.join(", ")}`,
    );
  }
  return resolved;
}

async function fetchManifest(
  { client, call, phases }: SourceReader,
  repo: string,
  reference: string,
): Promise<ManifestNode & { size: number }> {
  const m = await phases.time(
    "manifest fetch",
    () => client.getManifest(repo, reference, call),
    got => got.size,
  );
  return {
    digest: m.digest,
    mediaType: m.mediaType,
    bytes: m.bytes,
    document: m.document,
    size: m.size,
  };
}

/** The planned images in request order; a shared blob belongs to the first image that uses it. */
function assemblePlan(
  requests: readonly ResolvedRequest[],
  graphs: ReadonlyArray<{ root: Descriptor; graph: ImageGraph }>,
): Pick<PullPlan, "images" | "blobSources" | "totalBytes"> {
  const images: PlannedImage[] = [];
  const blobSources = new Map<string, string>();
  let totalBytes = 0;
  for (const { request, index, repo } of requests) {
    const { root, graph } = graphs[index] as { root: Descriptor; graph: ImageGraph };
    const own: Descriptor[] = [];
    for (const blob of graph.blobs) {
      if (!blobSources.has(blob.digest)) {
        blobSources.set(blob.digest, repo);
        own.push(blob);
        totalBytes += blob.size;
      }
    }
    const image: BundleImage = {
      repository: request.repository,
      ...(request.digest === undefined && request.tag !== undefined ? { tag: request.tag } : {}),
      descriptor: root,
    };
    images.push({
      image,
      name: imageName({ ...image, digest: root.digest }),
      manifests: graph.manifests,
      blobs: own,
      size: graph.blobs.reduce((s, b) => s + b.size, 0),
    });
  }
  return { images, blobSources, totalBytes };
}

export async function pull(
  client: RegistryClient,
  plan: PullPlan,
  options: {
    bundle: string;
    parallel?: number;
    progress?: Progress;
    signal?: AbortSignal;
    /** Default true; false when the caller pulls more before the bundle is complete. */
    writeIndex?: boolean;
    phases?: Phases;
  },
): Promise<PullSummary> {
  const started = performance.now();
  const phases = options.phases ?? new Phases();
  const progress = options.progress ?? silentProgress;
  const { bundle } = options;
  const store: BundleStore = {
    client,
    bundle,
    call: options.signal ? { signal: options.signal } : {},
  };
  await initBundle(bundle);
  const summary: PullSummary = {
    images: plan.images.length,
    manifests: 0,
    blobs: plan.blobSources.size,
    downloadedBlobs: 0,
    downloadedBytes: 0,
    reusedBlobs: 0,
    reusedBytes: 0,
    totalBytes: plan.totalBytes,
    seconds: 0,
  };
  // manifests first: small, already in memory, and verified by the client against their digests
  summary.manifests = await writeManifests(bundle, plan.images, phases);
  progress.begin(
    "pull",
    plan.images.map(i => ({ name: i.name, bytes: i.blobs.reduce((s, b) => s + b.size, 0) })),
    plan.totalBytes,
  );
  const pending = new Map(plan.images.map(i => [i.name, i.blobs.length]));
  const tasks = plan.images.flatMap(i => i.blobs.map(blob => ({ image: i.name, blob })));
  for (const [name, count] of pending) if (count === 0) progress.imageDone(name);
  await runPool(tasks, options.parallel ?? 4, async ({ image, blob }) => {
    const repo = plan.blobSources.get(blob.digest) ?? plan.repository;
    const found = await phases.time("bundle check", () =>
      hasVerifiedBlob(bundle, blob.digest, blob.size),
    );
    if (found) {
      summary.reusedBlobs++;
      summary.reusedBytes += blob.size;
      progress.advance(image, blob.size);
    } else {
      const fetched = await phases.time(
        "blob download",
        () => downloadBlob(store, repo, blob, n => progress.advance(image, n)),
        n => n,
      );
      summary.downloadedBlobs++;
      summary.downloadedBytes += fetched;
    }
    const left = (pending.get(image) ?? 1) - 1;
    pending.set(image, left);
    if (left === 0) progress.imageDone(image);
  });
  if (options.writeIndex !== false)
    await phases.time("bundle write", () => completeBundle(bundle, plan.images));
  progress.end();
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/** Writes each distinct manifest of `images` into the bundle; returns how many. */
async function writeManifests(
  bundle: string,
  images: readonly PlannedImage[],
  phases: Phases,
): Promise<number> {
  const written = new Set<string>();
  for (const planned of images) {
    for (const m of planned.manifests) {
      if (written.has(m.digest)) continue;
      written.add(m.digest);
      await phases.time(
        "bundle write",
        () => writeAtomically(blobPath(bundle, m.digest), m.bytes),
        () => m.bytes.length,
      );
    }
  }
  return written.size;
}

/** Where one pull's blobs come from and go to; built once per pull, never per blob. */
interface BundleStore {
  client: RegistryClient;
  bundle: string;
  call: { signal?: AbortSignal };
}

/**
 * Streams one blob into the bundle under a temporary name, continuing a partial file with a Range
 * request; renames it to its digest once size and digest match. Returns the bytes fetched.
 */
async function downloadBlob(
  { client, bundle, call }: BundleStore,
  repository: string,
  blob: Descriptor,
  onBytes: (n: number) => void,
): Promise<number> {
  const partial = partialPath(bundle, blob.digest);
  const found = await stat(partial).then(
    s => s.size,
    () => 0,
  );
  const offset = found < blob.size ? found : 0;
  const hash = createHash("sha256");
  if (offset > 0) {
    const fh = await open(partial, "r");
    try {
      const buf = Buffer.alloc(1 << 20);
      for (let pos = 0; pos < offset;) {
        const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, offset - pos), pos);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  const res = await client.getBlob(repository, blob.digest, {
    ...call,
    ...(offset > 0 ? { range: { start: offset } } : {}),
  });
  if (offset > 0 && (res.range === undefined || res.range.start !== offset)) {
    // the registry ignored the range and sends the whole blob: start the file over
    return writeBody(createHash("sha256"), 0);
  }
  if (offset > 0) onBytes(offset);
  return writeBody(hash, offset);

  async function writeBody(h: ReturnType<typeof createHash>, from: number): Promise<number> {
    let received: number;
    try {
      received = await writeHashed(res.body, partial, { append: from > 0, hash: h, onBytes });
    } catch (err) {
      throw networkOrDisk(err, `GET blob ${client.registry}/${repository}@${blob.digest}`);
    }
    const size = from + received;
    const digest = `sha256:${h.digest("hex")}`;
    if (digest !== blob.digest || size !== blob.size) {
      await rm(partial, { force: true });
      throw new MirrorError(
        "protocol",
        `GET blob ${client.registry}/${repository}@${blob.digest}: received ${size} bytes with digest ${digest} (expected ${blob.size} bytes)`,
      );
    }
    await rename(partial, blobPath(bundle, blob.digest));
    return received;
  }
}

function networkOrDisk(err: unknown, what: string): unknown {
  if (err instanceof OciError || err instanceof MirrorError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code) && !code.startsWith("ECONN")) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new MirrorError("network", `${what}: connection interrupted (${why})`);
}

async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  // the same bytes, not only the same size: a damaged copy is replaced (a new pull repairs it)
  const exists = await readFile(file).then(
    b => b.equals(bytes),
    () => false,
  );
  if (exists) return;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, bytes);
  await rename(`${file}.tmp`, file);
}

/** Marks the bundle complete: index.json with these images (merged), temporary files gone. */
export async function completeBundle(
  bundle: string,
  images: readonly PlannedImage[],
): Promise<void> {
  await writeIndex(
    bundle,
    images.map(i => i.image),
  );
  await rm(partialDir(bundle), { recursive: true, force: true });
}

/**
 * The module images the release images among `images` list in their images_digests.json (read
 * from the bundle: call after pull), minus those already planned; pinned by digest in the root.
 */
export async function releaseImageRequests(
  bundle: string,
  images: readonly PlannedImage[],
): Promise<ImageRequest[]> {
  const planned = new Set(images.map(i => i.image.descriptor.digest));
  const out = new Set<string>();
  for (const image of images) {
    // every platform carries the same metadata: the first image manifest is enough
    const manifest = image.manifests.find(m => m.document.kind === "manifest");
    if (manifest === undefined || manifest.document.kind !== "manifest") continue;
    const digests = await releaseDigests(bundle, manifest.document.layers);
    for (const d of digests ?? []) if (!planned.has(d)) out.add(d);
  }
  return [...out].map(digest => ({ repository: "", digest }));
}
