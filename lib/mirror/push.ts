// mirror push: a bundle into a registry under a target path (`…/system/deckhouse`): blobs first
// (skipping those present, mounting from a repository this push already filled, else monolithic
// or chunked uploads), then manifests children before indexes, then tags. A tag is the last thing
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

/** Bytes per read of a bundle blob being uploaded: a few of these are all a push holds. */
const READ_BUFFER = 256 * 1024;

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

export async function push(
  client: RegistryClient,
  bundle: string,
  target: string,
  options: PushOptions = {},
): Promise<PushSummary> {
  const started = performance.now();
  const progress = options.progress ?? silentProgress;
  const call = options.signal ? { signal: options.signal } : {};
  const monolithicMax = options.monolithicMaxBytes ?? 16 * 1024 * 1024;
  const chunkSize = options.chunkBytes ?? 16 * 1024 * 1024;
  const phases = options.phases ?? new Phases();
  const parallel = options.parallel ?? 4;

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

  // one task per blob: every repository that needs it, and the image its bytes count towards
  const blobTasks = new Map<string, { blob: Descriptor; repos: string[]; image: string }>();
  for (const p of planned) {
    for (const blob of p.blobs) {
      const task = blobTasks.get(blob.digest);
      if (task === undefined)
        blobTasks.set(blob.digest, { blob, repos: [p.repository], image: p.name });
      else if (!task.repos.includes(p.repository)) task.repos.push(p.repository);
    }
  }
  const imageBytes = new Map<string, number>();
  const pending = new Map<string, number>();
  let totalBytes = 0;
  for (const t of blobTasks.values()) {
    imageBytes.set(t.image, (imageBytes.get(t.image) ?? 0) + t.blob.size);
    pending.set(t.image, (pending.get(t.image) ?? 0) + 1);
    totalBytes += t.blob.size;
  }
  const summary: PushSummary = {
    images: planned.length,
    tags: 0,
    blobs: blobTasks.size,
    uploadedBlobs: 0,
    uploadedBytes: 0,
    mountedBlobs: 0,
    presentBlobs: 0,
    manifestsPut: 0,
    manifestsPresent: 0,
    totalBytes,
    seconds: 0,
  };
  progress.begin(
    options.dryRun ? "push (dry run)" : "push",
    planned.map(p => ({ name: p.name, bytes: imageBytes.get(p.name) ?? 0 })),
    totalBytes,
  );
  for (const p of planned) if (!pending.has(p.name)) progress.imageDone(p.name);

  /** `repo@digest` of blobs and manifests a repository did not have when this push began. */
  const absent = new Set<string>();
  await runPool([...blobTasks.values()], parallel, async ({ blob, repos, image }) => {
    let holder: string | undefined;
    for (const repo of repos) {
      if (await phases.time("blob check", () => client.hasBlobKeepAlive(repo, blob.digest, call))) {
        summary.presentBlobs++;
        if (holder === undefined) progress.advance(image, blob.size);
        holder ??= repo;
        continue;
      }
      absent.add(`${repo}@${blob.digest}`);
      if (options.dryRun) {
        if (holder === undefined) progress.advance(image, blob.size);
        summary.uploadedBlobs++;
        summary.uploadedBytes += blob.size;
      } else if (holder !== undefined && (await mount(repo, blob.digest, holder))) {
        summary.mountedBlobs++;
      } else {
        await uploadFromBundle(
          repo,
          blob,
          holder === undefined ? n => progress.advance(image, n) : () => {},
        );
        summary.uploadedBlobs++;
        summary.uploadedBytes += blob.size;
      }
      holder ??= repo;
    }
    const left = (pending.get(image) ?? 1) - 1;
    pending.set(image, left);
    if (left === 0) progress.imageDone(image);
  });

  // manifests: every blob of every image is in place now. Images in parallel, each one's
  // manifests children first; one shared by several images is checked and put once, and the
  // images that need it wait for it
  const manifestDone = new Map<string, Promise<void>>();
  const ensureManifest = (repo: string, m: ManifestNode): Promise<void> => {
    const key = `${repo}@${m.digest}`;
    let done = manifestDone.get(key);
    if (done === undefined) {
      done = (async () => {
        // a registry accepts a manifest only once what it references is in the repository: one
        // that references something the repository lacked cannot be there, no need to ask
        const doc = m.document;
        const refs = doc.kind === "index" ? doc.manifests : [doc.config, ...doc.layers];
        const knownAbsent = refs.some(d => absent.has(`${repo}@${d.digest}`));
        if (
          !knownAbsent &&
          (await phases.time("manifest check", () => hasManifest(repo, m.digest)))
        ) {
          summary.manifestsPresent++;
          return;
        }
        absent.add(key);
        if (!options.dryRun)
          await phases.time(
            "manifest push",
            () => client.putManifest(repo, m.digest, m.bytes, m.mediaType, call),
            () => m.bytes.length,
          );
        summary.manifestsPut++;
      })();
      manifestDone.set(key, done);
    }
    return done;
  };
  await runPool(planned, parallel, async p => {
    for (const m of p.manifests) await ensureManifest(p.repository, m);
  });
  // tags last: an interrupted push never leaves a tag over content that is not all there
  await runPool(
    planned.filter(p => p.image.tag !== undefined),
    parallel,
    async p => {
      const root = p.manifests[p.manifests.length - 1] as ManifestNode;
      if (!options.dryRun)
        await phases.time("tag push", () =>
          client.putManifest(p.repository, p.image.tag as string, root.bytes, root.mediaType, call),
        );
      summary.tags++;
    },
  );
  progress.end();
  summary.seconds = (performance.now() - started) / 1000;
  return summary;

  function mount(repo: string, digest: string, from: string): Promise<boolean> {
    return phases.time("blob mount", () => client.mountBlob(repo, digest, from, call));
  }

  // GET, not HEAD: undici closes the connection after every HEAD (lib/oci/client.ts,
  // hasBlobKeepAlive), and under a full push that churn ended in a HEAD left without an answer;
  // manifests are small
  async function hasManifest(repo: string, digest: string): Promise<boolean> {
    try {
      await client.getManifest(repo, digest, call);
      return true;
    } catch (err) {
      if (err instanceof OciError && err.kind === "not-found") return false;
      throw err;
    }
  }

  async function uploadFromBundle(
    repo: string,
    blob: Descriptor,
    onBytes: (n: number) => void,
  ): Promise<void> {
    try {
      await upload(repo, blob, onBytes);
    } catch (err) {
      // the client refuses to commit bytes that do not hash to the promised digest: here that
      // means the bundle's copy is damaged, which pull repairs
      if (err instanceof OciError && err.kind === "invalid" && /^content /.test(err.reason))
        throw new CorruptBlobError(blob.digest, err.reason);
      throw err;
    }
  }

  async function upload(
    repo: string,
    blob: Descriptor,
    onBytes: (n: number) => void,
  ): Promise<void> {
    const file = blobPath(bundle, blob.digest);
    const found = await stat(file).then(
      st => st.size,
      () => undefined,
    );
    if (found === undefined)
      throw new BundleError(`bundle blob ${blob.digest} is missing (${file})`);
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
    await phases.time(
      "blob upload",
      () =>
        client.uploadBlobFrom(repo, source, {
          ...call,
          digest: blob.digest,
          monolithicMaxBytes: monolithicMax,
          chunkSize,
          onBytes,
        }),
      () => blob.size,
    );
  }
}
