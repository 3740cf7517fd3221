// The import-boundary rule of eslint.config.mjs, run by ESLint itself on sources placed in each
// layer: imports point from hooks/, images/ and cli/ into lib/, never back, and what ships is
// not built from test/ or bench/ code. Only the boundary rules run, so no type information is
// needed.
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const eslint = new ESLint({
  cwd: new URL("../..", import.meta.url).pathname,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) =>
    ruleId === "no-restricted-imports" || ruleId === "no-restricted-syntax",
});

/** The boundary messages ESLint reports for `code` placed at `filePath`. */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map(m => `${m.ruleId}: ${m.message}`);
}

const LIB_MESSAGE =
  "lib/ must not import hooks/, images/, cli/, test/, bench/, scripts/: hooks/, images/ and " +
  "cli/ import lib/, never back, and what ships is not built from tests";

describe("import boundaries (eslint.config.mjs)", () => {
  it.each([
    ["hooks", 'import type { NAMESPACE } from "../../hooks/orchestrator/bindings";'],
    ["images", 'import { DEFAULT_REALM } from "../../images/gateway/src/config";'],
    ["cli", 'import { main } from "../../cli/main";'],
    ["test", 'import { cluster } from "../../test/fixtures/clusters/generate";'],
    ["bench", 'import { run } from "../../bench/run";'],
    ["scripts", 'import { templatesPlugin } from "../../scripts/templates-plugin.mjs";'],
  ])("lib/ importing %s/ is an error", async (_dir, code) => {
    expect(await boundaryErrors("lib/orchestrator/model.ts", code)).toEqual([
      expect.stringMatching(/^no-restricted-imports: .* import is restricted/),
    ]);
    const [error] = await boundaryErrors("lib/orchestrator/model.ts", code);
    expect(error?.endsWith(LIB_MESSAGE)).toBe(true);
  });

  it("lib/ importing hooks/ dynamically is an error", async () => {
    expect(
      await boundaryErrors(
        "lib/render/manifests.ts",
        'export const load = () => import("../../hooks/orchestrator/bindings");',
      ),
    ).toEqual([`no-restricted-syntax: ${LIB_MESSAGE}`]);
  });

  it("lib/ importing lib/ is fine, also from a folder whose name is a layer's", async () => {
    expect(
      await boundaryErrors(
        "lib/orchestrator/model.ts",
        [
          'import type { RegistryParams } from "../domain/settings";',
          'import type { KubeObject } from "../runtime/types";',
          'export const load = () => import("../harness/index");',
          "export type { RegistryParams, KubeObject };",
        ].join("\n"),
      ),
    ).toEqual([]);
  });

  it("hooks/, images/ and cli/ may import lib/", async () => {
    const lib = 'import type { RegistryParams } from "../lib/domain/settings";\n';
    expect(await boundaryErrors("hooks/orchestrator.ts", lib)).toEqual([]);
    expect(await boundaryErrors("cli/render.ts", lib)).toEqual([]);
    expect(
      await boundaryErrors(
        "images/gateway/src/config.ts",
        'import type { RegistryParams } from "../../../lib/domain/settings";\n',
      ),
    ).toEqual([]);
  });

  it("hooks/ and images/ do not import each other", async () => {
    const [fromHooks] = await boundaryErrors(
      "hooks/orchestrator.ts",
      'import { DEFAULT_REALM } from "../images/gateway/src/config";',
    );
    expect(fromHooks).toMatch(/^no-restricted-imports: .*hooks\/ must not import images\//);
    const [fromImages] = await boundaryErrors(
      "images/gateway/src/config.ts",
      'import { NAMESPACE } from "../../../hooks/orchestrator/bindings";',
    );
    expect(fromImages).toMatch(/^no-restricted-imports: .*images\/ must not import hooks\//);
  });

  it("the build's warm-up step does not import test/", async () => {
    const [error] = await boundaryErrors(
      "scripts/warm-up-runs.ts",
      'import { cluster } from "../test/fixtures/clusters/generate";',
    );
    expect(error).toMatch(/^no-restricted-imports: .*scripts\/ must not import test\//);
  });
});
