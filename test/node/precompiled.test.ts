// The node steps are not in the hooks executable (docs/adr/0135). Bundled the way it bundles its
// templates (scripts/templates-plugin.mjs, runtime-only Handlebars), they must render byte for
// byte the steps the tests beside this one execute with the development compiler: what shipping
// them as NodeGroupConfiguration objects (docs/adr/0020) would take.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, expect, it } from "vitest";
import { renderNodeDeliveryObjects } from "./steps/node-group-configuration";
import { renderNodeSteps } from "./steps/steps";
// @ts-expect-error -- plain ESM build script without type declarations
import { templatesPlugin } from "../../scripts/templates-plugin.mjs";
import { createLab, type Lab } from "../e2e-lab";
import { localBootstrap, proxyTransition } from "./fixtures";

let lab: Lab;
beforeAll(async () => {
  lab = await createLab("node-precompiled");
});
afterAll(async () => {
  await lab?.close();
});

it("precompiled templates render the same steps and objects as the development compiler", async () => {
  const inputs = { localBootstrap, proxyTransition };
  const out = lab.path("bundle.cjs");
  await build({
    stdin: {
      contents: `import { renderNodeSteps } from "./test/node/steps/steps";
        import { renderNodeDeliveryObjects } from "./test/node/steps/node-group-configuration";
        const inputs = ${JSON.stringify(inputs)};
        process.stdout.write(JSON.stringify({
          steps: renderNodeSteps(inputs.localBootstrap, { containerd: "platform", node: { name: "n-1" } }),
          objects: renderNodeDeliveryObjects(inputs.proxyTransition,
            { delivery: "NodeGroupConfiguration", containerd: "platform" }),
        }));`,
      resolveDir: resolve("."),
      loader: "ts",
    },
    outfile: out,
    bundle: true,
    platform: "node",
    format: "cjs",
    // a CommonJS bundle has no import.meta; the steps' template directory is computed from it
    // (then ignored: the plugin's precompiled templates are what renders)
    define: {
      "import.meta.url": JSON.stringify(pathToFileURL(resolve("test/node/steps/x.ts")).href),
    },
    logLevel: "silent",
    plugins: [
      templatesPlugin({
        templatesDir: resolve("test/node/steps/templates"),
        compiledModule: resolve("lib/templates/compiled.ts"),
        helpersPath: resolve("lib/templates/helpers.ts"),
      }),
    ],
  });
  expect(readFileSync(out, "utf8")).not.toContain("registry_sync_file {{"); // compiled, not sources
  const built = JSON.parse(execFileSync(process.execPath, [out], { encoding: "utf8" })) as unknown;
  expect(built).toEqual({
    steps: renderNodeSteps(localBootstrap, { containerd: "platform", node: { name: "n-1" } }),
    objects: renderNodeDeliveryObjects(proxyTransition, {
      delivery: "NodeGroupConfiguration",
      containerd: "platform",
    }),
  });
});
