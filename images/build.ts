// Bundles the data-plane programs, each into one self-contained ES module for Node 20:
// <out>/gateway.mjs, <out>/nodeservices-manager.mjs, <out>/mirrorer.mjs. No network: everything
// comes from node_modules. The image (images/Dockerfile) copies these onto a pinned Node base.
//
//   node --import tsx images/build.ts [--out dist/images]
import { build } from "esbuild";
import { chmod, mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
// @ts-expect-error -- plain ES module without types, shared with scripts/build.mjs
import { templatesPlugin } from "../scripts/templates-plugin.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");

export const PROGRAMS = {
  gateway: "gateway/src/run.ts",
  "nodeservices-manager": "nodeservices-manager/src/run.ts",
  mirrorer: "mirrorer/src/run.ts",
} as const;
export type Program = keyof typeof PROGRAMS;

/** Writes one bundle per program into `outDir`; returns their paths. */
export async function buildImageBundles(outDir: string): Promise<Record<Program, string>> {
  await mkdir(outDir, { recursive: true });
  const out = {} as Record<Program, string>;
  for (const [name, entry] of Object.entries(PROGRAMS) as [Program, string][]) {
    const outfile = join(outDir, `${name}.mjs`);
    await build({
      entryPoints: [join(here, entry)],
      outfile,
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      minify: false,
      sourcemap: false,
      legalComments: "none",
      logLevel: "warning",
      // the manager renders nginx's config from templates/: precompiled in, as in the hooks
      plugins: [
        templatesPlugin({
          templatesDir: join(root, "templates"),
          compiledModule: join(root, "lib/templates/compiled.ts"),
          helpersPath: join(root, "lib/templates/helpers.ts"),
        }),
      ],
      // executable through a symlink (the image's /usr/local/bin/<name>); CommonJS dependencies
      // inside an ES module bundle still call require()
      banner: {
        js: [
          "#!/usr/bin/env node",
          'import { createRequire as __createRequire } from "node:module";',
          "const require = __createRequire(import.meta.url);",
        ].join("\n"),
      },
    });
    await chmod(outfile, 0o755);
    out[name] = outfile;
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { out: { type: "string", default: "dist/images" } } });
  const out = await buildImageBundles(resolve(values.out ?? "dist/images"));
  for (const file of Object.values(out)) process.stdout.write(`${file}\n`);
}
