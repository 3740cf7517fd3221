// Entry point of the hooks executable (dist/module/hooks/registry-hooks).
import { readFileSync, writeFileSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { startupSnapshot } from "node:v8";
import { runContract } from "../lib/runtime/contract";
import { hooks } from "./index";

/**
 * `hook check`: the module's own settings against openapi/config-values.yaml of the module the
 * executable belongs to. Ajv and the YAML parser load only on this path.
 */
async function checkSettings(settings: unknown): Promise<string[]> {
  const { loadModuleSchemas } = await import("../lib/openapi/schemas");
  const openapiDir = join(dirname(process.execPath), "..", "openapi");
  return loadModuleSchemas(openapiDir)
    .validateConfigValues(settings)
    .map(issue => issue.message);
}

/**
 * Writes straight to the descriptor: `process.stdout` would first build a stream (and, for the
 * pipe addon-operator gives us, load Node's net and stream modules), which costs a hook run more
 * than the line it writes (docs/adr/0118). A non-blocking pipe that is full is retried.
 */
function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text, "utf8");
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
    }
  }
}

function main(): void {
  // The executable starts from a V8 snapshot of this bundle (docs/adr/0001); Node announces that
  // as experimental on stderr, which must carry only our own one-line errors.
  process.removeAllListeners("warning");
  runContract({ hooks, settingsCheck: checkSettings }, process.argv.slice(2), process.env, {
    stdout: text => writeAll(1, text),
    stderr: text => writeAll(2, text),
  }).then(
    code => exitNow(code),
    (err: unknown) => {
      writeAll(2, `${err instanceof Error ? err.message : String(err)}\n`);
      exitNow(1);
    },
  );
}

/**
 * Every output is written synchronously by now, so the process ends here: leaving through the
 * empty event loop would tear the heap down and may collect it once more first, which for a
 * 5000-Node binding context costs a run a few milliseconds for nothing (docs/adr/0145).
 */
function exitNow(code: number): never {
  process.exit(code);
}

/** One warm-up run: an argument vector of the contract and its environment (input/output files). */
interface WarmUpRun {
  argv: string[];
  env: Record<string, string>;
}

/** Where scripts/build.mjs puts the warm-up runs while the snapshot is built. */
const WARM_UP_ENV = "REGISTRY_HOOKS_WARM_UP";
/** Where scripts/build.mjs wants the list of Node's modules the snapshot holds. */
const LOADED_MODULES_ENV = "REGISTRY_HOOKS_LOADED_MODULES";

/**
 * While the snapshot is built: runs the hooks as the executable will, on representative inputs,
 * so V8 compiles the functions a run executes and the snapshot carries their bytecode instead of
 * every run compiling them again (docs/adr/0118). Only what the runs leave compiled is kept: they
 * get their own environment and files, and print nothing. Any failure fails the build.
 */
async function warmUp(runsFile: string): Promise<void> {
  const runs = JSON.parse(readFileSync(runsFile, "utf8")) as WarmUpRun[];
  for (const run of runs) {
    const errors: string[] = [];
    const io = { stdout: () => undefined, stderr: (text: string) => void errors.push(text) };
    const code = await runContract({ hooks, settingsCheck: checkSettings }, run.argv, run.env, io);
    if (code !== 0) {
      throw new Error(`warm-up run "${run.argv.join(" ")}" exited ${code}: ${errors.join("")}`);
    }
  }
}

if (startupSnapshot.isBuildingSnapshot()) {
  const runsFile = process.env[WARM_UP_ENV];
  if (runsFile) {
    warmUp(runsFile).catch((err: unknown) => {
      writeAll(2, `snapshot warm-up: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
  }
  // Node's modules loaded by now are in the snapshot and never compiled again: the build takes
  // their code cache out of it (docs/adr/0166). Written when the snapshot is taken, after
  // everything the warm-up loaded.
  const loadedModulesFile = process.env[LOADED_MODULES_ENV];
  if (loadedModulesFile) {
    startupSnapshot.addSerializeCallback(() =>
      writeFileSync(
        loadedModulesFile,
        JSON.stringify((process as unknown as { moduleLoadList: string[] }).moduleLoadList),
      ),
    );
  }
  startupSnapshot.setDeserializeMainFunction(main);
} else main();
