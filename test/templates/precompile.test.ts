// Templates are precompiled into the build: the esbuild plugin the build uses replaces the
// development loader, and what the precompiled templates render equals what the development
// compiler renders, for the same sources and helpers.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { loadTemplates } from "../../lib/templates/compiled";
// @ts-expect-error -- plain ESM build script without type declarations
import { templatesPlugin } from "../../scripts/templates-plugin.mjs";

const context = { name: "registry-state", mode: "Direct", data: { a: 1 }, secret: "p@ss" };

function templatesDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "templates-"));
  mkdirSync(join(dir, "state"));
  writeFileSync(
    join(dir, "state", "secret.yaml.hbs"),
    [
      "apiVersion: v1",
      "kind: Secret",
      "metadata:",
      "  name: {{name}}",
      "data:",
      "  mode: {{base64 mode}}",
      "  secret: {{base64 secret}}",
      "  json: {{base64 (json data)}}",
      "{{#if data.a}}",
      "# a is set & <not escaped>",
      "{{/if}}",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "strict.hbs"), "{{missing.field}}");
  return dir;
}

describe("template precompilation", () => {
  it("renders the same through the build plugin as through the development compiler", async () => {
    const dir = templatesDir();
    const out = join(dir, "bundle.cjs");
    await build({
      stdin: {
        contents: `import { renderTemplate, templateNames } from "./lib/templates/index";
          process.stdout.write(JSON.stringify({ names: templateNames(),
            text: renderTemplate("state/secret.yaml", ${JSON.stringify(context)}) }));`,
        resolveDir: resolve("."),
        loader: "ts",
      },
      outfile: out,
      bundle: true,
      platform: "node",
      format: "cjs",
      logLevel: "silent",
      plugins: [
        templatesPlugin({
          templatesDir: dir,
          compiledModule: resolve("lib/templates/compiled.ts"),
          helpersPath: resolve("lib/templates/helpers.ts"),
        }),
      ],
    });
    const bundle = readFileSync(out, "utf8");
    expect(bundle).not.toContain("{{name}}"); // sources are not shipped, only compiled specs
    expect(bundle).not.toMatch(/function compile\(input, options, env\)/); // no compiler inside
    const built = JSON.parse(execFileSync(process.execPath, [out], { encoding: "utf8" })) as {
      names: string[];
      text: string;
    };
    const dev = loadTemplates(dir)["state/secret.yaml"]?.(context);
    expect(built.names).toEqual(["state/secret.yaml", "strict"]);
    expect(built.text).toBe(dev);
    expect(built.text).toContain(`secret: ${Buffer.from("p@ss").toString("base64")}`);
    expect(built.text).toContain("# a is set & <not escaped>");
  });

  it("is strict: a template reading a missing field fails instead of rendering empty", () => {
    const template = loadTemplates(templatesDir()).strict;
    expect(() => template?.({})).toThrow(/not defined/);
  });
});
