// The mirror command as its own process, for tests that kill it midway.
import { runMirror } from "../../cli/mirror";

process.exitCode = await runMirror(process.argv.slice(2));
