// The built hooks executable, run as addon-operator and shell-operator run it: no Node.js on
// PATH, cwd "/", only the contract's environment.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Ajv from "ajv";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { hooks } from "../../hooks/index";
import { HOOKS_EXE, requireBuild, runBare, shellHook } from "./built";

const moduleHookSchema = parse(
  readFileSync("test/fixtures/protocol/addon-operator-module-hook-config-v1.yaml", "utf8"),
) as object;

beforeAll(requireBuild);

describe("dist/module/hooks/registry-hooks", () => {
  it("answers `hook list` with no Node.js on the host", () => {
    const r = runBare(HOOKS_EXE, ["hook", "list"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Found ([1-9][0-9]{0,3}) items:\n/);
    expect(r.stdout.trim().split("\n").slice(1)).toEqual(hooks.map((h, i) => `${i} - ${h.name}`));
  });

  it("`hook config` and `hook list` agree, and each hook config is what its launcher prints", () => {
    const r = runBare(HOOKS_EXE, ["hook", "config"]);
    expect(r.status).toBe(0);
    const batch = JSON.parse(r.stdout) as {
      version: string;
      hooks: { metadata: { name: string } }[];
    };
    expect(batch.version).toBe("v1");
    expect(batch.hooks.map(h => h.metadata.name)).toEqual(hooks.map(h => h.name));
  });

  it.each(hooks.map(h => h.name))(
    "per-hook `--config` of %s validates against addon-operator's module hook schema",
    name => {
      const r = runBare(shellHook(name), ["--config"]);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const config = JSON.parse(r.stdout) as unknown;
      const validate = new Ajv({ strict: false, allErrors: true }).compile(moduleHookSchema);
      expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
      expect(config).toEqual(hooks.find(h => h.name === name)?.config());
    },
  );

  it("the schema the test holds does refuse what addon-operator refuses", () => {
    const validate = new Ajv({ strict: false }).compile(moduleHookSchema);
    expect(validate({ configVersion: "v1", beforeHelm: 10, beforeAll: 1 })).toBe(false);
    expect(validate({ configVersion: "v1" })).toBe(false);
    expect(validate({ configVersion: "v1", kubernetes: [{ kind: "Pod", bogus: 1 }] })).toBe(false);
  });

  it.each([
    [[]],
    [["--config"]],
    [["hook"]],
    [["hook", "bogus"]],
    [["hook", "run", "99"]],
    [["version"]],
  ])(
    "fails fast on the foreign argument vector %j: non-zero exit, no stdout, one stderr line",
    argv => {
      const r = runBare(HOOKS_EXE, argv);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    },
  );
});

describe("`hook check` (module-sdk settings check)", () => {
  const check = (settings: unknown) => {
    const dir = mkdtempSync(join(tmpdir(), "check-"));
    writeFileSync(join(dir, "settings.json"), JSON.stringify(settings));
    return runBare(HOOKS_EXE, ["hook", "check"], { SETTINGS_PATH: join(dir, "settings.json") });
  };

  it("accepts valid settings silently", () => {
    const r = check({ ingressClass: "nginx", whitelistSourceRanges: ["10.0.0.0/8"] });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
      status: 0,
      stdout: "",
      stderr: "",
    });
  });

  it("refuses invalid settings with the JSON addon-operator parses, naming the field", () => {
    const r = check({ https: { mode: "Bogus" }, somethingInConfig: true });
    expect(r.status).toBe(1);
    const verdict = JSON.parse(r.stderr) as { valid: boolean; message: string };
    expect(verdict.valid).toBe(false);
    expect(verdict.message).toContain("registry.https.mode");
    expect(verdict.message).toContain("somethingInConfig");
  });
});

describe("`hook run` on inputs it cannot trust", () => {
  const runWith = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "run-"));
    const env: Record<string, string> = {};
    const all = {
      // no ModuleConfig/deckhouse (default settings); deckhouse-registry exists in every cluster
      BINDING_CONTEXT_PATH: JSON.stringify([
        {
          binding: "beforeHelm",
          snapshots: {
            config: [],
            "registry-secret": [
              {
                filterResult: {
                  data: { address: Buffer.from("r.example.com").toString("base64") },
                },
              },
            ],
          },
        },
      ]),
      VALUES_PATH: '{"global":{},"registry":{"internal":{}}}',
      CONFIG_VALUES_PATH: '{"global":{},"registry":{}}',
      VALUES_JSON_PATCH_PATH: "",
      KUBERNETES_PATCH_PATH: "",
      METRICS_PATH: "",
      ...files,
    };
    for (const [name, content] of Object.entries(all)) {
      env[name] = join(dir, name);
      writeFileSync(env[name], content);
    }
    const r = runBare(HOOKS_EXE, ["hook", "run", "0"], env);
    const outputs = ["VALUES_JSON_PATCH_PATH", "KUBERNETES_PATCH_PATH", "METRICS_PATH"].map(n =>
      readFileSync(env[n] as string, "utf8"),
    );
    return { r, outputs };
  };

  it("runs on valid inputs (the control case), its log as JSON lines on the stdout pipe", () => {
    const { r } = runWith({});
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const records = r.stdout
      .trimEnd()
      .split("\n")
      .map(line => JSON.parse(line) as Record<string, unknown>);
    expect(records[0]).toEqual({
      level: "info",
      msg: "ModuleConfig deckhouse is absent: its default settings apply",
      hook: "orchestrator",
    });
  });

  it("reads a binding context that is not ASCII as UTF-8 (only pure ASCII is read as Latin-1)", () => {
    // The settings' value comes back in the run's error message: any other decoding of its bytes
    // than UTF-8 would show other characters there.
    const mode = "Dirécte→ミラー";
    const { r, outputs } = runWith({
      BINDING_CONTEXT_PATH: JSON.stringify([
        {
          binding: "beforeHelm",
          snapshots: { config: [{ filterResult: { generation: 1, registry: { mode } } }] },
        },
      ]),
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`registry.mode: Unknown registry mode: "${mode}"`);
    expect(outputs).toEqual(["", "", ""]);
  });

  it.each([
    ["malformed binding context JSON", { BINDING_CONTEXT_PATH: '[{"binding":' }],
    [
      "values violating the values schema",
      {
        VALUES_PATH: '{"global":{},"registry":{"internal":{"orchestrator":{"state":{"mode":5}}}}}',
      },
    ],
    ["values that are not an object", { VALUES_PATH: "[]" }],
  ])("%s: non-zero exit, one stderr line, no output written", (_, files) => {
    const { r, outputs } = runWith(files);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(outputs).toEqual(["", "", ""]);
  });
});
