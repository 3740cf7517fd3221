// Loading YAML documents (OpenAPI schemas, case tests) once per process.
//
// Documents are parsed with merge keys (`<<: *anchor`) enabled, the way Deckhouse loads its
// schemas, and are returned as plain JSON data (aliases are expanded into independent copies, so
// a caller may mutate what it gets without touching other parts of the document).

import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "yaml";

const cache = new Map<string, unknown>();

/** Parses one YAML document into plain JSON data (no shared sub-objects, no `undefined`). */
export function parseYaml(text: string, source = "<string>"): unknown {
  let doc: unknown;
  try {
    doc = parse(text, { merge: true, maxAliasCount: -1 });
  } catch (err) {
    throw new Error(`${source}: invalid YAML: ${(err as Error).message}`, { cause: err });
  }
  return doc === undefined ? null : (JSON.parse(JSON.stringify(doc)) as unknown);
}

/**
 * Reads and parses a YAML file once; later calls with the same path return a fresh deep copy of
 * the cached document, so callers cannot corrupt the cache.
 */
export function loadYamlFile(path: string): unknown {
  const abs = resolve(path);
  if (!cache.has(abs)) {
    cache.set(abs, parseYaml(readFileSync(abs, "utf8"), abs));
  }
  return structuredClone(cache.get(abs));
}
