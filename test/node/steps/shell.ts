// Shell words for the bash steps. Every value a step writes (file contents, paths, the version)
// reaches bash as ONE single-quoted word, so no character of a password, a CA or a host can be
// expanded, split or end a heredoc. The one exception is deliberate: the bootstrap placeholder
// `${discovered_node_ip}` (docs/architecture.md#node-side) is left outside the quotes as a
// double-quoted expansion of the step's variable of the same name, which is exactly what the
// placeholder's syntax asks for.
import { NODE_IP_PLACEHOLDER } from "../../../lib/domain/bashible-config";

/** `it's` → `'it'\''s'` (POSIX single quoting; safe for any string without NUL). */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The shell variable the steps set to the node's IP when the placeholder is in use. */
export const NODE_IP_VARIABLE = "discovered_node_ip";

/**
 * One shell word for `value` in which every `${discovered_node_ip}` expands to the step's
 * variable and everything else is literal.
 */
export function shellWordWithNodeIp(value: string): string {
  return value
    .split(NODE_IP_PLACEHOLDER)
    .map(part => (part === "" ? "" : shellQuote(part)))
    .join(`"\${${NODE_IP_VARIABLE}}"`)
    .replace(/^$/, "''");
}
