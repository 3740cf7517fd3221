// registry-module: the module's command-line tool.
// Exit codes: 0 done (also --help, --version); 1 failed (bad input files or settings, the message
// says which); 2 usage; 3 simulate did not converge; 4 simulate: a step refused by admission.
// Every message starts with `registry-module <command>: `.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { KubeObject } from "../lib/runtime/types";
import type { RunRecord, SimulationResult } from "../lib/simulate/simulate";
import { CliError, UsageError } from "./errors";
import type { Refusal } from "./render";

// Each command loads what it needs when it runs (the build splits them into chunks): `mirror`
// does not pay for the renderer's packages (yaml, Ajv, Handlebars, CEL…), ~30 MiB of RSS.
const mirrorCommand = () => import("./mirror");
const renderCommands = () => import("./render");

const RENDER_USAGE = `  registry-module render   --cluster FILE --values FILE [-o yaml|json]

  render prints the objects the module makes Helm apply for that cluster (one module run).
`;

const SIMULATE_USAGE = `  registry-module simulate --cluster FILE --values FILE [--then FILE]... [--max-runs N]
                           [-o yaml|json]

  simulate runs the module until it converges, playing nodes, deckhouse-controller, the
  Deployment controller, kubelet and the checker. Before each --then step it checks the step
  as the API server would (the settings' schema and CEL rules, the module's admission
  policies); a refused step ends the simulation with the policy's message (exit 4). Progress
  goes to stderr: one JSON line per module run, or on a terminal a compact line per run and a
  table of conditions per step; then a summary line. The final cluster (every object) goes to
  stdout only with -o. Exit 3 if a step does not converge.
`;

const OPTIONS = `    --cluster FILE   Kubernetes objects (multi-document YAML or a List): nodes, ModuleConfig
                     deckhouse (spec.settings.registry), secrets, the deckhouse leader pod …
    --values FILE    global values, as {global: {clusterConfiguration: …, modulesImages: …}};
                     the module is enabled only where global.clusterConfiguration exists
    --then FILE      simulate: objects applied once the previous state converged (e.g. a new
                     ModuleConfig deckhouse); repeatable, in order; all read before the first run
    --max-runs N     simulate: module runs allowed per step before giving up (default 200)
    -o, --output     yaml or json (render: default yaml)
    -h, --help       this text;  --version  the tool's version
`;

const USAGE = `Usage:\n${RENDER_USAGE}\n${SIMULATE_USAGE}\n${OPTIONS}`;

/** The module directory: the repository root from source or from dist/cli. */
function moduleDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, ".."), join(here, "..", "..")]) {
    if (existsSync(join(candidate, "module.yaml")) && existsSync(join(candidate, "openapi"))) {
      return resolve(candidate);
    }
  }
  throw new CliError(`cannot find the module directory (module.yaml, openapi/) above ${here}`);
}

function version(): string {
  const pkg = JSON.parse(readFileSync(join(moduleDir(), "package.json"), "utf8")) as {
    version?: string;
  };
  return pkg.version ?? "unknown";
}

async function print(objects: readonly KubeObject[], output: string): Promise<void> {
  const { stringify } = await import("yaml");
  if (output === "json") {
    process.stdout.write(
      JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2) + "\n",
    );
  } else {
    process.stdout.write(objects.map(o => stringify(o)).join("---\n"));
  }
}

const wantsHelp = (args: readonly string[]) =>
  args.some(a => a === "--help" || a === "-h" || a === "help");

function disabled(command: string, reason: string): number {
  process.stderr.write(
    `registry-module ${command}: module registry is disabled: ${reason || "enabled script said false"}\n`,
  );
  return 0;
}

async function progress(): Promise<{
  onRun: (r: RunRecord) => void;
  step: (r: RunRecord | undefined) => void;
}> {
  const { compactRun, conditionsTable } = await import("./simulate-output");
  if (!process.stderr.isTTY) {
    return {
      onRun: record => process.stderr.write(JSON.stringify(record) + "\n"),
      step: () => undefined,
    };
  }
  return {
    onRun: record => process.stderr.write(compactRun(record) + "\n"),
    step: record => {
      if (record) process.stderr.write(conditionsTable(record.conditions) + "\n");
    },
  };
}

type ModelCommand = "render" | "simulate";

/** What `render` and `simulate` share once their arguments are checked. */
interface ModelArgs {
  readonly command: ModelCommand;
  readonly clusterFile: string;
  readonly valuesFile: string;
  readonly output: "yaml" | "json" | undefined;
  readonly then: readonly string[];
  readonly maxRunsText: string | undefined;
}

