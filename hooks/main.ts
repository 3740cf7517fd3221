// Entry point of the hooks executable (dist/module/hooks/registry-hooks).
import { runContract } from "../lib/runtime/contract";
import { hooks } from "./index";

const argv = process.argv.slice(2);
runContract(hooks, argv, process.env, {
  stdout: text => process.stdout.write(text),
  stderr: text => process.stderr.write(text),
}).then(
  code => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
