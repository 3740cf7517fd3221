// Runs a module's `enabled` script as addon-operator does during discovery (hook-protocol.md
// docs/hook-protocol.md#enabled-script): VALUES_PATH / CONFIG_VALUES_PATH in, MODULE_ENABLED_RESULT
// / _REASON out.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class EnabledScriptError extends Error {
  override name = "EnabledScriptError";
}

export interface EnabledVerdict {
  enabled: boolean;
  reason: string;
}

/**
 * `values` is VALUES_PATH as written (`{global, <module>}`); a non-zero exit, or a result other
 * than true/false, is an error as in addon-operator (discovery would be retried).
 */
export function runEnabledScript(script: string, values: string | object): EnabledVerdict {
  const dir = mkdtempSync(join(tmpdir(), "enabled-"));
  try {
    const env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      VALUES_PATH: join(dir, "values.json"),
      CONFIG_VALUES_PATH: join(dir, "config-values.json"),
      MODULE_ENABLED_RESULT: join(dir, "result"),
      MODULE_ENABLED_REASON: join(dir, "reason"),
    };
    writeFileSync(env.VALUES_PATH, typeof values === "string" ? values : JSON.stringify(values));
    writeFileSync(env.CONFIG_VALUES_PATH, JSON.stringify({ global: {} }));
    writeFileSync(env.MODULE_ENABLED_RESULT, "");
    writeFileSync(env.MODULE_ENABLED_REASON, "");
    const r = spawnSync(script, [], { env, encoding: "utf8" });
    if (r.error) throw new EnabledScriptError(`cannot run ${script}: ${r.error.message}`);
    if (r.status !== 0) {
      const hint = /jq: (command )?not found/.test(r.stderr)
        ? " (install jq: apt-get install -y jq)"
        : "";
      throw new EnabledScriptError(`${script} exited ${r.status}: ${r.stderr.trim()}${hint}`);
    }
    const result = readFileSync(env.MODULE_ENABLED_RESULT, "utf8").trim();
    if (result !== "true" && result !== "false") {
      throw new EnabledScriptError(
        `${script} wrote "${result}" to MODULE_ENABLED_RESULT, not true/false`,
      );
    }
    return { enabled: result === "true", reason: readFileSync(env.MODULE_ENABLED_REASON, "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
