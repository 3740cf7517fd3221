// Reading a config document from YAML text or a file: the errors are the reader's ConfigError, so
// a program reports an unreadable file the way it reports a bad field.
import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./reader";

/**
 * Parses YAML text of a config; a syntax error is a ConfigError with the parser's first line only:
 * the code frame that follows quotes the text, which may hold a password.
 */
export function parseConfigYaml(text: string, source: string, field = ""): unknown {
  try {
    return parseYaml(text);
  } catch (e) {
    const reason = (e as Error).message.split("\n")[0] ?? "";
    throw new ConfigError(source, [{ field, rule: `not YAML: ${reason}` }]);
  }
}

/** Reads and parses a YAML config file; unreadable or not YAML is a ConfigError naming why. */
export async function readConfigFile(file: string, source: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new ConfigError(source, [{ field: "", rule: `cannot read: ${code}` }]);
  }
  return parseConfigYaml(text, source);
}
