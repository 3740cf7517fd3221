// Progress on a terminal: cli-progress bars with rate and ETA. Its own file because cli-progress
// and the packages it loads (string-width, emoji-regex) add ~5 MiB to a process: the CLI imports
// this only when stderr is a terminal (docs/adr/0140).
import cliProgress from "cli-progress";
import { count, formatBytes, formatEta, RESTORE_TERMINAL, type Progress } from "./progress";

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
