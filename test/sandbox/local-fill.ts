// Filling Local mode's registries as a user does (the module's runbook): `registry-module mirror
// pull` of the release from an upstream into a bundle directory, then — once the switch to Local
// has put the masters' registries up — `registry-module mirror push` of that bundle to ONE
// master's gateway (`<master-ip>:5001/system/deckhouse`) as the `rw` user, whose password the
// user reads from Secret d8-system/registry-user-rw, trusting the module's CA (registry-pki's
// ca.crt). Copying to the other masters is the module's own business (their mirrorers take the
// pushed master as upstream); the checker then finds the images in every master's registry.
//
// The built CLI (`dist/cli/registry-module.mjs`, what a user runs) in its own process;
// credentials go through MIRROR_CREDS, never through the command line.
//
//   const bundle = await pullBundle(upstream, RELEASE_TAG, join(dir, "bundle"));
//   await pushBundle(cp, `${master.node.ip}:5001`, bundle, { timeoutMs: 240_000, caFile });
import { existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CommandError, run } from "../e2e-lab";
import type { ControlPlane } from "../lab/control-plane";
import type { Upstream } from "./sandbox";

const NS = "d8-system";
const REPO_ROOT = join(import.meta.dirname, "..", "..");
export const MIRROR_CLI = join(REPO_ROOT, "dist", "cli", "registry-module.mjs");
/** Where Local serves the platform's images (the managed modes' path). */
export const LOCAL_PATH = "system/deckhouse";

export interface MirrorRun {
  stdout: string;
  seconds: number;
}

async function mirror(args: string[], creds: string | undefined): Promise<MirrorRun> {
  if (!existsSync(MIRROR_CLI))
    throw new Error(`${MIRROR_CLI} is missing: run \`npm run build\` first`);
  const t0 = Date.now();
  const r = await run(process.execPath, [MIRROR_CLI, "mirror", ...args], {
    cwd: REPO_ROOT,
    timeoutMs: 300_000,
    env: creds === undefined ? {} : { MIRROR_CREDS: creds },
  });
  return { stdout: r.stdout.trim(), seconds: (Date.now() - t0) / 1000 };
}

/** `mirror pull --source <upstream> --tag <tag>`: the release and the module images it lists. */
export async function pullBundle(
  upstream: Upstream,
  tag: string,
  bundle: string,
): Promise<MirrorRun> {
  const caFile = `${bundle}.upstream-ca.crt`;
  await writeFile(caFile, upstream.ca);
  const creds = upstream.user && `${upstream.user.username}:${upstream.user.password}`;
  return mirror(
    ["pull", "--source", upstream.imagesRepo, "--tag", tag, "--ca", caFile, bundle],
    creds,
  );
}

async function secretData(cp: Pick<ControlPlane, "kubectl">, name: string) {
  const r = await cp
    .kubectl(["get", "-n", NS, "secret", name, "-o", "json"])
    .catch(() => undefined);
  if (!r) return undefined;
  const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
  return (key: string) => Buffer.from(data[key] ?? "", "base64").toString("utf8");
}

/**
 * `mirror push <bundle> <gateway>/system/deckhouse` as `rw`, retried until it succeeds:
 * the switch creates the user and starts the masters' registries in steps, and a user pushing
 * too early sees a refused connection or a 401 and tries again.
 */
export async function pushBundle(
  cp: Pick<ControlPlane, "kubectl">,
  /** `host:port` of the master's gateway */
  gateway: string,
  bundle: string,
  opts: { timeoutMs: number; caFile: string },
): Promise<MirrorRun & { attempts: number }> {
  const deadline = Date.now() + opts.timeoutMs;
  let attempts = 0;
  let last = "the rw user's Secret registry-user-rw or the CA in registry-pki did not appear";
  while (Date.now() < deadline) {
    const rw = await secretData(cp, "registry-user-rw");
    const pki = await secretData(cp, "registry-pki");
    const ca = pki?.("ca.crt");
    if (rw && ca) {
      await writeFile(opts.caFile, ca);
      attempts++;
      try {
        const target = `${gateway}/${LOCAL_PATH}`;
        const pushed = await mirror(
          ["push", bundle, target, "--ca", opts.caFile],
          `${rw("name")}:${rw("password")}`,
        );
        return { ...pushed, attempts };
      } catch (err) {
        last = err instanceof CommandError ? err.stderr.trim().split("\n").pop()! : String(err);
      }
    }
    await new Promise(r => setTimeout(r, 2_000));
  }
  throw new Error(
    `mirror push to ${gateway} did not succeed within ${opts.timeoutMs} ms ` +
      `(${attempts} attempts); last: ${last}`,
  );
}
