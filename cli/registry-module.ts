// registry-module: the module's command-line tool.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { CliError, render } from "./render";

const USAGE = `Usage:
  registry-module render --cluster FILE [--values FILE] [-o yaml|json]

    --cluster FILE   Kubernetes objects (multi-document YAML or a List): nodes, ModuleConfig
                     deckhouse (spec.settings.registry), secrets …
    --values FILE    global values, as {global: {clusterConfiguration: …, …}}
    -o, --output     yaml (default) or json
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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "render") {
    process.stderr.write(`unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  const { values: opts } = parseArgs({
    args: rest,
    options: {
      cluster: { type: "string" },
      values: { type: "string" },
      output: { type: "string", short: "o", default: "yaml" },
    },
    strict: true,
  });
  if (!opts.cluster) throw new CliError("render: --cluster FILE is required");
  if (opts.output !== "yaml" && opts.output !== "json") {
    throw new CliError(`render: -o must be yaml or json, got "${opts.output}"`);
  }
  const result = await render({
    clusterFile: opts.cluster,
    valuesFile: opts.values,
    moduleDir: moduleDir(),
  });
  if (!result.enabled) {
    process.stderr.write(
      `module registry is disabled: ${result.reason || "enabled script said false"}\n`,
    );
    return 0;
  }
  process.stdout.write(
    opts.output === "json"
      ? JSON.stringify(result.values, null, 2) + "\n"
      : stringify(result.values),
  );
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
