// Reading images back with the real `skopeo`, as a client of a registry under test:
//
//   const files = await skopeoCopyToDir(lab, `${hostPort}/system/deckhouse:v1`, lab.path("pull"), {
//     caPem: ca.certPem, creds: "ro:password" });        // blob files by hex digest, sorted
//   const digest = manifestDigest(await skopeoRawManifest(lab, ref, { caPem, creds }));
//
// skopeo keeps its state under the lab (HOME, XDG_RUNTIME_DIR), never the user's.
import { createHash } from "node:crypto";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Lab } from "./lab";
import { run } from "./process";

export interface SkopeoAccess {
  /** the CA the registry's certificate chains to; without it, plain skopeo defaults */
  caPem?: string;
  /** `user:password`; without it, anonymous */
  creds?: string | null;
}

const envOf = (lab: Lab) => ({ env: { HOME: lab.dir, XDG_RUNTIME_DIR: lab.dir } });

/** A skopeo `--cert-dir` trusting `caPem` (one per CA, under the lab). */
export async function skopeoCertDir(lab: Lab, caPem: string): Promise<string> {
  const dir = lab.path(
    "skopeo-certs",
    createHash("sha256").update(caPem).digest("hex").slice(0, 12),
  );
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "ca.crt"), caPem);
  return dir;
}

/** sha256 of a manifest as served (what a registry names it by). */
export const manifestDigest = (raw: string): string =>
  `sha256:${createHash("sha256").update(raw).digest("hex")}`;

/** `skopeo copy docker://<reference> dir:<dest>`; returns the blob files (hex digests), sorted. */
export async function skopeoCopyToDir(
  lab: Lab,
  reference: string,
  dest: string,
  access: SkopeoAccess & { allPlatforms?: boolean } = {},
): Promise<string[]> {
  await mkdir(dirname(dest), { recursive: true });
  await run(
    "skopeo",
    [
      "--insecure-policy",
      "copy",
      ...(access.allPlatforms ? ["--all"] : []),
      ...(access.creds ? ["--src-creds", access.creds] : []),
      ...(access.caPem ? ["--src-cert-dir", await skopeoCertDir(lab, access.caPem)] : []),
      `docker://${reference}`,
      `dir:${dest}`,
    ],
    envOf(lab),
  );
  return (await readdir(dest)).filter(f => /^[0-9a-f]{64}$/.test(f)).sort();
}

/** `skopeo inspect --raw docker://<reference>`: the manifest exactly as the registry serves it. */
export async function skopeoRawManifest(
  lab: Lab,
  reference: string,
  access: SkopeoAccess = {},
): Promise<string> {
  const { stdout } = await run(
    "skopeo",
    [
      "inspect",
      "--raw",
      ...(access.caPem ? ["--cert-dir", await skopeoCertDir(lab, access.caPem)] : []),
      ...(access.creds ? ["--creds", access.creds] : []),
      `docker://${reference}`,
    ],
    envOf(lab),
  );
  return stdout;
}
