// Entry point of the hooks executable (dist/module/hooks/registry-hooks).
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

function main(): void {
  // The executable starts from a V8 snapshot of this bundle (docs/adr/0001); Node announces that
  // as experimental on stderr, which must carry only our own one-line errors.
  process.removeAllListeners("warning");
  runContract(
    hooks,
    process.argv.slice(2),
    process.env,
    {
      stdout: text => process.stdout.write(text),
      stderr: text => process.stderr.write(text),
    },
    checkSettings,
  ).then(
    code => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}

if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(main);
else main();
