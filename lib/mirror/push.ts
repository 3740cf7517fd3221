// mirror push: a bundle into a registry under a target path (`…/system/deckhouse`): blobs first
// (skipping those present, mounting from a repository this push already filled, else monolithic
// or chunked uploads), then manifests children before indexes, then tags (an image pinned by
// digest gets its digest's hex as tag: pushTag). A tag is the last thing
// written for its image, so an interrupted push never leaves a tag over incomplete content; the
// next run skips every blob and manifest already there.
//
//   const summary = await push(client, bundle, "system/deckhouse", { parallel: 4, progress });
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import type { RegistryClient } from "../oci/client";
import { OciError } from "../oci/errors";
import { parseManifest, type Descriptor } from "../oci/manifest";
import {
  blobPath,
  BundleError,
  CorruptBlobError,
  hashFile,
  imageName,
  readBlob,
  readIndex,
  type BundleImage,
} from "./bundle";
import { walkImage, type ManifestNode } from "./graph";
import { Phases } from "./phases";
import { runPool } from "./pool";
import { silentProgress, type Progress } from "./progress";
import { fullRepository } from "./pull";

/**
 * Bytes per read of a bundle blob being uploaded: a few of these are all a push holds. 64 KiB, not
 * 256: reads of 256 KiB left malloc's heap ~8 MiB larger at the peak (docs/adr/0140).
 */
const READ_BUFFER = 64 * 1024;

export interface PushOptions {
  parallel?: number;
  progress?: Progress;
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks. Default 16 MiB. */
  monolithicMaxBytes?: number;
  /** Bytes per PATCH of a chunked upload; default 16 MiB. */
  chunkBytes?: number;
  /** Only plan: nothing is sent but HEAD requests. */
  dryRun?: boolean;
  signal?: AbortSignal;
  phases?: Phases;
}

export interface PushSummary {
  images: number;
  tags: number;
  blobs: number;
  uploadedBlobs: number;
  uploadedBytes: number;
  mountedBlobs: number;
  /** Blobs the registry already had (an earlier or interrupted push, or shared content). */
  presentBlobs: number;
  manifestsPut: number;
  manifestsPresent: number;
  totalBytes: number;
  seconds: number;
}

interface PlannedPush {
  image: BundleImage;
  name: string;
  repository: string;
  manifests: ManifestNode[];
  blobs: Descriptor[];
}

/** One blob to put: every repository that needs it, and the image its bytes count towards. */
interface BlobTask {
  blob: Descriptor;
  repos: string[];
  image: string;
}

/** What every step of one push shares; built once per push, never per blob or manifest. */
interface PushRun {
  client: RegistryClient;
  bundle: string;
  call: { signal?: AbortSignal };
  dryRun: boolean;
  monolithicMax: number;
  chunkSize: number;
  parallel: number;
  phases: Phases;
  progress: Progress;
  summary: PushSummary;
  /** `repo@digest` of blobs and manifests a repository did not have when this push began. */
  absent: Set<string>;
}

/** The progress callback of a blob whose bytes were already counted in another repository. */
const UNCOUNTED = (): void => {};

export async function push(
  client: RegistryClient,
  bundle: string,
  target: string,
  options: PushOptions = {},
): Promise<PushSummary> {
  const started = performance.now();
  const run = startPush(client, bundle, options);
  const planned = await planImages(run, target);
  const blobTasks = blobTasksOf(planned);
  const pending = beginProgress(run, planned, blobTasks);
  await runPool([...blobTasks.values()], run.parallel, async task => {
    await pushBlob(run, task);
    const left = (pending.get(task.image) ?? 1) - 1;
    pending.set(task.image, left);
    if (left === 0) run.progress.imageDone(task.image);
  });
  await pushManifests(run, planned);
  await pushTags(run, planned);
  run.progress.end();
  run.summary.seconds = (performance.now() - started) / 1000;
  return run.summary;
}

function startPush(client: RegistryClient, bundle: string, options: PushOptions): PushRun {
  return {
    client,
    bundle,
    call: options.signal ? { signal: options.signal } : {},
    dryRun: options.dryRun ?? false,
    monolithicMax: options.monolithicMaxBytes ?? 16 * 1024 * 1024,
    chunkSize: options.chunkBytes ?? 16 * 1024 * 1024,
    parallel: options.parallel ?? 4,
    phases: options.phases ?? new Phases(),
    progress: options.progress ?? silentProgress,
    summary: {
      images: 0,
      tags: 0,
      blobs: 0,
      uploadedBlobs: 0,
      uploadedBytes: 0,
      mountedBlobs: 0,
      presentBlobs: 0,
      manifestsPut: 0,
      manifestsPresent: 0,
      totalBytes: 0,
      seconds: 0,
    },
    absent: new Set<string>(),
  };
}

