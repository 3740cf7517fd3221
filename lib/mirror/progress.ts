// Progress of a pull or push: per image and bytes overall. The CLI picks a terminal rendering
// (cli-progress bars with rate and ETA: terminal-progress.ts, loaded only on a terminal) or plain
// lines; tests and benchmarks pass silentProgress.

export interface ProgressImage {
  name: string;
  /** Bytes this image adds to the transfer (blobs shared with an earlier image count there). */
  bytes: number;
}

export interface Progress {
  begin(verb: string, images: readonly ProgressImage[], totalBytes: number): void;
  /** `n` more bytes moved for `image`. */
  advance(image: string, n: number): void;
  imageDone(image: string): void;
  /** A line worth showing (skips, mounts, resumed partials). */
  note(line: string): void;
  end(): void;
  /**
   * The run is being stopped (Ctrl-C): leave the terminal as it was before (cursor shown, line
   * wrapping on), without drawing again.
   */
  interrupt(): void;
}

export const silentProgress: Progress = {
  begin: () => {},
  advance: () => {},
  imageDone: () => {},
  note: () => {},
  end: () => {},
  interrupt: () => {},
};

/** "1 image", "2 images". */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** A remaining time: "45s", "12m05s", "4h05m"; "--" when unknown. Never "4h60m". */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.ceil(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  // whole minutes, rounded up: an estimate that ends early is better than one that overruns
  const minutes = Math.ceil(s / 60);
  return `${Math.floor(minutes / 60)}h${pad(minutes % 60)}m`;
}

/** Terminal modes the bars change, set back: cursor visible, line wrapping on. */
export const RESTORE_TERMINAL = "\x1b[?25h\x1b[?7h";

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

/** Plain lines (logs, CI, pipes): one per finished image, with the overall share done. */
export function lineProgress(write: (line: string) => void): Progress {
  let total = 0;
  let done = 0;
  let verb = "";
  let imagesDone = 0;
  let imageCount = 0;
  return {
    begin(v, images, totalBytes) {
      verb = v;
      total = totalBytes;
      imageCount = images.length;
      write(`${verb}: ${count(images.length, "image")}, ${formatBytes(totalBytes)} to transfer`);
    },
    advance(_image, n) {
      done += n;
    },
    imageDone(image) {
      imagesDone++;
      const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
      write(`${verb} ${imagesDone}/${imageCount} ${image} (${formatBytes(done)}, ${pct}%)`);
    },
    note: write,
    end() {},
    interrupt() {},
  };
}
