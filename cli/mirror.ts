// `registry-module mirror pull|push`: argument parsing and output of the mirror command. The work
// is in lib/mirror; this file turns flags into a client and options, and results into lines.
//
//   const code = await runMirror(["pull", "--source", "reg.example.com/deckhouse/ee", "--tag", "v1.70.0", "/bundle"]);
import { subscribe } from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { RegistryClient, type RegistryClientOptions } from "../lib/oci/client";
import { NODE_HTTP_CONNECTED } from "../lib/oci/http";
import { isDigest, parseRepository } from "../lib/oci/reference";
import { describeFailure, type FailureContext, MirrorError } from "../lib/mirror/errors";
import { count, formatBytes, lineProgress, type Progress } from "../lib/mirror/progress";
import {
  completeBundle,
  planPull,
  pull,
  releaseImageRequests,
  type ImageRequest,
  type PullPlan,
  type PullSummary,
} from "../lib/mirror/pull";
import { Phases } from "../lib/mirror/phases";
import { push } from "../lib/mirror/push";

export const MIRROR_USAGE = `Usage:
  registry-module mirror pull --source REGISTRY/REPO (--tag T ... | --images-file FILE)
                              [--creds USER:PASSWORD | --license KEY] [--ca FILE] [--plain-http]
                              [--parallel N] [--dry-run] BUNDLE_DIR
  registry-module mirror push BUNDLE_DIR REGISTRY/PATH [--creds USER:PASSWORD] [--ca FILE]
                              [--plain-http] [--parallel N] [--dry-run]

  pull   copies the images (every platform of an index) into BUNDLE_DIR, an OCI image layout
         with one de-duplicated blob store; every digest is verified; running it again after an
         interruption downloads only what is missing. --dry-run prints what would be fetched.
  push   uploads a bundle under REGISTRY/PATH (e.g. registry.example.com/system/deckhouse): blobs
         (skipping present ones, mounting across repositories), manifests, then tags (an image
         pinned by digest is tagged with the digest's hex).

    --tag T            a release tag of the source repository; repeatable. The module images its
                       images_digests.json lists are pulled too (by digest, same repository)
    --images-file FILE exactly these images, one per line, relative to the source: TAG,
                       @sha256:…, SUB/REPO:TAG or SUB/REPO@sha256:…; # starts a comment
    --creds U:P        registry user and password (also MIRROR_CREDS in the environment)
    --license KEY      Deckhouse licence key (also MIRROR_LICENSE)
    --ca FILE          PEM CA the registry's certificate is signed by
    --plain-http       talk HTTP, not HTTPS (test registries)
    --parallel N       blobs transferred at once (default 4)

  Progress goes to stderr (bars on a terminal, lines otherwise); the summary to stdout.
  Exit codes: 0 done, 1 failed (the message says why and what to do), 2 usage.
`;

class UsageError extends Error {}

/**
 * REGISTRY_MODULE_MIRROR_PHASES=1: after the summary, one stderr line `mirror phases: {json}` with
 * the time per phase (lib/mirror/phases.ts), connections opened and the process's peak RSS — what
 * bench/mirror.ts reports beside its ratios.
 */
function phaseRecorder(): { phases: Phases; report: () => void } | undefined {
  if (process.env.REGISTRY_MODULE_MIRROR_PHASES !== "1") return undefined;
  const phases = new Phases();
  let connections = 0;
  subscribe(NODE_HTTP_CONNECTED, () => connections++);
  // behind a forward proxy the client runs on undici
  subscribe("undici:client:connected", () => connections++);
  const started = performance.now();
  return {
    phases,
    report: () =>
      process.stderr.write(
        `mirror phases: ${JSON.stringify({
          wallMs: Math.round(performance.now() - started),
          connections,
          maxRssKiB: process.resourceUsage().maxRSS,
          phases: phases.figures(),
        })}\n`,
      ),
  };
}

/** What Ctrl-C prints: a pull or push continues where it stopped when run again. */
export const INTERRUPTED = "interrupted: run the same command again to continue";

