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
}

export const silentProgress: Progress = {
  begin: () => {},
  advance: () => {},
  imageDone: () => {},
  note: () => {},
  end: () => {},
};

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
      write(`${verb}: ${images.length} images, ${formatBytes(totalBytes)} to transfer`);
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
  };
}

/** Terminal bars: one overall bytes bar (rate, ETA) and one bar per image in flight. */
export function terminalProgress(stream: NodeJS.WriteStream): Progress {
  const multi = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: "{name} |{bar}| {percentage}% {done}/{size} {rate} ETA {eta_formatted}",
      barsize: 30,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let overall: cliProgress.SingleBar | undefined;
  let overallDone = 0;
  const bars = new Map<string, { bar: cliProgress.SingleBar; done: number; size: number }>();
  const sizes = new Map<string, number>();
  const payload = (name: string, done: number, size: number) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return {
      name: name.length > 40 ? `…${name.slice(-39)}` : name.padEnd(40),
      done: formatBytes(done),
      size: formatBytes(size),
      rate: `${formatBytes(overallDone / seconds)}/s`,
    };
  };
  let total = 0;
  let label = "";
  return {
    begin(verb, images, totalBytes) {
      total = totalBytes;
      label = `${verb} (${images.length} images)`;
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
      // a redraw flushes the log lines still buffered (stop alone drops them)
      multi.update();
      multi.stop();
    },
  };
}
