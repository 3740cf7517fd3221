// One mirrorer pass: bring this master's registry to hold every repository, tag, manifest and blob
// the other masters hold. Copies go remote → local only (every master runs its own mirrorer, so
// content spreads in every direction), in dependency order — blobs, then child manifests, then
// the manifest, then the tag — so a tag never points at something incomplete and an interrupted
// pass leaves only whole blobs behind. The next pass skips what is present (HEAD by digest), mounts
// blobs the local registry holds in another repository, and streams the rest.
//
// Tags that differ: a three-way decision against what the previous pass saw. The remote moved and
// the local tag did not ⇒ follow the remote. Both moved, or no previous pass to compare with ⇒ a
// conflict: the local tag stays, the conflict is reported (log, metric) until someone resolves it.
import { OciError, type ManifestDocument, type RegistryClient } from "../../../lib/oci";
import { errorMessage, type Log } from "../../common/src/log";

export interface Remote {
  name: string;
  client: RegistryClient;
}

export interface PassReport {
  repositories: number;
  tagsChecked: number;
  tagsCopied: number;
  manifestsCopied: number;
  blobsCopied: number;
  blobsMounted: number;
  blobsPresent: number;
  bytesCopied: number;
  conflicts: string[];
  errors: string[];
}

const emptyReport = (): PassReport => ({
  repositories: 0,
  tagsChecked: 0,
  tagsCopied: 0,
  manifestsCopied: 0,
  blobsCopied: 0,
  blobsMounted: 0,
  blobsPresent: 0,
  bytesCopied: 0,
  conflicts: [],
  errors: [],
});

/** One repository copied from one remote during one pass: what every copy step needs. */
interface CopyScope {
  readonly remote: Remote;
  readonly repo: string;
  readonly report: PassReport;
  readonly signal: AbortSignal | undefined;
}

/** The tag digests a pass compares against and records (see the three-way decision above). */
interface TagViews {
  /** `repo:tag` → digest this remote had in the previous pass */
  readonly base: Map<string, string>;
  /** `repo:tag` → digest this remote has now */
  readonly seen: Map<string, string>;
  /** `repo:tag` → local digest once this pass is done with the tag */
  readonly localAfter: Map<string, string>;
}

/** A blob to copy; `foreign` ones (non-distributable layers) may be absent from registries. */
interface BlobRef {
  readonly digest: string;
  readonly foreign: boolean;
}

export class Mirror {
  /** remote → `repo:tag` → digest seen there in the previous pass */
  readonly #remoteBase = new Map<string, Map<string, string>>();
  /** `repo:tag` → local digest at the end of the previous pass */
  readonly #localBase = new Map<string, string>();
  /** digest → a local repository known to hold the blob (for cross-repository mounts) */
  readonly #localBlobs = new Map<string, string>();
  /** digest → the copy of it in progress */
  readonly #blobLocks = new Map<string, Promise<void>>();
  readonly #transfers: Semaphore;

  constructor(
    readonly local: RegistryClient,
    readonly remotes: readonly Remote[],
    readonly opts: { concurrency: number; log: Log; chunkSize?: number },
  ) {
    this.#transfers = new Semaphore(opts.concurrency);
  }

  async pass(signal?: AbortSignal): Promise<PassReport> {
    const report = emptyReport();
    const seenRepos = new Set<string>();
    const localAfter = new Map<string, string>();
    for (const remote of this.remotes) {
      const base = this.#remoteBase.get(remote.name) ?? new Map<string, string>();
      const seen = new Map<string, string>();
      let repositories: string[];
      try {
        repositories = await remote.client.catalog({ signal });
      } catch (e) {
        report.errors.push(`${remote.name}: catalog: ${errorMessage(e)}`);
        continue;
      }
      for (const repo of repositories) {
        seenRepos.add(repo);
        try {
          await this.#syncRepository({ remote, repo, report, signal }, { base, seen, localAfter });
        } catch (e) {
          if (signal?.aborted) throw e;
          report.errors.push(`${remote.name}/${repo}: ${errorMessage(e)}`);
        }
      }
      // a remote that failed half-way keeps its previous view for what it did not list
      this.#remoteBase.set(remote.name, new Map([...base, ...seen]));
    }
    for (const [key, digest] of localAfter) this.#localBase.set(key, digest);
    report.repositories = seenRepos.size;
    return report;
  }

