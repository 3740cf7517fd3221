// jqFilter evaluation with real jq (jq 1.7 compiled to WebAssembly by jq-web), with the output
// rules of shell-operator's filter: exactly one result → that value, several → an array of them,
// none → null. Output objects have sorted keys (`-S`), as gojq prints them, so the text is a
// stable change-detection checksum.
//
// jq-web has no compile-once API: every call runs jq's main() (parse + compile + run), about
// 1 ms for a small object. Results are memoised per (filter, input text), which makes repeated
// snapshot rendering and unchanged objects free.

import { createRequire } from "node:module";

export type JqOutcome =
  | {
      ok: true;
      value: unknown;
      /** compact sorted output, "" when jq printed nothing */ text: string;
    }
  | { ok: false; error: string };

export interface JqEngine {
  /** Applies `filter` to `input` (any JSON value). Never throws for jq errors. */
  apply(filter: string, input: unknown): JqOutcome;
  /** Calls actually executed by jq (cache misses), for cost accounting. */
  readonly calls: number;
}

const CACHE_LIMIT = 10_000;

interface RawJq {
  raw(input: string, filter: string, flags?: string[]): string | undefined;
}

let loading: Promise<JqEngine> | undefined;

/**
 * Loads the wasm module once per process. jq-web's CommonJS export is itself a promise, so it is
 * required rather than imported: an ESM namespace exposing `then` cannot be awaited.
 */
export function loadJq(): Promise<JqEngine> {
  loading ??= (async () => {
    const jqWeb = createRequire(import.meta.url)("jq-web") as Promise<RawJq>;
    return createEngine(await jqWeb);
  })();
  return loading;
}

function createEngine(jq: RawJq): JqEngine {
  const cache = new Map<string, JqOutcome>();
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    apply(filter, input) {
      const inputText = JSON.stringify(input ?? null);
      const key = `${filter}\u0000${inputText}`;
      const hit = cache.get(key);
      if (hit) return hit;
      calls++;
      const outcome = run(jq, filter, inputText);
      if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
      cache.set(key, outcome);
      return outcome;
    },
  };
}

function run(jq: RawJq, filter: string, inputText: string): JqOutcome {
  let stdout: string | undefined;
  try {
    stdout = jq.raw(inputText, filter, ["-c", "-S"]);
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    const text = (e.stderr ?? e.message ?? String(err)).trim();
    return { ok: false, error: text.replace(/^Non-zero exit code: \d+\n?/, "") };
  }
  const lines = (stdout ?? "").split("\n").filter(line => line.length > 0);
  try {
    const values = lines.map(line => JSON.parse(line) as unknown);
    const value = values.length === 0 ? null : values.length === 1 ? values[0] : values;
    return { ok: true, value, text: lines.join("\n") };
  } catch (err) {
    return { ok: false, error: `jq output is not JSON: ${(err as Error).message}` };
  }
}
