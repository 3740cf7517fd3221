// What a pull and a push load (docs/adr/0140): the mirror runs on the registry client's node
// engine, so undici (≈ 20 MiB of a process's peak) is never loaded; cli-progress only draws on a
// terminal and zlib only reads release metadata, so a run with --images-file and stderr to a pipe
// loads neither. Real distribution on loopback; the CLI in its own process, which reports at exit
// the packages Node loaded (its CommonJS cache: undici and cli-progress are CommonJS) and the
// built-in modules (process.moduleLoadList).
import { readFile, writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createLab,
  pushImage,
  run,
  startRegistry,
  writeOciLayout,
  type Lab,
  type Registry,
} from "../e2e-lab";
import { MIRROR_CLI, pullArgs, pushArgs, REPO_ROOT } from "./cli";

let lab: Lab;
let source: Registry;
let target: Registry;
let report: string;

const REPORT_LOADED = `
const fs = require("node:fs");
process.on("exit", () => {
  const packages = Object.keys(require("node:module")._cache)
    .map(f => /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(f)?.[1])
    .filter(Boolean);
  const builtins = process.moduleLoadList.filter(m => m.startsWith("NativeModule "));
  fs.writeFileSync(process.env.LOADED_REPORT, JSON.stringify({ packages: [...new Set(packages)], builtins }));
});
`;

beforeAll(async () => {
  lab = await createLab("mirror-lean");
  [source, target] = await Promise.all([
    startRegistry({ dir: lab.path("source") }),
    startRegistry({ dir: lab.path("target") }),
  ]);
  const layout = await writeOciLayout(lab.path("img"), { seed: "lean", tags: ["v1"] });
  await pushImage(layout, source, "deckhouse/ee", { tag: "v1" });
  report = lab.path("report-loaded.cjs");
  await writeFile(report, REPORT_LOADED);
});

afterAll(async () => {
  await lab?.close();
});

/** Runs the CLI with `args`; what it loaded. */
async function loadedBy(
  args: string[],
  name: string,
): Promise<{ packages: string[]; builtins: string[] }> {
  const out = lab.path(`loaded-${name}.json`);
  await run(process.execPath, ["--require", report, ...MIRROR_CLI, ...args], {
    cwd: REPO_ROOT,
    env: { LOADED_REPORT: out, HTTPS_PROXY: "", HTTP_PROXY: "", https_proxy: "", http_proxy: "" },
    timeoutMs: 120_000,
  });
  return JSON.parse(await readFile(out, "utf8")) as { packages: string[]; builtins: string[] };
}

describe("mirror: what a transfer loads", () => {
  it("pull and push load neither undici nor cli-progress nor zlib", async () => {
    const imagesFile = lab.path("images.txt");
    await writeFile(imagesFile, "v1\n");
    const bundle = lab.path("bundle");
    const pulled = await loadedBy(
      pullArgs(`${source.hostPort}/deckhouse/ee`, bundle, { imagesFile, plainHttp: true }),
      "pull",
    );
    const pushed = await loadedBy(
      pushArgs(bundle, `${target.hostPort}/system/deckhouse`, { plainHttp: true }),
      "push",
    );
    for (const loaded of [pulled, pushed]) {
      // the report itself must see packages: tsx runs the CLI
      expect(loaded.packages).toContain("tsx");
      expect(loaded.packages).not.toContain("undici");
      expect(loaded.packages).not.toContain("cli-progress");
      expect(loaded.builtins).toContain("NativeModule http");
      expect(loaded.builtins).not.toContain("NativeModule zlib");
    }
  });
});
