// The image's one executable (a Node single executable application, docs/adr/0100): which program
// runs is chosen by the name it was started as, like busybox. /usr/local/bin/{gateway,mirrorer,
// nodeservices-manager} and /manager are symlinks to it, so the pod specs' commands are the
// programs' own names. Each program's code is initialised only when that program runs.
import { basename } from "node:path";
import { MULTI_CALL_NAMES } from "./multi-call-names";

type ProgramName = (typeof MULTI_CALL_NAMES)[keyof typeof MULTI_CALL_NAMES];

async function run(program: ProgramName, args: string[]): Promise<void> {
  switch (program) {
    case "gateway":
      return (await import("./gateway/src/main")).main(args);
    case "mirrorer":
      return (await import("./mirrorer/src/main")).main(args);
    case "nodeservices-manager":
      return (await import("./nodeservices-manager/src/main")).main();
  }
}

const invokedAs = basename(process.argv0);
const program = (MULTI_CALL_NAMES as Record<string, ProgramName>)[invokedAs];
if (program) {
  void run(program, process.argv.slice(2));
} else {
  process.stderr.write(
    `registry data plane: started as "${invokedAs}"; start it as one of: ${Object.keys(MULTI_CALL_NAMES).join(", ")}\n`,
  );
  process.exitCode = 2;
}
