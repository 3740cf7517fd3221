#!/usr/bin/env node
// Builds dist/: the assembled module (dist/module) whose hooks run with no Node.js on the host
// (a Node single executable application, docs/adr/0001), and the CLI (dist/cli).
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { loadedModuleIds, withCodeCacheOnlyFor } from "./sea-code-cache.mjs";
import { templatesPlugin } from "./templates-plugin.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const work = join(dist, "build");
const moduleDir = join(dist, "module");
const HOOKS_EXE = "registry-hooks";
// The fuse postject flips so node runs the injected blob instead of its usual CLI.
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";

const templates = templatesPlugin({
  templatesDir: join(root, "templates"),
  compiledModule: join(root, "lib/templates/compiled.ts"),
  helpersPath: join(root, "lib/templates/helpers.ts"),
});

const log = msg => process.stderr.write(`build: ${msg}\n`);

/**
 * Code a hook run loads only on some paths (YAML, the OCI client, X.509 generation, bcrypt, Ajv,
 * the renderer) lives in files beside the executable, not in it: the executable's start-up cost
 * grows with the code embedded in it, and every hook run pays that start-up (docs/adr/0001).
 * Key: what the hooks import dynamically (package name, or source path without extension).
 */
const LAZY_CHUNKS = {
  yaml: "yaml",
  bcryptjs: "bcryptjs",
  "lib/domain/certificate-factory": "certificate-factory",
  "lib/domain/registry-init": "registry-init",
  "lib/checker/oci-session": "oci-session",
  "lib/openapi/schemas": "openapi",
  "lib/render/manifests": "render",
};

function chunkOf(path, resolveDir) {
  if (LAZY_CHUNKS[path]) return LAZY_CHUNKS[path];
  if (!path.startsWith(".")) return undefined;
  const rel = relative(root, resolve(resolveDir, path)).replace(/\.ts$/, "");
  return LAZY_CHUNKS[rel];
}

/** Dynamic imports of chunked code become a require of the chunk file, resolved from the executable. */
const lazyChunks = {
  name: "lazy-chunks",
  setup(b) {
    b.onResolve({ filter: /.*/ }, args => {
      if (args.kind !== "dynamic-import") return undefined;
      const chunk = chunkOf(args.path, args.resolveDir);
      return chunk ? { path: chunk, namespace: "lazy-chunk" } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: "lazy-chunk" }, args => ({
      // The executable's own require() loads only built-in modules; this one reads files. While
      // the snapshot is built there is no chunk beside the executable, and a failed load would
      // stay in the snapshot (esbuild caches the module): a warm-up run that needs a chunk stops
      // the build instead.
      contents: `if (require("node:v8").startupSnapshot.isBuildingSnapshot()) {
  process.stderr.write("snapshot warm-up: a run loaded hooks/lib/${args.path}.cjs, which cannot be warmed up\\n");
  process.exit(1);
}
module.exports = require("node:module").createRequire(process.execPath)("./lib/${args.path}.cjs");`,
      loader: "js",
    }));
  },
};

const HOOK_BUNDLE = {
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
};

async function bundleHooks() {
  const main = await build({
    ...HOOK_BUNDLE,
    entryPoints: [join(root, "hooks/main.ts")],
    outfile: join(work, "hooks.cjs"),
    plugins: [templates, lazyChunks],
    metafile: true,
  });
  // what the executable embeds, for whoever needs to keep its start-up lean
  writeFileSync(join(work, "hooks-meta.json"), JSON.stringify(main.metafile));
  for (const [source, chunk] of Object.entries(LAZY_CHUNKS)) {
    const entry = source.startsWith("lib/") ? join(root, `${source}.ts`) : source;
    await build({
      ...HOOK_BUNDLE,
      ...(source.startsWith("lib/")
        ? { entryPoints: [entry] }
        : {
            stdin: {
              contents: `module.exports = require(${JSON.stringify(source)});`,
              resolveDir: root,
            },
          }),
      outfile: join(moduleDir, "hooks", "lib", `${chunk}.cjs`),
      plugins: [templates],
    });
  }
}

