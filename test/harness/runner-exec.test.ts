// The executable runner with small executables written by the test: files and environment wired
// as addon-operator wires them, outputs read as JSON streams, failures apply nothing.
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { createHookTest } from "../../lib/harness";
import { executableRunner, readHookConfig } from "../../lib/harness/runner-exec";
import { testSchemas } from "./schemas";

function executable(name: string, body: string): string {
  const dir = mkdtempSync(join(tmpdir(), "harness-exe-"));
  const file = join(dir, name);
  writeFileSync(file, body);
  chmodSync(file, 0o755);
  return file;
}

const CONFIG = {
  configVersion: "v1",
  beforeHelm: 1,
  kubernetes: [{ name: "cms", kind: "ConfigMap", jqFilter: ".data" }],
};

/** A node script (absolute interpreter path: the hook gets no PATH) that reports what it saw. */
const PROBE = `#!${process.execPath}
const fs = require("node:fs");
if (process.argv[2] === "--config") { console.log(${JSON.stringify(JSON.stringify(CONFIG))}); process.exit(0); }
const env = process.env;
const read = name => fs.readFileSync(env[name], "utf8");
const seen = {
  envKeys: Object.keys(env).sort(),
  fixed: ["D8_IS_TESTS_ENVIRONMENT", "ADDON_OPERATOR_NAMESPACE", "DECKHOUSE_POD", "MODULE_NAME"].map(k => env[k]),
  dirs: [...new Set(["BINDING_CONTEXT_PATH", "VALUES_PATH", "CONFIG_VALUES_PATH", "VALUES_JSON_PATCH_PATH",
    "CONFIG_VALUES_JSON_PATCH_PATH", "KUBERNETES_PATCH_PATH", "METRICS_PATH"].map(k => require("node:path").dirname(env[k])))],
  outputsEmpty: ["VALUES_JSON_PATCH_PATH", "CONFIG_VALUES_JSON_PATCH_PATH", "KUBERNETES_PATCH_PATH", "METRICS_PATH"]
    .map(k => fs.statSync(env[k]).size),
  bindingContext: JSON.parse(read("BINDING_CONTEXT_PATH")),
  values: JSON.parse(read("VALUES_PATH")),
  configValues: JSON.parse(read("CONFIG_VALUES_PATH")),
  cwd: process.cwd(),
};
const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "probe", namespace: "d8-system" },
  data: { seen: JSON.stringify(seen) } };
fs.writeFileSync(env.KUBERNETES_PATCH_PATH, JSON.stringify({ operation: "Create", object: cm }) + "\\n" +
  '{"operation":"Delete","kind":"Secret","namespace":"d8-system","name":"absent"}\\n');
fs.writeFileSync(env.VALUES_JSON_PATCH_PATH, '[{"op":"add","path":"/registry/internal/state","value":"Ready"}]\\n' +
  '{"op":"add","path":"/registry/internal/count","value":7}');
fs.writeFileSync(env.METRICS_PATH, '{"name":"d8_probe","action":"set","value":1,"labels":{"a":"b"}}\\n{"name":"d8_runs","add":2}\\n');
console.log(JSON.stringify({ level: "info", msg: "probe ran", time: "2026-01-01T00:00:00Z", binding: "x" }));
console.error("plain stderr line");
process.stdout.write('{"level":"warn",\\n"msg":"split record"}\\n');
`;

const common = { schemas: testSchemas(), configValues: { mode: "Direct" } };

