// Reading the shared protocol fixtures (hook-protocol.md reference set).
import { readFileSync } from "node:fs";
import { join } from "node:path";

// Copied into the repository (test/fixtures/protocol/README.md) so CI needs nothing outside it.
export const FIXTURES = "test/fixtures/protocol";

export function fixtureText(path: string): string {
  return readFileSync(join(FIXTURES, path), "utf8");
}

export function fixtureJson<T = unknown>(path: string): T {
  return JSON.parse(fixtureText(path)) as T;
}
