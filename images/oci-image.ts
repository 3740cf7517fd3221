// Builds the data-plane image from scratch, with no container engine and no base image
// (docs/adr/0100): one multi-call Node single executable application for gateway, mirrorer and
// nodeservices-manager, Debian's `docker-registry` (CNCF distribution), Debian's `nginx` (its
// modules compiled in: ssl, auth_request; docs/adr/0110) and static `catatonit`
// (/pause), and the shared libraries `ldd` says they load; one deterministic layer, written into an OCI image layout by `umoci` with
// one manifest per image name the module's templates use.
//
//   node --import tsx images/oci-image.ts --out dist/image
//     → dist/image/layout (OCI layout), dist/image/digests.json ({name: manifest digest}),
//       and the digests as JSON on stdout
//
// Needs: umoci, GNU tar, ldd (libc-bin), docker-registry, catatonit, the `node` running this (its binary
// becomes the executable, as for the hooks: docs/adr/0001). No network.
import { execFile } from "node:child_process";
import {
  chmod,
  copyFile,
  mkdir,
  readFile,
  realpath,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { build, type Plugin } from "esbuild";
// @ts-expect-error -- plain ES module without types, shared with scripts/build.mjs
import { templatesPlugin } from "../scripts/templates-plugin.mjs";

const execFileP = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** The one executable; the programs are symlinks to it (images/dataplane.ts picks by name). */
export const EXECUTABLE = "/usr/local/bin/registry-dataplane";
export const DISTRIBUTION = "/usr/bin/docker-registry";
/** Debian's nginx: TLS and blob reads in front of the gateway (docs/adr/0110) */
export const NGINX = "/usr/bin/nginx";
/**
 * What the manager DaemonSet's image-holder containers run (they only keep the images pulled):
 * Debian's static `catatonit`, whose `-P` is a pause container's "sleep until signalled".
 */
export const PAUSE = "/pause";

/** Program paths in the image → what they are. The pod specs' commands name these paths. */
export const IMAGE_PROGRAMS = {
  "/usr/local/bin/gateway": EXECUTABLE,
  "/usr/local/bin/mirrorer": EXECUTABLE,
  "/usr/local/bin/nodeservices-manager": EXECUTABLE,
  "/manager": EXECUTABLE,
} as const;

/**
 * The image names the build produces (ref names in the layout), each with its ENTRYPOINT. These
 * are the keys Deckhouse puts under `global.modulesImages.digests.registry`, which the module's
 * templates read (lib/render/manifests.ts). All share the one layer.
 */
export const IMAGE_ENTRYPOINTS = {
  registryGateway: ["/usr/local/bin/gateway"],
  registryMirrorer: ["/usr/local/bin/mirrorer"],
  registryNodeservicesManager: ["/manager"],
  // the stock image's `registry serve <config>`: the pod gives `serve <config>` as args
  registryDistribution: [DISTRIBUTION],
} as const satisfies Record<string, readonly string[]>;
export type ImageName = keyof typeof IMAGE_ENTRYPOINTS;

// The fuse postject flips so node runs the injected blob instead of its usual CLI (as
// scripts/build.mjs does for the hooks).
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
/** Every timestamp in the image: the layer's mtimes, the config's and history's `created`. */
const EPOCH = Number(process.env.SOURCE_DATE_EPOCH ?? 0);

async function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { ...opts, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === "ENOENT") throw new Error(`${cmd} not found: ${installHint(cmd)}`);
    throw new Error(`${cmd} ${args.join(" ")}: ${err.stderr?.trim() || err.message}`);
  }
}

function installHint(cmd: string): string {
  const pkg: Record<string, string> = {
    umoci: "umoci",
    tar: "tar",
    ldd: "libc-bin",
    "docker-registry": "docker-registry",
    nginx: "nginx",
  };
  return `apt-get install ${pkg[cmd] ?? cmd}`;
}

/**
 * Optional add-ons dependencies try to require() and do without (ws: bufferutil, utf-8-validate;
 * node-fetch: encoding). Left as require() calls, the single executable would look for them on
 * disk and print a warning at every start; bundled as "not installed", they fail the same way the
 * dependencies already handle.
 */
