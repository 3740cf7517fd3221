// What the built CLI's `mirror` loads (docs/adr/0140: peak RSS ≤ 64 MiB). An ESM import of a
// CommonJS package from node_modules makes Node load its CommonJS export scanner (WebAssembly),
// ≈ 5 MiB of peak RSS for mirror pull and push; scripts/build.mjs bundles such packages into the
// CLI instead. This follows the static imports of the mirror command's chunk in dist/cli and
// requires every one that leaves dist/cli to be one of Node's own modules.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { requireBuild } from "../contract/built";

const DIR = "dist/cli";

/** Specifiers of the static `import … from "…"` statements of a built chunk. */
function staticImports(file: string): string[] {
  const text = readFileSync(join(DIR, file), "utf8");
  return [...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"/gm)].map(m => m[1]!);
}

/** Every specifier the chunk `entry` loads statically, its own chunks followed. */
function loadedBy(entry: string): string[] {
  const seen = new Set<string>();
  const outside = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith("./")) visit(spec.slice(2));
      else outside.add(spec);
    }
  };
  visit(entry);
  return [...outside].sort();
}

beforeAll(requireBuild);

describe("registry-module mirror, as built", () => {
  it("loads only Node's own modules, no package through Node's ESM loader", () => {
    const cli = readFileSync(join(DIR, "registry-module.mjs"), "utf8");
    const chunk = /import\("\.\/(mirror-[A-Z0-9]+\.mjs)"\)/.exec(cli)?.[1];
    expect(chunk, "the mirror command's chunk in dist/cli/registry-module.mjs").toBeDefined();
    const loaded = loadedBy(chunk!);
    expect(loaded.length).toBeGreaterThan(0);
    expect(loaded.filter(spec => !spec.startsWith("node:"))).toEqual([]);
  });
});
