// registry-module: the module's command-line tool.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import type { KubeObject } from "../lib/runtime/types";
import { MIRROR_USAGE, runMirror } from "./mirror";
import { CliError, render, simulate } from "./render";

const USAGE = `Usage:
  registry-module render   --cluster FILE [--values FILE] [-o yaml|json]
  registry-module simulate --cluster FILE [--values FILE] [--then FILE]... [--max-runs N] [-o yaml|json]

    --cluster FILE   Kubernetes objects (multi-document YAML or a List): nodes, ModuleConfig
                     deckhouse (spec.settings.registry), secrets, the deckhouse leader pod …
    --values FILE    global values, as {global: {clusterConfiguration: …, modulesImages: …}}
    --then FILE      simulate: objects applied once the previous state converged (e.g. a new
                     ModuleConfig deckhouse); repeatable, in order
    --max-runs N     simulate: module runs allowed per stage before giving up (default 200)
    -o, --output     yaml (default) or json

  render prints the objects the module makes Helm apply for that cluster (one module run).
  simulate runs the module until it converges, playing nodes, deckhouse-controller, the
  Deployment controller, kubelet and the checker; it prints the final cluster (every object)
  on stdout and one JSON line per run on stderr, and exits 3 if a stage does not converge.
`;

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

function print(objects: readonly KubeObject[], output: string): void {
  if (output === "json") {
    process.stdout.write(
      JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }, null, 2) + "\n",
    );
  } else {
    process.stdout.write(objects.map(o => stringify(o)).join("---\n"));
  }
}

function disabled(reason: string): number {
  process.stderr.write(`module registry is disabled: ${reason || "enabled script said false"}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(`${USAGE}\n${MIRROR_USAGE}`);
    return command === undefined ? 2 : 0;
  }
  if (command === "mirror") return runMirror(rest);
  if (command !== "render" && command !== "simulate") {
    process.stderr.write(`unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  const { values: opts } = parseArgs({
    args: rest,
    options: {
      cluster: { type: "string" },
      values: { type: "string" },
      output: { type: "string", short: "o", default: "yaml" },
      ...(command === "simulate"
        ? { then: { type: "string", multiple: true }, "max-runs": { type: "string" } }
        : {}),
    },
    strict: true,
  });
  if (!opts.cluster) throw new CliError(`${command}: --cluster FILE is required`);
  const output = String(opts.output);
  if (output !== "yaml" && output !== "json") {
    throw new CliError(`${command}: -o must be yaml or json, got "${output}"`);
  }
  const input = { clusterFile: opts.cluster, valuesFile: opts.values, moduleDir: moduleDir() };
  if (command === "render") {
    const r = await render(input);
    if (!r.enabled) return disabled(r.reason);
    print(r.objects ?? [], output);
    return 0;
  }
  const maxRunsText = (opts as { "max-runs"?: string })["max-runs"] ?? "200";
  const maxRuns = Number(maxRunsText);
  if (!Number.isInteger(maxRuns) || maxRuns < 1) {
    throw new CliError(`simulate: --max-runs must be a positive integer, got "${maxRunsText}"`);
  }
  const r = await simulate({
    ...input,
    then: (opts as { then?: string[] }).then ?? [],
    maxRuns,
    onRun: record => process.stderr.write(JSON.stringify(record) + "\n"),
  });
  if (!r.enabled) return disabled(r.reason);
  const result = r.result;
  if (!result) return 0;
  print(result.objects, output);
  if (!result.converged) {
    const stuck = result.stuck;
    process.stderr.write(
      `registry-module: did not converge; stuck at ${stuck ? `${stuck.type}: ${stuck.message ?? ""}` : "Ready"}\n`,
    );
    return 3;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const usage =
      err instanceof Error && "code" in err && String(err.code).startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`registry-module: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
