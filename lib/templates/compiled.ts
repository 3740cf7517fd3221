// Development source of the module's templates: compiles templates/**/*.hbs from disk on first
// use. The build replaces this module with precompiled templates (scripts/templates-plugin.mjs),
// so the hooks executable carries no template compiler and reads no template files.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import Handlebars from "handlebars";
import { helpers } from "./helpers";

export const TEMPLATES_DIR = fileURLToPath(new URL("../../templates", import.meta.url));

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.name.endsWith(".hbs") ? [path] : [];
  });
}

let cache: Record<string, Handlebars.TemplateDelegate> | undefined;

/** Template name = path under templates/ without `.hbs`, e.g. `state/registry-state.yaml`. */
export function loadTemplates(dir = TEMPLATES_DIR): Record<string, Handlebars.TemplateDelegate> {
  if (cache && dir === TEMPLATES_DIR) return cache;
  const env = Handlebars.create();
  env.registerHelper(helpers);
  const out: Record<string, Handlebars.TemplateDelegate> = {};
  for (const file of walk(dir)) {
    const name = relative(dir, file).replace(/\.hbs$/, "");
    out[name] = env.compile(readFileSync(file, "utf8"), { strict: true, noEscape: true });
  }
  if (dir === TEMPLATES_DIR) cache = out;
  return out;
}
