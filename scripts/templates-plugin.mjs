// esbuild plugin: replaces lib/templates/compiled.ts with templates/**/*.hbs precompiled by
// Handlebars, rendered by the runtime-only Handlebars build. Same compile options as the
// development loader (strict, noEscape), so both render identically (test/templates checks it).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import Handlebars from "handlebars";

const OPTIONS = { strict: true, noEscape: true };

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.name.endsWith(".hbs") ? [path] : [];
  });
}

export function precompiledModule(templatesDir, helpersPath) {
  const entries = walk(templatesDir).map(file => {
    const name = relative(templatesDir, file).replace(/\.hbs$/, "");
    const spec = Handlebars.precompile(readFileSync(file, "utf8"), OPTIONS);
    return `  ${JSON.stringify(name)}: env.template(${spec}),`;
  });
  return [
    `import Runtime from "handlebars/runtime.js";`,
    `import { helpers } from ${JSON.stringify(helpersPath)};`,
    `const env = Runtime.create();`,
    `env.registerHelper(helpers);`,
    `const templates = {`,
    ...entries,
    `};`,
    `export const TEMPLATES_DIR = "(precompiled)";`,
    `export function loadTemplates() { return templates; }`,
  ].join("\n");
}

export function templatesPlugin({ templatesDir, compiledModule, helpersPath }) {
  return {
    name: "handlebars-precompile",
    setup(build) {
      build.onLoad({ filter: /[\\/]lib[\\/]templates[\\/]compiled\.ts$/ }, args => {
        if (args.path !== compiledModule) return undefined;
        return {
          contents: precompiledModule(templatesDir, helpersPath),
          loader: "js",
          resolveDir: join(compiledModule, ".."),
          watchFiles: walk(templatesDir),
        };
      });
    },
  };
}
