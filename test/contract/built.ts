// Paths of the built module and a guard that fails (not skips) when it was not built.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export const MODULE_DIR = resolve("dist/module");
export const HOOKS_EXE = join(MODULE_DIR, "hooks", "registry-hooks");
export const shellHook = (name: string): string => join(MODULE_DIR, "shell-hooks", name);

export function requireBuild(): void {
  if (!existsSync(HOOKS_EXE)) {
    throw new Error(`${HOOKS_EXE} is missing: run \`npm run build\` (\`npm test\` builds first)`);
  }
}

/** Runs a command with no inherited environment: no Node.js on PATH, as in the chroot. */
export function runBare(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    encoding: "utf8",
    env: { PATH: "/nonexistent", ...env },
    cwd: "/",
  });
}
