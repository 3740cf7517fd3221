// Runs the test hook through the runtime's process contract (per-hook protocol: `--config` or a
// bare run with the file-path environment variables), for the executable runner tests.
import { runContract } from "../../../lib/runtime/contract";
import countNodes from "./count-nodes";

const code = await runContract({ hooks: [countNodes] }, process.argv.slice(2), process.env, {
  stdout: text => process.stdout.write(text),
  stderr: text => process.stderr.write(text),
});
process.exitCode = code;