const OPTIONAL_MODULES = ["bufferutil", "utf-8-validate", "encoding"];
const absentOptionalModules: Plugin = {
  name: "absent-optional-modules",
  setup(b) {
    const filter = new RegExp(`^(${OPTIONAL_MODULES.join("|")})$`);
    b.onResolve({ filter }, args => ({ path: args.path, namespace: "absent" }));
    b.onLoad({ filter: /.*/, namespace: "absent" }, args => ({
      contents: `throw Object.assign(new Error("Cannot find module '${args.path}'"), { code: "MODULE_NOT_FOUND" });`,
      loader: "js",
    }));
  },
};

/** Bundles images/dataplane.ts and turns it into a single executable at `out`. */
async function buildExecutable(work: string, out: string): Promise<void> {
  const bundle = join(work, "dataplane.cjs");
  // A single executable's main script is CommonJS and can require() only built-in modules:
  // everything else is bundled in.
  await build({
    entryPoints: [join(root, "images/dataplane.ts")],
    outfile: bundle,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    // the manager renders nginx's config from templates/: precompiled in, no files read at run time
    plugins: [
      absentOptionalModules,
      templatesPlugin({
        templatesDir: join(root, "templates"),
        compiledModule: join(root, "lib/templates/compiled.ts"),
        helpersPath: join(root, "lib/templates/helpers.ts"),
      }),
    ],
  });
  const blob = join(work, "dataplane.blob");
  // paths relative to `work`: the blob records the main script's path, and the same sources must
  // give the same executable wherever the build runs
  await writeFile(
    join(work, "sea-config.json"),
    JSON.stringify({
      main: "dataplane.cjs",
      output: "dataplane.blob",
      disableExperimentalSEAWarning: true,
    }),
  );
  await sh(process.execPath, ["--experimental-sea-config", "sea-config.json"], { cwd: work });
  await mkdir(dirname(out), { recursive: true });
  await copyFile(process.execPath, out);
  await chmod(out, 0o755);
  await sh(process.execPath, [
    join(root, "node_modules/postject/dist/cli.js"),
    out,
    "NODE_SEA_BLOB",
    blob,
    "--sentinel-fuse",
    SEA_FUSE,
  ]);
}

/** Absolute paths of the shared objects (and the loader) `binary` needs, as ldd resolves them. */
export async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await sh("ldd", [binary]);
  const libs = new Set<string>();
  for (const line of out.split("\n")) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/.exec(line);
    if (m?.[1]) libs.add(m[1]);
    else if (/not found/.test(line)) throw new Error(`${binary}: ${line.trim()}`);
  }
  return [...libs].sort();
}

