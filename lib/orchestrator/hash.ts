// Versions and hashes of the orchestrator: SHA-256 over the JSON of the values, as the original's
// helpers.ComputeHash (each argument marshalled and fed into one digest, hex). Producer and
// consumer of every version live in this module set, so byte-compatibility with Go is not needed.
import { createHash } from "node:crypto";

export function computeHash(...values: unknown[]): string {
  const hash = createHash("sha256");
  for (const value of values) hash.update(JSON.stringify(value) ?? "null");
  return hash.digest("hex");
}

/** Versions shown to people are cut to 15 characters, as the original's messages do. */
export function shortVersion(version: string): string {
  const chars = [...version];
  return chars.length > 15 ? chars.slice(0, 15).join("") + "…" : version;
}

/**
 * At most `limit` lines, then a tab-indented `...and <k> more`
 * (docs/architecture.md#bashible-config, #preflight).
 */
export function cappedLines(lines: readonly string[], limit = 10): string[] {
  if (lines.length <= limit) return [...lines];
  return [...lines.slice(0, limit), `\t...and ${lines.length - limit} more`];
}
