// Progress of a pull or push: per image and bytes overall. The CLI picks a terminal rendering
// (cli-progress bars with rate and ETA) or plain lines; tests and benchmarks pass silentProgress.
import cliProgress from "cli-progress";

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

/** Terminal bars: one overall bytes bar (rate, ETA) and one bar per image in flight. */
export function terminalProgress(stream: NodeJS.WriteStream): Progress {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: "{name} |{bar}| {percentage}% {done}/{size} {rate} ETA {remaining}",
      barsize: 30,
      // Ctrl-C is the CLI's to handle (it restores the terminal through interrupt())
      gracefulExit: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let overall: cliProgress.SingleBar | undefined;
  let overallDone = 0;
  const bars = new Map<string, { bar: cliProgress.SingleBar; done: number; size: number }>();
  const sizes = new Map<string, number>();
  let stopped = false;
  const payload = (name: string, done: number, size: number) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = overallDone / seconds;
    return {
      name: name.length > 40 ? `…${name.slice(-39)}` : name.padEnd(40),
      done: formatBytes(done),
      size: formatBytes(size),
      rate: `${formatBytes(rate)}/s`,
      // cli-progress's own ETA rounds minutes to 60 ("4h60m"); ours does not
      remaining: formatEta(rate > 0 ? (size - done) / rate : Number.NaN),
    };
  };
  let total = 0;
  let label = "";
  return {
    begin(verb, images, totalBytes) {
      total = totalBytes;
      label = `${verb} (${count(images.length, "image")})`;
      for (const image of images) sizes.set(image.name, image.bytes);
      overall = multi.create(Math.max(totalBytes, 1), 0, payload(label, 0, totalBytes));
    },
    advance(image, n) {
      overallDone += n;
      overall?.update(overallDone, payload(label, overallDone, total));
      let entry = bars.get(image);
      if (entry === undefined) {
        const size = sizes.get(image) ?? 0;
        entry = { bar: multi.create(Math.max(size, 1), 0, payload(image, 0, size)), done: 0, size };
        bars.set(image, entry);
      }
      entry.done += n;
      entry.bar.update(entry.done, payload(image, entry.done, entry.size));
    },
    imageDone(image) {
      const entry = bars.get(image);
      if (entry !== undefined) {
        entry.bar.stop();
        multi.remove(entry.bar);
        bars.delete(image);
      }
      multi.log(`done ${image}\n`);
    },
    note(line) {
      multi.log(`${line}\n`);
    },
    end() {
      if (stopped) return;
      stopped = true;
      // a redraw flushes the log lines still buffered (stop alone drops them)
      multi.update();
      multi.stop();
    },
    interrupt() {
      if (!stopped) {
        stopped = true;
        multi.stop();
      }
      stream.write(RESTORE_TERMINAL);
    },
  };
}