  async #syncRepository(scope: CopyScope, views: TagViews): Promise<void> {
    const { remote, repo, report, signal } = scope;
    const { base, seen, localAfter } = views;
    const call = signal ? { signal } : {};
    const remoteTags = await remote.client.listTags(repo, call);
    const localTags = new Set(
      await this.local.listTags(repo, call).catch(notFound([] as string[])),
    );
    // tags in parallel; blob transfers share one limit (#transfers) across all of them
    await inParallel(remoteTags, this.opts.concurrency, async tag => {
      report.tagsChecked++;
      const key = `${repo}:${tag}`;
      const remoteDigest = (await remote.client.headManifest(repo, tag, call)).digest;
      seen.set(key, remoteDigest);
      const localDigest =
        localAfter.get(key) ??
        (localTags.has(tag) ? (await this.local.headManifest(repo, tag, call)).digest : undefined);
      if (localDigest === remoteDigest) {
        localAfter.set(key, localDigest);
        return;
      }
      const remoteMoved = base.has(key) && base.get(key) !== remoteDigest;
      const localStill = localDigest !== undefined && this.#localBase.get(key) === localDigest;
      if (localDigest !== undefined && !(remoteMoved && localStill)) {
        report.conflicts.push(
          `${key}: local ${short(localDigest)}, ${remote.name} ${short(remoteDigest)}; keeping local`,
        );
        localAfter.set(key, localDigest);
        return;
      }
      try {
        const bytes = await this.#copyManifest(scope, remoteDigest);
        await this.local.putManifest(repo, tag, bytes.bytes, bytes.mediaType, call);
        report.tagsCopied++;
        localAfter.set(key, remoteDigest);
        this.opts.log.info("tag copied", {
          repository: repo,
          tag,
          digest: remoteDigest,
          from: remote.name,
        });
      } catch (e) {
        if (signal?.aborted) throw e;
        report.errors.push(`${remote.name}/${key}: ${errorMessage(e)}`);
        if (localDigest !== undefined) localAfter.set(key, localDigest);
      }
    });
  }

  /** Copies a manifest by digest with everything it references; returns its bytes. */
  async #copyManifest(
    scope: CopyScope,
    digest: string,
  ): Promise<{ bytes: Buffer; mediaType: string }> {
    const { remote, repo, report, signal } = scope;
    const call = signal ? { signal } : {};
    const present = await this.local.getManifest(repo, digest, call).catch(notFound(undefined));
    if (present) return { bytes: present.bytes, mediaType: present.mediaType };
    const m = await remote.client.getManifest(repo, digest, call);
    await this.#copyReferences(scope, m.document);
    await this.local.putManifest(repo, digest, m.bytes, m.mediaType, call);
    report.manifestsCopied++;
    return { bytes: m.bytes, mediaType: m.mediaType };
  }

  async #copyReferences(scope: CopyScope, doc: ManifestDocument): Promise<void> {
    switch (doc.kind) {
      case "index":
        for (const child of doc.manifests) {
          await this.#copyManifest(scope, child.digest);
        }
        return;
      case "manifest": {
        const blobs = [doc.config, ...doc.layers];
        const results = await Promise.allSettled(
          blobs.map(d =>
            this.#copyBlobOnce(scope, { digest: d.digest, foreign: d.urls !== undefined }),
          ),
        );
        const failed = results.find(r => r.status === "rejected");
        if (failed) throw failed.reason;
        return;
      }
    }
  }

  /**
   * One copy of a digest at a time: tags copied in parallel share base layers, and the second
   * copy must find the blob present (same repository) or mount it (another one), not stream it.
   */
  async #copyBlobOnce(scope: CopyScope, blob: BlobRef): Promise<void> {
    const { digest } = blob;
    const previous = this.#blobLocks.get(digest) ?? Promise.resolve();
    const mine = previous.catch(() => undefined).then(() => this.#copyBlob(scope, blob));
    this.#blobLocks.set(digest, mine);
    try {
      await mine;
    } finally {
      if (this.#blobLocks.get(digest) === mine) this.#blobLocks.delete(digest);
    }
  }

  async #copyBlob(scope: CopyScope, blob: BlobRef): Promise<void> {
    const { repo, report, signal } = scope;
    const { digest } = blob;
    const call = signal ? { signal } : {};
    if (await this.local.hasBlob(repo, digest, call)) {
      report.blobsPresent++;
      this.#localBlobs.set(digest, repo);
      return;
    }
    const from = this.#localBlobs.get(digest);
    if (
      from &&
      from !== repo &&
      (await this.local.mountBlob(repo, digest, from, call).catch(() => false))
    ) {
      report.blobsMounted++;
      return;
    }
    await this.#transfers.acquire();
    try {
      await this.#stream(scope, blob);
    } finally {
      this.#transfers.release();
    }
  }

  async #stream(scope: CopyScope, { digest, foreign }: BlobRef): Promise<void> {
    const { remote, repo, report, signal } = scope;
    const call = signal ? { signal } : {};
    let source;
    try {
      source = await remote.client.getBlob(repo, digest, call);
    } catch (e) {
      // non-distributable layers live at their `urls`, not in registries
      if (foreign && e instanceof OciError && e.kind === "not-found") return;
      throw e;
    }
    let bytes = 0;
    const counted = (async function* () {
      for await (const chunk of source.body) {
        bytes += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    })();
    await this.local.uploadBlobChunked(repo, counted, {
      ...call,
      digest,
      ...(this.opts.chunkSize ? { chunkSize: this.opts.chunkSize } : {}),
    });
    report.blobsCopied++;
    report.bytesCopied += bytes;
    this.#localBlobs.set(digest, repo);
  }
}

function notFound<T>(fallback: T): (e: unknown) => T {
  return e => {
    if (e instanceof OciError && e.kind === "not-found") return fallback;
    throw e;
  };
}

function short(digest: string): string {
  return digest.slice(0, 19);
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await work(item);
      } catch (e) {
        errors.push(e);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

class Semaphore {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(size: number) {
    this.#free = size;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>(resolve => this.#waiting.push(resolve));
  }
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