function parseModelArgs(command: ModelCommand, rest: readonly string[]): ModelArgs {
  let opts: Record<string, string | string[] | boolean | undefined>;
  try {
    opts = parseArgs({
      args: [...rest],
      options: {
        cluster: { type: "string" },
        values: { type: "string" },
        output: { type: "string", short: "o" },
        ...(command === "simulate"
          ? { then: { type: "string", multiple: true }, "max-runs": { type: "string" } }
          : {}),
      },
      strict: true,
    }).values;
  } catch (err) {
    throw new UsageError(command, (err as Error).message);
  }
  if (typeof opts.cluster !== "string") throw new UsageError(command, "--cluster FILE is required");
  if (typeof opts.values !== "string") {
    throw new UsageError(
      command,
      "--values FILE is required: the global values with global.clusterConfiguration (the " +
        "module is enabled only where it exists) and global.modulesImages, e.g. " +
        "examples/values.yaml",
    );
  }
  const output = opts.output === undefined ? undefined : String(opts.output);
  if (output !== undefined && output !== "yaml" && output !== "json") {
    throw new UsageError(command, `-o must be yaml or json, got "${output}"`);
  }
  return {
    command,
    clusterFile: opts.cluster,
    valuesFile: opts.values,
    output,
    then: Array.isArray(opts.then) ? opts.then : [],
    maxRunsText: typeof opts["max-runs"] === "string" ? opts["max-runs"] : undefined,
  };
}

function parseMaxRuns(text = "200"): number {
  const maxRuns = Number(text);
  if (!Number.isInteger(maxRuns) || maxRuns < 1) {
    throw new UsageError("simulate", `--max-runs must be a positive integer, got "${text}"`);
  }
  return maxRuns;
}

async function runRender(args: ModelArgs): Promise<number> {
  const input = {
    clusterFile: args.clusterFile,
    valuesFile: args.valuesFile,
    moduleDir: moduleDir(),
  };
  const { render } = await renderCommands();
  const r = await render(input);
  if (!r.enabled) return disabled(args.command, r.reason);
  await print(r.objects ?? [], args.output ?? "yaml");
  return 0;
}

async function runSimulate(args: ModelArgs): Promise<number> {
  const input = {
    clusterFile: args.clusterFile,
    valuesFile: args.valuesFile,
    moduleDir: moduleDir(),
  };
  const { simulate } = await renderCommands();
  const maxRuns = parseMaxRuns(args.maxRunsText);
  const started = performance.now();
  const { onRun, step } = await progress();
  const r = await simulate({ ...input, then: [...args.then], maxRuns, onRun, onStep: step });
  if (!r.enabled) return disabled(args.command, r.reason);
  if (!r.result) return 0;
  if (args.output !== undefined) await print(r.result.objects, args.output);
  return reportSimulation(r.result, r.refused, started);
}

/** The summary line on stderr and the exit code: 4 refused by admission, 3 stuck, 0 converged. */
function reportSimulation(
  result: SimulationResult,
  refused: Refusal | undefined,
  started: number,
): number {
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const runs = `${result.runs.length} run${result.runs.length === 1 ? "" : "s"}`;
  if (refused) {
    process.stderr.write(
      `registry-module simulate: --then ${refused.file} refused by admission after ${runs}:\n` +
        refused.messages.map(m => `  ${m}\n`).join(""),
    );
    return 4;
  }
  if (!result.converged) {
    const stuck = result.stuck;
    process.stderr.write(
      `registry-module simulate: did not converge in ${runs}; stuck at ${stuck ? `${stuck.type}: ${stuck.message ?? ""}` : "Ready"}\n`,
    );
    return 3;
  }
  const mode = result.runs.at(-1)?.mode ?? "Unmanaged";
  process.stderr.write(`registry-module simulate: converged to ${mode} in ${runs}, ${seconds} s\n`);
  return 0;
}

async function runMirrorCommand(rest: readonly string[]): Promise<number> {
  const { MIRROR_USAGE, runMirror } = await mirrorCommand();
  if (wantsHelp(rest)) {
    process.stdout.write(MIRROR_USAGE);
    return 0;
  }
  return runMirror([...rest]);
}

async function runModelCommand(command: ModelCommand, rest: readonly string[]): Promise<number> {
  const usage = command === "render" ? RENDER_USAGE : SIMULATE_USAGE;
  if (wantsHelp(rest)) {
    process.stdout.write(`Usage:\n${usage}\n${OPTIONS}`);
    return 0;
  }
  const args = parseModelArgs(command, rest);
  return command === "render" ? runRender(args) : runSimulate(args);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "-V" || command === "version") {
    process.stdout.write(`registry-module ${version()}\n`);
    return 0;
  }
  if (command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(`${USAGE}\n${(await mirrorCommand()).MIRROR_USAGE}`);
    return 0;
  }
  if (command === undefined) {
    throw new UsageError("", "missing command (render, simulate or mirror)");
  }
  if (command === "mirror") return runMirrorCommand(rest);
  if (command !== "render" && command !== "simulate") {
    throw new UsageError("", `unknown command "${command}" (expected render, simulate or mirror)`);
  }
  return runModelCommand(command, rest);
}

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      const help = `registry-module${err.command ? ` ${err.command}` : ""} --help`;
      process.stderr.write(`${err.message}\nTry '${help}'.\n`);
      process.exitCode = 2;
      return;
    }
    const command = process.argv[2] ?? "";
    const prefix =
      command === "render" || command === "simulate"
        ? `registry-module ${command}`
        : "registry-module";
    process.stderr.write(`${prefix}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
