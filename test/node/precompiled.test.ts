// The hooks executable carries the node templates precompiled (scripts/templates-plugin.mjs,
// runtime-only Handlebars). The steps it renders must be byte for byte the steps the tests
// above execute with the development compiler.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, expect, it } from "vitest";
import { renderNodeDeliveryObjects } from "../../lib/node/node-group-configuration";
import { renderNodeSteps } from "../../lib/node/steps";
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
      contents: `import { renderNodeSteps } from "./lib/node/steps";
        import { renderNodeDeliveryObjects } from "./lib/node/node-group-configuration";
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
    logLevel: "silent",
    plugins: [
      templatesPlugin({
        templatesDir: resolve("templates"),
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