/**
 * The runs the snapshot is warmed up with (docs/adr/0118): scripts/warm-up-runs.ts writes them,
 * with their input files, from the project's own hook test harness.
 */
async function writeWarmUpRuns() {
  const script = join(work, "warm-up-runs.mjs");
  await build({
    entryPoints: [join(root, "scripts/warm-up-runs.ts")],
    outfile: script,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    packages: "external",
    logLevel: "warning",
    plugins: [templates],
  });
  const dir = join(work, "warm-up");
  execFileSync(process.execPath, [script, dir, join(root, "openapi")], { stdio: "inherit" });
  return join(dir, "runs.json");
}

/**
 * Runs node with `args`; its stderr is shown except the lines `known` matches (explained where
 * called), its stdout only on failure (postject prints its errors there).
 */
function runQuietly(args, env, known) {
  const run = spawnSync(process.execPath, args, { env, encoding: "utf8" });
  const said = `${run.stderr ?? ""}`.split("\n").filter(line => line !== "" && !known.test(line));
  if (said.length > 0) process.stderr.write(`${said.join("\n")}\n`);
  if (run.status !== 0) {
    throw new Error(
      `node ${args.join(" ")}: ${run.error?.message ?? `exit ${run.status ?? run.signal}`}\n${run.stdout ?? ""}`,
    );
  }
}

/**
 * Node's modules a run compiles when it loads the chunks, as the executable loads them (from a
 * require rooted at the executable), seen in a plain node of the same build.
 */
function modulesChunksLoad(exe) {
  const chunks = Object.values(LAZY_CHUNKS).map(chunk => `./lib/${chunk}.cjs`);
  const script = `const load = require("node:module").createRequire(process.argv[1]);
for (const chunk of JSON.parse(process.argv[2])) load(chunk);
process.stdout.write(JSON.stringify(process.moduleLoadList));`;
  const run = spawnSync(process.execPath, ["-e", script, exe, JSON.stringify(chunks)], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "" },
  });
  if (run.status !== 0) throw new Error(`loading the hooks chunks failed: ${run.stderr}`);
  return loadedModuleIds(JSON.parse(run.stdout));
}

/**
 * Keeps in the snapshot only the code cache of Node's modules that runs compile: those the chunks
 * load and the snapshot does not hold. The rest (2.5 of 2.6 MB) was read at every start of the
 * executable and never used (docs/adr/0166).
 */
function keepUsedCodeCache(blob, exe, loadedModulesFile) {
  const inSnapshot = new Set(loadedModuleIds(JSON.parse(readFileSync(loadedModulesFile, "utf8"))));
  const keep = new Set(modulesChunksLoad(exe).filter(id => !inSnapshot.has(id)));
  const trimmed = withCodeCacheOnlyFor(readFileSync(blob), keep);
  writeFileSync(blob, trimmed.blob);
  const mb = (trimmed.droppedBytes / 1e6).toFixed(1);
  log(
    `snapshot: code cache of ${trimmed.kept} Node modules kept, ${trimmed.dropped} dropped (${mb} MB)`,
  );
}

function buildExecutable(warmUpRuns) {
  const blob = join(work, "hooks.blob");
  const loadedModules = join(work, "loaded-modules.json");
  const seaConfig = join(work, "sea-config.json");
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: join(work, "hooks.cjs"),
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: true,
    }),
  );
  // `disableExperimentalSEAWarning` above silences the executable; the flag silences the blob's
  // writer, which also says "Wrote single executable preparation blob".
  runQuietly(
    ["--disable-warning=ExperimentalWarning", "--experimental-sea-config", seaConfig],
    // read by hooks/main.ts while the snapshot is built
    {
      ...process.env,
      REGISTRY_HOOKS_WARM_UP: warmUpRuns,
      REGISTRY_HOOKS_LOADED_MODULES: loadedModules,
    },
    /^Wrote single executable preparation blob to /,
  );
  const exe = join(moduleDir, "hooks", HOOKS_EXE);
  keepUsedCodeCache(blob, exe, loadedModules);
  mkdirSync(dirname(exe), { recursive: true });
  copyFileSync(process.execPath, exe);
  chmodSync(exe, 0o755);
  // LIEF (inside postject) warns "Can't find string offset for section name '.note.100'" (and
  // '.note') for notes of the official Node.js binary it has no section name for: annobin's GNU
  // build-attribute notes (type 0x100, `readelf -n node`). Harmless: they are written back
  // unchanged and the injected executable runs (test/contract).
  runQuietly(
    [
      join(root, "node_modules/postject/dist/cli.js"),
      exe,
      "NODE_SEA_BLOB",
      blob,
      "--sentinel-fuse",
      SEA_FUSE,
    ],
    process.env,
    /^warning: Can't find string offset for section name '\.note[.\w]*'$/,
  );
  return exe;
}

