// The pull loop: while a switch runs, every node (and the in-cluster client, when there is one)
// removes and pulls each watched image BY DIGEST once a second through the CRI, as kubelet
// would (PullImage on containerd's socket). Each pull becomes a PullRecord.
//
// crictl is not packaged in Debian 12 (bookworm has no cri-tools), so the CRI calls are the
// repository's own minimal gRPC client (test/node/cri.ts): the same two RPCs kubelet makes.
//
//   const loop = startPullLoop({ targets, images: () => refs, context: () => ({mode, step}),
//                                onPull });
//   await loop.stop();   // waits for the pulls in flight
import { criPullImage, criRemoveImage } from "../node/cri";
import type { PullRecord } from "./types";

export interface PullTarget {
  /** node name, or "in-cluster" */
  name: string;
  /** containerd's CRI socket: remove, then PullImage */
  socket?: string;
  /** or a client's own pull (the in-cluster client) */
  pull?: (image: string) => Promise<void>;
  /**
   * Whether the puller itself was down at some moment since `since` (a containerd restart the
   * step injects): a pull failing then failed for that, not for the registry.
   */
  downSince?: (since: number) => boolean;
}

export interface PullLoopOptions {
  targets: readonly PullTarget[];
  /** The image references to pull now (they change when the cluster's registry changes). */
  images: () => readonly string[];
  /** registry-state mode and scenario step at the start of a pull */
  context: () => { mode: string; step: string };
  /** Whether a failure of this pull is one the step expects (an uncached image, upstream down). */
  expectFailure?: (image: string, startedAt: number) => boolean;
  onPull: (r: PullRecord) => void;
  intervalMs?: number;
}

export interface PullLoop {
  stop(): Promise<void>;
  readonly records: PullRecord[];
}

/** Credentials never reach a record: a `user:password@` or Basic value is cut out. */
export function withoutCredentials(message: string): string {
  return message
    .replace(/\/\/[^/\s:@]+:[^@\s]+@/g, "//<redacted>@")
    .replace(/(Basic|Bearer)\s+[A-Za-z0-9+/=._-]+/gi, "$1 <redacted>");
}

export function startPullLoop(opts: PullLoopOptions): PullLoop {
  const records: PullRecord[] = [];
  const interval = opts.intervalMs ?? 1_000;
  let running = true;
  const wakers = new Set<() => void>();

  const pullOnce = async (target: PullTarget, image: string): Promise<void> => {
    const { mode, step } = opts.context();
    const time = Date.now();
    let error: string | undefined;
    try {
      // remove first: the pull must reach the registry (by digest, containerd would otherwise
      // find the content and ask nothing); a missing image is fine
      if (target.pull) await target.pull(image);
      else {
        const socket = target.socket as string;
        await criRemoveImage(socket, image).catch(() => undefined);
        await criPullImage(socket, image);
      }
    } catch (err) {
      error = withoutCredentials(err instanceof Error ? err.message : String(err));
    }
    const record: PullRecord = {
      time,
      node: target.name,
      mode,
      step,
      image,
      ok: error === undefined,
      ms: Date.now() - time,
      ...(error === undefined ? {} : { error }),
      ...(error !== undefined && (opts.expectFailure?.(image, time) || target.downSince?.(time))
        ? { expectedFailure: true }
        : {}),
    };
    records.push(record);
    opts.onPull(record);
  };

  const perTarget = async (target: PullTarget): Promise<void> => {
    while (running) {
      const started = Date.now();
      // the names are read again before every pull: they change while a round runs
      for (let i = 0; running; i++) {
        const image = opts.images()[i];
        if (image === undefined) break;
        await pullOnce(target, image);
      }
      const wait = Math.max(0, interval - (Date.now() - started));
      if (running && wait > 0) {
        await new Promise<void>(resolve => {
          const wake = () => {
            clearTimeout(t);
            wakers.delete(wake);
            resolve();
          };
          const t = setTimeout(wake, wait);
          wakers.add(wake);
        });
      }
    }
  };

  const done = Promise.all(opts.targets.map(perTarget));
  return {
    records,
    async stop() {
      running = false;
      for (const wake of [...wakers]) wake();
      await done;
    },
  };
}
