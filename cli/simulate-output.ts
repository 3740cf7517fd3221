// What `simulate` shows on a terminal: one compact line per module run and, when a step ends, a
// table of its conditions (JSON lines stay the format for pipes and files).
import type { RunRecord } from "../lib/simulate/simulate";

type Condition = RunRecord["conditions"][number];

const firstLine = (s: string | undefined) => (s ?? "").split("\n")[0] ?? "";

function clip(s: string, width: number): string {
  return s.length > width ? `${s.slice(0, width - 1)}…` : s;
}

/** `#12  Direct → Proxy  waiting for NodeServicesReady: 1/3 node(s) ready. Waiting:` */
export function compactRun(r: RunRecord): string {
  const modes =
    r.mode === r.target_mode ? `${r.mode ?? ""}` : `${r.mode ?? ""} → ${r.target_mode ?? ""}`;
  const pending = r.conditions.find(c => c.status !== "True" && c.type !== "Ready");
  const state = r.ready
    ? "Ready"
    : pending
      ? `waiting for ${pending.type}: ${firstLine(pending.message)}`
      : "not Ready";
  return clip(`#${String(r.run).padEnd(4)} ${modes.padEnd(22)} ${state}`, 120);
}

/** The conditions as a table: type, status, first line of the message. */
export function conditionsTable(conditions: readonly Condition[]): string {
  const typeWidth = Math.max(4, ...conditions.map(c => c.type.length));
  const rows = [
    `${"TYPE".padEnd(typeWidth)}  STATUS  MESSAGE`,
    ...conditions.map(c =>
      clip(
        `${c.type.padEnd(typeWidth)}  ${c.status.padEnd(6)}  ${firstLine(c.message)}`,
        120,
      ).trimEnd(),
    ),
  ];
  return rows.join("\n");
}