/** The image's root directory: executable, symlinks, distribution, libraries, a few /etc files. */
async function stageRootfs(rootfs: string, work: string): Promise<void> {
  const exe = join(rootfs, EXECUTABLE);
  await buildExecutable(work, exe);
  for (const [path, target] of Object.entries(IMAGE_PROGRAMS)) {
    await mkdir(dirname(join(rootfs, path)), { recursive: true });
    await symlink(target, join(rootfs, path));
  }
  const distribution = (
    await sh("sh", ["-c", "command -v docker-registry"]).catch(() => "")
  ).trim();
  if (!distribution)
    throw new Error(`docker-registry not found: ${installHint("docker-registry")}`);
  await mkdir(join(rootfs, dirname(DISTRIBUTION)), { recursive: true });
  await copyFile(await realpath(distribution), join(rootfs, DISTRIBUTION));
  await chmod(join(rootfs, DISTRIBUTION), 0o755);
  const pause = (await sh("sh", ["-c", "command -v catatonit"]).catch(() => "")).trim();
  if (!pause) throw new Error(`catatonit not found: ${installHint("catatonit")}`);
  await copyFile(await realpath(pause), join(rootfs, PAUSE));
  await chmod(join(rootfs, PAUSE), 0o755);
  const nginx = (await sh("sh", ["-c", "command -v nginx"]).catch(() => "")).trim();
  if (!nginx) throw new Error(`nginx not found: ${installHint("nginx")}`);
  await mkdir(join(rootfs, dirname(NGINX)), { recursive: true });
  await copyFile(await realpath(nginx), join(rootfs, NGINX));
  await chmod(join(rootfs, NGINX), 0o755);
  const libs = new Set([
    ...(await sharedLibraries(process.execPath)),
    ...(await sharedLibraries(distribution)),
    ...(await sharedLibraries(nginx)),
  ]);
  for (const lib of [...libs].sort()) {
    const dest = join(rootfs, lib);
    await mkdir(dirname(dest), { recursive: true });
    // the file itself under the name the loader looks for (no symlink chains into the host)
    await copyFile(await realpath(lib), dest);
    await chmod(dest, 0o755);
  }
  await mkdir(join(rootfs, "etc"), { recursive: true });
  // glibc ≥ 2.34 has files and dns built in; say the order instead of relying on its default
  await writeFile(join(rootfs, "etc/nsswitch.conf"), "hosts: files dns\n");
  // nobody/nogroup: nginx's workers (its master, root, reads the key and binds the port)
  await writeFile(
    join(rootfs, "etc/passwd"),
    "root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n",
  );
  await writeFile(join(rootfs, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  await mkdir(join(rootfs, "tmp"), { recursive: true });
  await chmod(join(rootfs, "tmp"), 0o1777);
}

/** One uncompressed layer: entries sorted by name, fixed mtime, root-owned, no atime/ctime. */
async function writeLayer(rootfs: string, tarFile: string): Promise<void> {
  await sh("tar", [
    "--sort=name",
    `--mtime=@${EPOCH}`,
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--format=posix",
    "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
    "-C",
    rootfs,
    "-cf",
    tarFile,
    ".",
  ]);
}

export interface BuiltImage {
  layout: string;
  /** image name → manifest digest */
  digests: Record<ImageName, string>;
}

/** Builds the layout under `outDir` (replacing it). */
export async function buildDataplaneImage(outDir: string): Promise<BuiltImage> {
  await rm(outDir, { recursive: true, force: true });
  const work = join(outDir, "work");
  const rootfs = join(work, "rootfs");
  const layout = join(outDir, "layout");
  await mkdir(rootfs, { recursive: true });
  await stageRootfs(rootfs, work);
  const layer = join(work, "layer.tar");
  await writeLayer(rootfs, layer);

  const created = new Date(EPOCH * 1000).toISOString().replace(/\.000Z$/, "Z");
  const [first, ...others] = Object.keys(IMAGE_ENTRYPOINTS) as ImageName[];
  const firstRef = `${layout}:${first}`;
  await sh("umoci", ["init", "--layout", layout]);
  await sh("umoci", ["new", "--image", firstRef]);
  await sh("umoci", [
    "raw",
    "add-layer",
    "--image",
    firstRef,
    "--history.created",
    created,
    "--history.created_by",
    "images/oci-image.ts",
    layer,
  ]);
  const config = (name: ImageName) => [
    "--no-history",
    "--created",
    created,
    "--os",
    "linux",
    "--architecture",
    "amd64",
    "--config.workingdir",
    "/",
    "--config.user",
    "0:0",
    "--config.env",
    "PATH=/usr/local/bin:/usr/bin:/bin",
    ...IMAGE_ENTRYPOINTS[name].flatMap(a => ["--config.entrypoint", a]),
  ];
  await sh("umoci", ["config", "--image", firstRef, ...config(first as ImageName)]);
  for (const name of others) {
    await sh("umoci", ["config", "--image", firstRef, "--tag", name, ...config(name)]);
  }
  await sh("umoci", ["gc", "--layout", layout]);
  await rm(work, { recursive: true, force: true });

  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
    manifests: { digest: string; annotations?: Record<string, string> }[];
  };
  const digests = {} as Record<ImageName, string>;
  for (const m of index.manifests) {
    const name = m.annotations?.["org.opencontainers.image.ref.name"];
    if (name && name in IMAGE_ENTRYPOINTS) digests[name as ImageName] = m.digest;
  }
  await writeFile(join(outDir, "digests.json"), `${JSON.stringify(digests, null, 2)}\n`);
  return { layout, digests };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string", default: "dist/image" } } });
  const started = Date.now();
  const { layout, digests } = await buildDataplaneImage(resolve(values.out ?? "dist/image"));
  process.stdout.write(`${JSON.stringify({ layout, digests })}\n`);
  process.stderr.write(`oci-image: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