/** Every image of the bundle with its manifests (children first) and blobs, read once each. */
async function planImages(run: PushRun, target: string): Promise<PlannedPush[]> {
  const { bundle, phases } = run;
  const images = await readIndex(bundle);
  const planned: PlannedPush[] = [];
  const manifestCache = new Map<string, ManifestNode>();
  for (const image of images) {
    const graph = await walkImage(image.descriptor, async d => {
      const cached = manifestCache.get(d.digest);
      if (cached) return cached;
      const bytes = await phases.time(
        "bundle read",
        () => readBlob(bundle, d),
        b => b.length,
      );
      const node = {
        digest: d.digest,
        mediaType: d.mediaType,
        bytes,
        document: parseManifest(bytes, d.mediaType),
      };
      manifestCache.set(d.digest, node);
      return node;
    });
    planned.push({
      image,
      name: imageName({ ...image, digest: image.descriptor.digest }),
      repository: fullRepository(target, image.repository),
      manifests: graph.manifests,
      blobs: graph.blobs,
    });
  }
  return planned;
}

/** One task per blob, keyed by digest: a blob shared by images or repositories is sent once. */
function blobTasksOf(planned: readonly PlannedPush[]): Map<string, BlobTask> {
  const blobTasks = new Map<string, BlobTask>();
  for (const p of planned) {
    for (const blob of p.blobs) {
      const task = blobTasks.get(blob.digest);
      if (task === undefined)
        blobTasks.set(blob.digest, { blob, repos: [p.repository], image: p.name });
      else if (!task.repos.includes(p.repository)) task.repos.push(p.repository);
    }
  }
  return blobTasks;
}

/**
 * Fills the summary's totals and starts the progress display; returns the blobs each image still
 * waits for (images with none are reported done at once).
 */
function beginProgress(
  run: PushRun,
  planned: readonly PlannedPush[],
  blobTasks: ReadonlyMap<string, BlobTask>,
): Map<string, number> {
  const imageBytes = new Map<string, number>();
  const pending = new Map<string, number>();
  let totalBytes = 0;
  for (const t of blobTasks.values()) {
    imageBytes.set(t.image, (imageBytes.get(t.image) ?? 0) + t.blob.size);
    pending.set(t.image, (pending.get(t.image) ?? 0) + 1);
    totalBytes += t.blob.size;
  }
  run.summary.images = planned.length;
  run.summary.blobs = blobTasks.size;
  run.summary.totalBytes = totalBytes;
  run.progress.begin(
    run.dryRun ? "push (dry run)" : "push",
    planned.map(p => ({ name: p.name, bytes: imageBytes.get(p.name) ?? 0 })),
    totalBytes,
  );
  for (const p of planned) if (!pending.has(p.name)) run.progress.imageDone(p.name);
  return pending;
}

/**
 * Puts one blob into every repository that needs it. The first repository that has it (found
 * there or put there) is the holder later ones mount from; its bytes count once in the progress.
 */
async function pushBlob(run: PushRun, task: BlobTask): Promise<void> {
  const { blob, repos, image } = task;
  const { summary, progress } = run;
  let holder: string | undefined;
  for (const repo of repos) {
    if (
      await run.phases.time("blob check", () =>
        run.client.hasBlobKeepAlive(repo, blob.digest, run.call),
      )
    ) {
      summary.presentBlobs++;
      if (holder === undefined) progress.advance(image, blob.size);
      holder ??= repo;
      continue;
    }
    run.absent.add(`${repo}@${blob.digest}`);
    await putBlob(run, task, repo, holder);
    holder ??= repo;
  }
}

/** A blob `repo` lacks: counted only in a dry run, else mounted from `holder` or uploaded. */
async function putBlob(
  run: PushRun,
  { blob, image }: BlobTask,
  repo: string,
  holder: string | undefined,
): Promise<void> {
  const { summary, progress } = run;
  if (run.dryRun) {
    if (holder === undefined) progress.advance(image, blob.size);
  } else {
    if (holder !== undefined && (await mount(run, repo, blob.digest, holder))) {
      summary.mountedBlobs++;
      return;
    }
    const onBytes = holder === undefined ? (n: number) => progress.advance(image, n) : UNCOUNTED;
    await uploadFromBundle(run, repo, blob, onBytes);
  }
  summary.uploadedBlobs++;
  summary.uploadedBytes += blob.size;
}

/**
 * Every blob of every image is in place now. Images in parallel, each one's manifests children
 * first; one shared by several images is checked and put once, and the images that need it wait
 * for it.
 */
async function pushManifests(run: PushRun, planned: readonly PlannedPush[]): Promise<void> {
  const manifestDone = new Map<string, Promise<void>>();
  await runPool(planned, run.parallel, async p => {
    for (const m of p.manifests) {
      const key = `${p.repository}@${m.digest}`;
      let done = manifestDone.get(key);
      if (done === undefined) {
        done = ensureManifest(run, p.repository, m, key);
        manifestDone.set(key, done);
      }
      await done;
    }
  });
}