/** Per-hook launchers for plain shell-operator, outside hooks/ so addon-operator ignores them. */
async function writeShellHookLaunchers() {
  const { hooks } = await import(join(work, "hooks-list.mjs"));
  const dir = join(moduleDir, "shell-hooks");
  mkdirSync(dir, { recursive: true });
  for (const name of hooks) {
    const launcher = join(dir, name);
    // ${0%/*} instead of dirname: the launcher must work with no PATH at all.
    writeFileSync(
      launcher,
      `#!/bin/sh\nREGISTRY_HOOK=${name} exec "\${0%/*}/../hooks/${HOOKS_EXE}" "$@"\n`,
    );
    chmodSync(launcher, 0o755);
  }
}

async function listHookNames() {
  await build({
    stdin: {
      contents: `import { hooks as h } from "./hooks/index"; export const hooks = h.map(x => x.name);`,
      resolveDir: root,
      loader: "ts",
    },
    outfile: join(work, "hooks-list.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "warning",
  });
}

function assembleModule() {
  for (const file of ["module.yaml", "Chart.yaml", "enabled"]) {
    copyFileSync(join(root, file), join(moduleDir, file));
  }
  chmodSync(join(moduleDir, "enabled"), 0o755);
  cpSync(join(root, "openapi"), join(moduleDir, "openapi"), { recursive: true });
  // templates/*.hbs are precompiled into the hooks executable; Helm gets only the pass-through
  // chart template (docs/adr/0004).
  cpSync(join(root, "chart", "templates"), join(moduleDir, "templates"), { recursive: true });
  copyFileSync(join(root, "chart", ".helmignore"), join(moduleDir, ".helmignore"));
}

/**
 * CommonJS packages the CLI's `mirror` loads, bundled instead of left to node_modules: an ESM
 * import of a CommonJS file makes Node load its CommonJS export scanner (WebAssembly), which
 * costs `mirror` about 5 MiB of peak RSS (docs/adr/0140: ≤ 64 MiB); esbuild wraps them instead.
 */
const CLI_BUNDLED_PACKAGES = /^ipaddr\.js$/;

const bundledPackages = {
  name: "bundled-packages",
  setup(b) {
    b.onResolve({ filter: CLI_BUNDLED_PACKAGES }, args => ({
      path: createRequire(join(root, "package.json")).resolve(args.path),
    }));
  },
};

async function bundleCli() {
  await build({
    entryPoints: [join(root, "cli/registry-module.ts")],
    // one chunk per command beside the entry: `mirror` does not load the renderer's packages
    outdir: join(dist, "cli"),
    entryNames: "[name]",
    chunkNames: "[name]-[hash]",
    outExtension: { ".js": ".mjs" },
    splitting: true,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    packages: "external",
    banner: { js: "#!/usr/bin/env node" },
    logLevel: "warning",
    plugins: [templates, bundledPackages],
  });
  chmodSync(join(dist, "cli/registry-module.mjs"), 0o755);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
mkdirSync(moduleDir, { recursive: true });
await bundleHooks();
const exe = buildExecutable(await writeWarmUpRuns());
await listHookNames();
await writeShellHookLaunchers();
assembleModule();
await bundleCli();
log(`wrote ${exe} and dist/cli/registry-module.mjs`);
