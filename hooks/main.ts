// Entry point of the hooks executable (dist/module/hooks/registry-hooks).
import { dirname, join } from "node:path";
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
