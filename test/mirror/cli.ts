// The mirror CLI as the mirror tests run it (not a test file itself): its own process (node + tsx
// on run-cli.ts, so a test can kill it midway), and the argument lists of `mirror pull` and
// `mirror push` built from named options, so that a test spells out only what differs; and what a
// push left behind (tagsAt).
import { join } from "node:path";
import { RegistryClient } from "../../lib/oci/client";
import { OciError } from "../../lib/oci/errors";
import { CommandError, run, spawnProcess, type LabProcess } from "../e2e-lab";

export const REPO_ROOT = join(import.meta.dirname, "..", "..");
/** node arguments that run the mirror command (followed by its own arguments). */
export const MIRROR_CLI = ["--import", "tsx", join(REPO_ROOT, "test/mirror/run-cli.ts")];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** run inside a new network namespace with no network (`unshare -n`) */
  netns?: boolean;
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs `mirror <args>` to its end; a non-zero exit is a result, not an exception. */
export async function mirrorCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const argv = [...MIRROR_CLI, ...args];
  const [cmd, cmdArgs] = opts.netns
    ? ["unshare", ["-n", process.execPath, ...argv]]
    : [process.execPath, argv];
  try {
    const r = await run(cmd, cmdArgs, {
      cwd: REPO_ROOT,
      timeoutMs: opts.timeoutMs ?? 120_000,
      ...(opts.env ? { env: opts.env } : {}),
    });
    return { code: 0, ...r };
  } catch (err) {
    if (err instanceof CommandError)
      return { code: err.code ?? -1, stdout: err.stdout, stderr: err.stderr };
    throw err;
  }
}

/** Starts `mirror <args>` in the background (stopped with the lab). */
export function spawnMirrorCli(name: string, args: string[]): LabProcess {
  return spawnProcess(name, process.execPath, [...MIRROR_CLI, ...args], { cwd: REPO_ROOT });
}

/** How the CLI reaches a registry, and how it runs. */
export interface AccessFlags {
  /** `user:password` */
  creds?: string;
  license?: string;
  /** CA file */
  ca?: string;
  plainHttp?: boolean;
  parallel?: number | string;
  dryRun?: boolean;
}

export interface PullFlags extends AccessFlags {
  tags?: string[];
  imagesFile?: string;
}

function accessArgs(f: AccessFlags): string[] {
  return [
    ...(f.creds !== undefined ? ["--creds", f.creds] : []),
    ...(f.license !== undefined ? ["--license", f.license] : []),
    ...(f.ca !== undefined ? ["--ca", f.ca] : []),
    ...(f.plainHttp ? ["--plain-http"] : []),
    ...(f.parallel !== undefined ? ["--parallel", String(f.parallel)] : []),
    ...(f.dryRun ? ["--dry-run"] : []),
  ];
}

/** `mirror pull --source <source> [flags] <bundle>` */
export function pullArgs(source: string, bundle: string, flags: PullFlags = {}): string[] {
  return [
    "pull",
    "--source",
    source,
    ...(flags.tags ?? []).flatMap(t => ["--tag", t]),
    ...(flags.imagesFile !== undefined ? ["--images-file", flags.imagesFile] : []),
    ...accessArgs(flags),
    bundle,
  ];
}

/** `mirror push <bundle> <target> [flags]` */
export function pushArgs(bundle: string, target: string, flags: AccessFlags = {}): string[] {
  return ["push", bundle, target, ...accessArgs(flags)];
}

/** Tags a push left in a repository; a repository the registry does not know has none. */
export async function tagsAt(
  registry: string,
  repository: string,
  access: { ca: string; username: string; password: string },
): Promise<string[]> {
  const client = new RegistryClient({ registry, ...access });
  try {
    return await client.listTags(repository);
  } catch (err) {
    if (err instanceof OciError && err.kind === "not-found") return [];
    throw err;
  } finally {
    await client.close();
  }
}