/** Progress displays drawing now, so that an interruption can give the terminal back. */
const liveProgress = new Set<Progress>();
/** Whether blobs of this run had started to move (see FailureContext.transferStarted). */
let transferStarted = false;

function onInterrupt(signal: NodeJS.Signals): void {
  for (const p of liveProgress) p.interrupt();
  process.stderr.write(`\n${INTERRUPTED}\n`);
  process.exit(signal === "SIGINT" ? 130 : 143);
}

export async function runMirror(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const secrets: string[] = [];
  transferStarted = false;
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onInterrupt);
  try {
    return await dispatch(command, rest, secrets);
  } catch (err) {
    return reportFailure(err, argv, secrets);
  } finally {
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onInterrupt);
    liveProgress.clear();
  }
}

async function dispatch(
  command: string | undefined,
  rest: string[],
  secrets: string[],
): Promise<number> {
  switch (command) {
    case "pull":
      return runPull(rest, secrets);
    case "push":
      return runPush(rest, secrets);
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(MIRROR_USAGE);
      return 0;
    case undefined:
    default:
      throw new UsageError(
        command === undefined
          ? "mirror: missing command pull|push"
          : `mirror: unknown command "${command}" (expected pull or push)`,
      );
  }
}

/** The message for a failed run and its exit code: 2 for usage, 1 for everything else. */
function reportFailure(err: unknown, argv: readonly string[], secrets: string[]): number {
  const [command, ...rest] = argv;
  if (err instanceof UsageError || (err instanceof MirrorError && err.kind === "usage")) {
    // one prefix style for usage errors across the tool: `registry-module <command>: …`
    const where = command === "pull" || command === "push" ? `mirror ${command}` : "mirror";
    const reason = err.message.replace(/^mirror( (pull|push))?: /, "");
    process.stderr.write(`registry-module ${where}: ${reason}\n\n${MIRROR_USAGE}`);
    return 2;
  }
  const context: FailureContext = {
    ...(command === "pull" || command === "push" ? { command } : {}),
    plainHttp: rest.includes("--plain-http"),
    transferStarted,
  };
  process.stderr.write(`mirror ${command ?? ""}: ${describeFailure(err, secrets, context)}\n`);
  return 1;
}

const COMMON = {
  creds: { type: "string" },
  license: { type: "string" },
  ca: { type: "string" },
  "plain-http": { type: "boolean" },
  parallel: { type: "string" },
  "dry-run": { type: "boolean" },
} as const;

type CommonValues = {
  creds?: string;
  license?: string;
  ca?: string;
  "plain-http"?: boolean;
  parallel?: string;
};

function parse<T extends Record<string, { type: "string" | "boolean"; multiple?: boolean }>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

function parallelOf(value: string | undefined): number {
  if (value === undefined) return 4;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new UsageError(`--parallel "${value}": expected an integer from 1 to 64`);
  }
  return n;
}

/**
 * An address with userinfo (`user:secret@host/…`, with or without a scheme) is refused before
 * anything repeats it: the error shows the address with the userinfo replaced.
 */
function refuseCredentialsIn(address: string, flag: string): void {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)?([^/]*)@([^/]*)(.*)$/i.exec(address);
  if (!m) return;
  const shown = `${m[1] ?? ""}***@${m[3] ?? ""}${m[4] ?? ""}`;
  throw new UsageError(
    `${flag} "${shown}": credentials do not belong in the address (they would show in the process ` +
      `list and in messages); give them as MIRROR_CREDS=USER:PASSWORD or MIRROR_LICENSE=KEY in the ` +
      `environment, or --creds`,
  );
}

