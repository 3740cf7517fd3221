// The V8 snapshot of the hooks executable is built after warm-up runs (docs/adr/0118). A run that
// would load a chunk from hooks/lib must stop the build: no chunk sits beside the builder, and
// the failed load would stay cached in the snapshot, breaking that path in every later run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { requireBuild } from "./built";

const BUNDLE = resolve("dist/build/hooks.cjs");
const BUILD_RUNS = resolve("dist/build/warm-up/runs.json");

beforeAll(requireBuild);

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(d => rmSync(d, { recursive: true, force: true })));

/** Builds a snapshot blob of the built bundle, as scripts/build.mjs does, warmed up with `runsFile`. */
function buildSnapshot(runsFile: string) {
  const dir = mkdtempSync(join(tmpdir(), "warm-up-"));
  dirs.push(dir);
  const blob = join(dir, "hooks.blob");
  const config = join(dir, "sea-config.json");
  writeFileSync(
    config,
    JSON.stringify({
      main: BUNDLE,
      output: blob,
      disableExperimentalSEAWarning: true,
      useSnapshot: true,
    }),
  );
  const r = spawnSync(process.execPath, ["--experimental-sea-config", config], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", REGISTRY_HOOKS_WARM_UP: runsFile },
  });
  return { status: r.status, stderr: r.stderr, blobWritten: existsSync(blob) };
}

describe("snapshot warm-up", () => {
  it("builds the snapshot after the build's own warm-up runs (the control case)", () => {
    const r = buildSnapshot(BUILD_RUNS);
    expect(r.stderr).not.toContain("snapshot warm-up");
    expect(r.status).toBe(0);
    expect(r.blobWritten).toBe(true);
  });

  it("stops the build when a warm-up run loads a chunk from hooks/lib", () => {
    const dir = mkdtempSync(join(tmpdir(), "warm-up-runs-"));
    dirs.push(dir);
    const settings = join(dir, "settings.json");
    writeFileSync(settings, "{}");
    const runs = join(dir, "runs.json");
    // `hook check` validates with Ajv, which lives in hooks/lib/openapi.cjs
    writeFileSync(
      runs,
      JSON.stringify([{ argv: ["hook", "check"], env: { SETTINGS_PATH: settings } }]),
    );
    const r = buildSnapshot(runs);
    expect(r.stderr).toContain(
      "snapshot warm-up: a run loaded hooks/lib/openapi.cjs, which cannot be warmed up",
    );
    expect(r.status).not.toBe(0);
    expect(r.blobWritten).toBe(false);
  });

  it("stops the build when a warm-up run fails", () => {
    const dir = mkdtempSync(join(tmpdir(), "warm-up-runs-"));
    dirs.push(dir);
    const runs = join(dir, "runs.json");
    writeFileSync(runs, JSON.stringify([{ argv: ["hook", "run", "99"], env: {} }]));
    const r = buildSnapshot(runs);
    expect(r.stderr).toContain(
      'snapshot warm-up: warm-up run "hook run 99" exited 2: hook run 99: no hook with that index',
    );
    expect(r.status).not.toBe(0);
    expect(r.blobWritten).toBe(false);
  });
});