/** `key` is `repo@digest`: recorded as absent when the manifest is put. */
async function ensureManifest(
  run: PushRun,
  repo: string,
  m: ManifestNode,
  key: string,
): Promise<void> {
  // a registry accepts a manifest only once what it references is in the repository: one
  // that references something the repository lacked cannot be there, no need to ask
  const doc = m.document;
  const refs = doc.kind === "index" ? doc.manifests : [doc.config, ...doc.layers];
  const knownAbsent = refs.some(d => run.absent.has(`${repo}@${d.digest}`));
  if (!knownAbsent && (await run.phases.time("manifest check", () => hasManifest(run, repo, m)))) {
    run.summary.manifestsPresent++;
    return;
  }
  run.absent.add(key);
  if (!run.dryRun)
    await run.phases.time(
      "manifest push",
      () => run.client.putManifest(repo, m.digest, m.bytes, m.mediaType, run.call),
      () => m.bytes.length,
    );
  run.summary.manifestsPut++;
}

/**
 * The tag an image is pushed under: its own, or — pinned by digest (a module image a release
 * lists) — its digest's hex, as Deckhouse's own bundles do. A registry's API lists tags and never
 * untagged manifests, so without one nothing that copies a registry by listing it (Local's
 * mirrorer between masters) can find the image.
 */
function pushTag(image: Pick<BundleImage, "tag" | "descriptor">): string {
  return image.tag ?? image.descriptor.digest.slice(image.descriptor.digest.indexOf(":") + 1);
}

/** Tags last: an interrupted push never leaves a tag over content that is not all there. */
async function pushTags(run: PushRun, planned: readonly PlannedPush[]): Promise<void> {
  await runPool(planned, run.parallel, async p => {
    const root = p.manifests[p.manifests.length - 1] as ManifestNode;
    if (!run.dryRun)
      await run.phases.time("tag push", () =>
        run.client.putManifest(
          p.repository,
          pushTag(p.image),
          root.bytes,
          root.mediaType,
          run.call,
        ),
      );
    run.summary.tags++;
  });
}

function mount(run: PushRun, repo: string, digest: string, from: string): Promise<boolean> {
  return run.phases.time("blob mount", () => run.client.mountBlob(repo, digest, from, run.call));
}

// GET, not HEAD: undici closes the connection after every HEAD (lib/oci/client.ts,
// hasBlobKeepAlive), and under a full push that churn ended in a HEAD left without an answer;
// manifests are small
async function hasManifest(run: PushRun, repo: string, m: ManifestNode): Promise<boolean> {
  try {
    await run.client.getManifest(repo, m.digest, run.call);
    return true;
  } catch (err) {
    if (err instanceof OciError && err.kind === "not-found") return false;
    throw err;
  }
}

async function uploadFromBundle(
  run: PushRun,
  repo: string,
  blob: Descriptor,
  onBytes: (n: number) => void,
): Promise<void> {
  try {
    await upload(run, repo, blob, onBytes);
  } catch (err) {
    // the client refuses to commit bytes that do not hash to the promised digest: here that
    // means the bundle's copy is damaged, which pull repairs
    if (err instanceof OciError && err.kind === "invalid" && /^content /.test(err.reason))
      throw new CorruptBlobError(blob.digest, err.reason);
    throw err;
  }
}

async function upload(
  run: PushRun,
  repo: string,
  blob: Descriptor,
  onBytes: (n: number) => void,
): Promise<void> {
  const file = blobPath(run.bundle, blob.digest);
  const found = await stat(file).then(
    st => st.size,
    () => undefined,
  );
  if (found === undefined) throw new BundleError(`bundle blob ${blob.digest} is missing (${file})`);
  if (found !== blob.size) {
    const { digest } = await hashFile(file);
    throw new CorruptBlobError(
      blob.digest,
      `content digest is ${digest}, ${found} bytes (expected ${blob.size})`,
    );
  }
  // streamed from the file, hashed on the way: a corrupt bundle blob is never committed
  const source = {
    size: blob.size,
    // an empty range (a 0-byte blob) is an empty stream: createReadStream's end is inclusive
    open: (start: number, end: number) =>
      end > start
        ? createReadStream(file, { start, end: end - 1, highWaterMark: READ_BUFFER })
        : Readable.from([]),
  };
  await run.phases.time(
    "blob upload",
    () =>
      run.client.uploadBlobFrom(repo, source, {
        ...run.call,
        digest: blob.digest,
        monolithicMaxBytes: run.monolithicMax,
        chunkSize: run.chunkSize,
        onBytes,
      }),
    () => blob.size,
  );
}