function clientFor(address: string, flag: string, values: CommonValues, secrets: string[]) {
  refuseCredentialsIn(address, flag);
  let name;
  try {
    name = parseRepository(address);
  } catch (err) {
    throw new UsageError(`${flag}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (name.registry === "docker.io" && !address.startsWith("docker.io/")) {
    throw new UsageError(`${flag} "${address}": expected REGISTRY/REPO with a registry host`);
  }
  const options: RegistryClientOptions = {
    registry: name.registry,
    scheme: values["plain-http"] ? "http" : "https",
    connections: parallelOf(values.parallel) + 2,
    // undici alone would add ~20 MiB to the process's peak (docs/adr/0140)
    engine: "node",
  };
  Object.assign(options, credentialsOf(values, secrets));
  if (values.ca !== undefined) options.ca = readCa(values.ca);
  return { client: new RegistryClient(options), repository: name.repository };
}

/**
 * The user and password or the licence, from the flags or the environment. Each secret is
 * added to `secrets` as soon as it is known, so that no later message can repeat it.
 */
function credentialsOf(
  values: CommonValues,
  secrets: string[],
): Pick<RegistryClientOptions, "username" | "password" | "license"> {
  const creds = values.creds ?? process.env.MIRROR_CREDS;
  const license = values.license ?? process.env.MIRROR_LICENSE;
  if (creds !== undefined && license !== undefined) {
    throw new UsageError("--creds and --license: give one of them");
  }
  if (creds !== undefined) {
    const colon = creds.indexOf(":");
    if (colon <= 0) throw new UsageError("--creds: expected USER:PASSWORD");
    const password = creds.slice(colon + 1);
    secrets.push(password);
    return { username: creds.slice(0, colon), password };
  }
  if (license !== undefined) {
    if (license === "") throw new UsageError("--license: empty");
    secrets.push(license);
    return { license };
  }
  return {};
}

function readCa(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--ca ${file}: cannot read (${(err as Error).message})`);
  }
}

async function progressFor(): Promise<Progress> {
  const progress = process.stderr.isTTY
    ? (await import("../lib/mirror/terminal-progress")).terminalProgress(process.stderr)
    : lineProgress(line => process.stderr.write(`${line}\n`));
  liveProgress.add(progress);
  const collect = garbagePacer();
  return {
    ...progress,
    begin(verb, images, totalBytes) {
      transferStarted = true;
      progress.begin(verb, images, totalBytes);
    },
    advance(image, n) {
      progress.advance(image, n);
      collect(n);
    },
  };
}

/**
 * Every buffer a blob passes through (socket reads, file reads) is a new allocation outside the
 * JavaScript heap, dead a moment later; V8 collects them only once 64 MiB of such memory has
 * piled up, so a transfer's RSS sat ~70 MiB above what it holds live. A young-generation
 * collection every MiB of blob data (well under a millisecond on this small heap) keeps the
 * pile small (every 2 MiB: +3–5 MiB of peak, docs/adr/0140). MIRROR_GC_EVERY_MIB (default 1;
 * 0 = off) is for measuring the trade.
 */
function garbagePacer(): (bytes: number) => void {
  const everyMiB = Number(process.env.MIRROR_GC_EVERY_MIB ?? 1);
  if (!(everyMiB > 0)) return () => {};
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (options: { type: "minor" }) => void;
  const every = everyMiB * 1024 * 1024;
  let since = 0;
  return bytes => {
    since += bytes;
    if (since < every) return;
    since = 0;
    gc({ type: "minor" });
  };
}

/**
 * V8 settings for a transfer, process-wide, set before it starts (docs/adr/0140, 0141).
 *
 * - TurboFan off (`--no-opt`): it costs ~6 MiB of the peak (its machine code, paged in from the
 *   node binary when it first runs, and the code and compile zones it makes). A transfer's work
 *   is native (TLS, sha256, file I/O); the JavaScript between chunks runs in the interpreter and
 *   Sparkplug's baseline code, and since a pull writes through one sink (lib/mirror/blob-file.ts)
 *   TurboFan no longer makes it faster. MIRROR_V8_OPT=1 keeps it, for measuring the trade.
 * - The young generation stays at its starting size (`--semi-space-growth-factor=1`): V8 grows
 *   it after collections that many objects survive (the CLI's start), to 4 MiB semi-spaces;
 *   the transfer's own garbage is collected every MiB of blob data anyway (garbagePacer), so the
 *   larger one only held ~1.5 MiB more pages.
 */