describe("executable runner", () => {
  it("wires files and environment like addon-operator and reads every output", async () => {
    const exe = executable("probe", PROBE);
    const f = await createHookTest({ hook: { command: [exe], cwd: "/" }, ...common });
    expect(f.config.source).toEqual(CONFIG);
    f.kubeStateSet(
      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\ndata: {k: v}\n",
    );
    f.bindingContexts = [...f.bindingContexts, ...f.generateBeforeHelmContext()];
    const valuesBefore = f.values();
    const res = await f.runHook();
    expect(res.error).toBeUndefined();
    expect(res.ok).toBe(true);

    const seen = JSON.parse(
      (f.kubernetesResource("ConfigMap", "d8-system", "probe")?.data as { seen: string }).seen,
    );
    expect(seen.envKeys).toEqual([
      "ADDON_OPERATOR_NAMESPACE",
      "BINDING_CONTEXT_PATH",
      "CONFIG_VALUES_JSON_PATCH_PATH",
      "CONFIG_VALUES_PATH",
      "D8_IS_TESTS_ENVIRONMENT",
      "DECKHOUSE_POD",
      "KUBERNETES_PATCH_PATH",
      "METRICS_PATH",
      "MODULE_NAME",
      "VALUES_JSON_PATCH_PATH",
      "VALUES_PATH",
    ]);
    expect(seen.fixed).toEqual(["yes", "tests", "tests", "registry"]);
    expect(seen.dirs).toHaveLength(1);
    expect(existsSync(seen.dirs[0])).toBe(false); // the run's temp dir is removed afterwards
    expect(seen.outputsEmpty).toEqual([0, 0, 0, 0]);
    expect(seen.bindingContext).toEqual(res.bindingContexts);
    expect(seen.bindingContext.map((c: { binding: string }) => c.binding)).toEqual([
      "cms",
      "beforeHelm",
    ]);
    expect(seen.values).toEqual(valuesBefore);
    expect(Object.keys(seen.values)).toEqual(["global", "registry"]);
    expect(seen.configValues).toEqual({ global: {}, registry: { mode: "Direct" } });
    expect(seen.cwd).toBe("/");

    expect(f.valuesGet("registry.internal")).toEqual({ state: "Ready", count: 7 });
    expect(res.valuesPatch).toEqual([
      { op: "add", path: "/registry/internal/state", value: "Ready" },
      { op: "add", path: "/registry/internal/count", value: 7 },
    ]);
    expect(res.kubernetesOperations.map(o => o.operation)).toEqual(["Create", "Delete"]);
    expect(f.metrics().map(m => [m.group, m.name, m.type, m.value])).toEqual([
      ["probe", "d8_probe", "gauge", 1],
      ["probe", "d8_runs", "counter", 2],
    ]);
    // Order within a stream is kept; stdout and stderr interleave in arrival order.
    expect(res.logs.filter(l => l.output !== "stderr")).toEqual([
      { level: "info", msg: "probe ran", binding: "x" },
      { level: "warn", msg: "split record" },
    ]);
    expect(res.logs).toContainEqual({ level: "info", msg: "plain stderr line", output: "stderr" });
    expect(res.logs).toHaveLength(3);
  });

  it("non-zero exit: failure with the stderr text, output files ignored", async () => {
    const exe = executable(
      "fail.sh",
      `#!/bin/bash
echo '[{"op":"add","path":"/registry/internal/state","value":"Ready"}]' > "$VALUES_JSON_PATCH_PATH"
echo '{"operation":"Create","object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"d8-system"}}}' > "$KUBERNETES_PATCH_PATH"
echo '{"name":"m","group":"g","action":"set","value":1}' > "$METRICS_PATH"
echo "first problem" >&2
echo "second line" >&2
exit 3
`,
    );
    const f = await createHookTest({
      hook: { command: [exe], config: { configVersion: "v1", beforeHelm: 1 } },
      ...common,
    });
    const before = f.values();
    const res = await f.runHook(f.generateBeforeHelmContext());
    expect(res).toMatchObject({
      ok: false,
      error: "first problem\nsecond line",
      valuesPatch: [],
      kubernetesOperations: [],
    });
    expect(f.values()).toEqual(before);
    expect(f.kubernetesResource("Secret", "d8-system", "s")).toBeUndefined();
    expect(f.metrics()).toEqual([]);

    const silent = executableRunner({
      command: [executable("silent.sh", "#!/bin/bash\nexit 4\n")],
    });
    const raw = await silent.run({ bindingContexts: [], values: {}, configValues: {} });
    expect(raw).toMatchObject({ ok: false, error: "cmd run: exit status 4" });
  });

  it("no inherited PATH unless asked", async () => {
    const exe = executable(
      "path",
      `#!${process.execPath}\nrequire("node:fs").writeFileSync(process.env.VALUES_JSON_PATCH_PATH, process.env.PATH ?? "unset");\n`,
    );
    const run = async (inheritPath: boolean) => {
      const raw = await executableRunner({ command: [exe], inheritPath }).run({
        bindingContexts: [],
        values: {},
        configValues: {},
      });
      return raw.files.valuesJsonPatch;
    };
    expect(await run(false)).toBe("unset");
    expect(await run(true)).toBe(process.env.PATH);
  });

  it("malformed outputs fail the run with nothing applied", async () => {
    const cases: [string, RegExp][] = [
      [
        `echo '[{"operation":"Delete","kind":"Pod","name":"x"}]' > "$KUBERNETES_PATCH_PATH"`,
        /array is not accepted/,
      ],
      [
        `echo '{"name":"h","action":"observe","value":1,"buckets":[1]}' > "$METRICS_PATH"`,
        /bad metrics.*observe/,
      ],
      [`echo '[{"op":"add"' > "$VALUES_JSON_PATCH_PATH"`, /bad json patch for values/],
      [
        `echo '[{"op":"add","path":"/registry/x","value":1}]' > "$CONFIG_VALUES_JSON_PATCH_PATH"`,
        /ModuleConfig is forbidden/,
      ],
    ];
    for (const [line, message] of cases) {
      const exe = executable(
        "out.sh",
        `#!/bin/bash\n${line}\necho '{"name":"m","group":"g","action":"set","value":1}' >> "$METRICS_PATH"\n`,
      );
      const f = await createHookTest({
        hook: { command: [exe], config: { configVersion: "v1", beforeHelm: 1 } },
        ...common,
      });
      const res = await f.runHook(f.generateBeforeHelmContext());
      expect(res.ok, line).toBe(false);
      expect(res.error, line).toMatch(message);
      // Parse errors apply nothing; the config values refusal comes after metrics
      // (docs/hook-protocol.md#order-of-application).
      expect(f.metrics(), line).toHaveLength(
        line.includes("CONFIG_VALUES_JSON_PATCH_PATH") ? 1 : 0,
      );
    }
  });

  it("kubernetes operation errors fail the run, later operations still run, values not applied", async () => {
    const exe = executable(
      "ops.sh",
      `#!/bin/bash
cat > "$KUBERNETES_PATCH_PATH" <<'OPS'
{"operation":"MergePatch","kind":"ConfigMap","namespace":"x","name":"missing","mergePatch":{"a":1}}
{"operation":"Create","object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"d8-system"}}}
OPS
echo '[{"op":"add","path":"/registry/internal/state","value":"Ready"}]' > "$VALUES_JSON_PATCH_PATH"
`,
    );
    const f = await createHookTest({
      hook: { command: [exe], config: { configVersion: "v1", beforeHelm: 1 } },
      ...common,
    });
    const res = await f.runHook(f.generateBeforeHelmContext());
    expect(res.ok).toBe(false);
    expect(res.operationErrors).toEqual([
      { index: 0, operation: "MergePatch", message: expect.stringMatching(/not found/) },
    ]);
    expect(f.kubernetesResource("Secret", "d8-system", "s")).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "s", namespace: "d8-system" },
    });
    expect(f.valuesGet("registry.internal.state")).toBe("Unknown");
  });

  it("readHookConfig: --config for a per-hook command, `hook config` entry N for a batch command", async () => {
    const exe = executable(
      "hooks",
      `#!/bin/bash
if [ "$1 $2" = "hook config" ]; then
  echo '{"version":"v1","hooks":[{"metadata":{"name":"first","path":"hooks/first"},"beforeHelm":1},
  {"metadata":{"name":"second"},"kubernetes":[{"name":"n","kind":"Node","executeHookOnEvent":false,"jqFilter":".metadata.name"}],
   "schedule":[{"name":"s","crontab":"* * * * *","queue":"q"}]}]}'
  exit 0
fi
if [ "$1" = "--config" ]; then printf 'configVersion: v1\\nonStartup: 5\\n'; exit 0; fi
exit 2
`,
    );
    expect(await readHookConfig({ command: [exe] })).toEqual({
      config: { configVersion: "v1", onStartup: 5 },
      batch: false,
    });
    expect(await readHookConfig({ command: [exe, "hook", "run", "1"] })).toEqual({
      batch: true,
      name: "second",
      config: {
        configVersion: "v1",
        kubernetes: [
          { name: "n", kind: "Node", executeHookOnEvent: [], jqFilter: ".metadata.name" },
        ],
        schedule: [{ name: "s", crontab: "* * * * *", queue: "q" }],
      },
    });
    await expect(readHookConfig({ command: [exe, "hook", "run", "7"] })).rejects.toThrow(
      /no entry 7/,
    );
    await expect(
      readHookConfig({ command: [executable("x", "#!/bin/bash\necho nope >&2\nexit 1\n")] }),
    ).rejects.toThrow(/--config: nope/);
    expect(dirname(exe)).not.toBe(tmpdir());
  });
});