function transferV8Flags(): void {
  setFlagsFromString("--semi-space-growth-factor=1");
  if (process.env.MIRROR_V8_OPT === "1") return;
  setFlagsFromString("--no-opt");
}

/** One image per line: TAG, @DIGEST, SUB/REPO:TAG or SUB/REPO@DIGEST, relative to the source. */
export function parseImagesFile(text: string, file: string): ImageRequest[] {
  const out: ImageRequest[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const where = `--images-file ${file} line ${i + 1} "${line}"`;
    const at = line.indexOf("@");
    let repository: string;
    let request: ImageRequest;
    if (at >= 0) {
      repository = line.slice(0, at);
      const digest = line.slice(at + 1);
      if (!isDigest(digest)) throw new UsageError(`${where}: digest must be sha256:<64 hex>`);
      request = { repository, digest };
    } else {
      const colon = line.lastIndexOf(":");
      repository = colon < 0 ? "" : line.slice(0, colon);
      const tag = colon < 0 ? line : line.slice(colon + 1);
      if (!/^[\w][\w.-]{0,127}$/.test(tag)) {
        throw new UsageError(`${where}: tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
      }
      request = { repository, tag };
    }
    if (
      repository !== "" &&
      !/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/.test(
        repository,
      )
    ) {
      throw new UsageError(`${where}: repository path must be lowercase components separated by /`);
    }
    out.push(request);
  });
  return out;
}

async function runPull(args: string[], secrets: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON,
    source: { type: "string" },
    tag: { type: "string", multiple: true },
    "images-file": { type: "string" },
  });
  if (values.source === undefined) throw new UsageError("mirror pull: --source is required");
  if (positionals.length !== 1) throw new UsageError("mirror pull: expected one BUNDLE_DIR");
  const bundle = positionals[0] as string;
  const images = requestedImages(values.tag ?? [], values["images-file"]);
  transferV8Flags();
  const parallel = parallelOf(values.parallel);
  const { client, repository } = clientFor(values.source, "--source", values, secrets);
  const recorder = phaseRecorder();
  const phases = recorder ? { phases: recorder.phases } : {};
  try {
    const plan = await planPull({ client, repository, images, parallel, ...phases });
    if (values["dry-run"]) {
      printDryRun(plan, bundle);
      return 0;
    }
    const pullOptions = { bundle, parallel, writeIndex: false, ...phases };
    const summary = await pull(client, plan, { ...pullOptions, progress: await progressFor() });
    // release tags (--tag, not --images-file: that is exactly the images listed) bring the
    // module images their images_digests.json lists
    const releaseTags = new Set(values.tag ?? []);
    const releases = plan.images.filter(
      i => i.image.repository === "" && i.image.tag !== undefined && releaseTags.has(i.image.tag),
    );
    const modules = await releaseImageRequests(bundle, releases);
    let all = plan.images;
    if (modules.length > 0) {
      process.stderr.write(`release metadata lists ${count(modules.length, "more image")}\n`);
      const more = await planPull({ client, repository, images: modules, parallel, ...phases });
      addSummary(
        summary,
        await pull(client, more, { ...pullOptions, progress: await progressFor() }),
      );
      all = [...plan.images, ...more.images];
    }
    await (recorder?.phases ?? new Phases()).time("bundle write", () =>
      completeBundle(bundle, all),
    );
    printPullSummary(summary, bundle);
    recorder?.report();
    return 0;
  } finally {
    await client.close();
  }
}

/** --tag values first, then the --images-file lines, in the order given. */
function requestedImages(tags: readonly string[], imagesFile: string | undefined): ImageRequest[] {
  const images: ImageRequest[] = [];
  for (const tag of tags) {
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) {
      throw new UsageError(`--tag "${tag}": must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
    }
    images.push({ repository: "", tag });
  }
  if (imagesFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(imagesFile, "utf8");
    } catch (err) {
      throw new UsageError(`--images-file ${imagesFile}: cannot read (${(err as Error).message})`);
    }
    images.push(...parseImagesFile(text, imagesFile));
  }
  if (images.length === 0) throw new UsageError("mirror pull: give --tag or --images-file");
  return images;
}

function printDryRun(plan: PullPlan, bundle: string): void {
  for (const i of plan.images) {
    process.stdout.write(
      `${i.name} ${i.image.descriptor.digest} ${count(i.manifests.length, "manifest")}, ${formatBytes(i.size)}\n`,
    );
  }
  process.stdout.write(
    `would fetch ${count(plan.images.length, "image")}, ${count(plan.blobSources.size, "unique blob")}, ${formatBytes(plan.totalBytes)} (before de-duplication with ${bundle}); ` +
      `module images a release lists in its images_digests.json are found once its layers are pulled\n`,
  );
}

/** Adds the second pull (the module images a release lists) to the first one's figures. */
function addSummary(s: PullSummary, m: PullSummary): void {
  s.images += m.images;
  s.manifests += m.manifests;
  s.blobs += m.blobs;
  s.totalBytes += m.totalBytes;
  s.downloadedBlobs += m.downloadedBlobs;
  s.downloadedBytes += m.downloadedBytes;
  s.reusedBlobs += m.reusedBlobs;
  s.reusedBytes += m.reusedBytes;
  s.seconds += m.seconds;
}

function printPullSummary(s: PullSummary, bundle: string): void {
  process.stdout.write(
    `pulled ${count(s.images, "image")} into ${bundle}: ${count(s.blobs, "blob")} (${formatBytes(s.totalBytes)}), ` +
      `downloaded ${s.downloadedBlobs} (${formatBytes(s.downloadedBytes)}), already there ${s.reusedBlobs} (${formatBytes(s.reusedBytes)}), ` +
      `${count(s.manifests, "manifest")}, ${s.seconds.toFixed(1)} s, ${formatBytes(s.downloadedBytes / Math.max(s.seconds, 0.001))}/s\n`,
  );
}

async function runPush(args: string[], secrets: string[]): Promise<number> {
  const { values, positionals } = parse(args, COMMON);
  if (positionals.length !== 2)
    throw new UsageError("mirror push: expected BUNDLE_DIR REGISTRY/PATH");
  const [bundle, targetAddress] = positionals as [string, string];
  transferV8Flags();
  const parallel = parallelOf(values.parallel);
  if (values.license !== undefined)
    throw new UsageError("mirror push: --license is for pull; push with --creds");
  const { client, repository } = clientFor(targetAddress, "REGISTRY/PATH", values, secrets);
  const recorder = phaseRecorder();
  try {
    const dryRun = values["dry-run"] === true;
    const s = await push(client, bundle, repository, {
      parallel,
      dryRun,
      progress: await progressFor(),
      ...(recorder ? { phases: recorder.phases } : {}),
    });
    // a dry run moves nothing: no duration or rate to report
    const timing = dryRun
      ? ""
      : `; ${s.seconds.toFixed(1)} s, ${formatBytes(s.uploadedBytes / Math.max(s.seconds, 0.001))}/s`;
    process.stdout.write(
      `${dryRun ? "would push" : "pushed"} ${count(s.images, "image")} (${count(s.tags, "tag")}) to ${client.registry}/${repository}: ` +
        `${count(s.blobs, "blob")} (${formatBytes(s.totalBytes)}), ${dryRun ? "to upload" : "uploaded"} ${s.uploadedBlobs} (${formatBytes(s.uploadedBytes)}), ` +
        `${dryRun ? "to mount" : "mounted"} ${s.mountedBlobs}, already there ${s.presentBlobs}; manifests ${dryRun ? "to put" : "put"} ${s.manifestsPut}, already there ${s.manifestsPresent}` +
        `${timing}\n`,
    );
    recorder?.report();
    return 0;
  } finally {
    await client.close();
  }
}
