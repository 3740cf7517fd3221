// What a person watching `npm run sandbox` sees: one screen redrawn in place on a terminal, and
// one line per change otherwise (a CI log must not receive a screen per second). The rendering is
// a pure function of a LiveSnapshot so it can be checked literally.
import type { LiveSnapshot } from "./types";

/** Where the view writes: process.stdout, or anything with its shape (tests). */
export interface ViewOutput {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

const DEFAULT_WIDTH = 100;
const ABSENT = "-";

/** The screen for one moment: step and elapsed, mode and target, pulls, conditions, nodes. */
export function renderLiveView(s: LiveSnapshot, width = DEFAULT_WIDTH): string {
  const elapsed = formatElapsed(s.elapsedSeconds);
  const lines = [
    withRight(oneLine(s.step), elapsed, width),
    `mode ${s.mode || ABSENT}  target ${s.targetMode || ABSENT}  pulls ${s.pulls.attempted} attempted, ${s.pulls.failed} failed`,
    "conditions",
    ...columns(
      s.conditions.map(c => [c.status, c.type, oneLine(c.message ?? "")]),
      "  ",
    ),
    "nodes (registry.deckhouse.io/version)",
    ...columns(
      sortedNodes(s).map(([node, version]) => [node, version ?? ABSENT]),
      "  ",
    ),
  ];
  return lines.map(line => truncate(line, width)).join("\n");
}

/** One log line: what changed is judged by changeKey, this only says it. */
export function renderLogLine(s: LiveSnapshot): string {
  const conditions = s.conditions
    .map(c =>
      c.status === "True" || !c.message
        ? `${c.type}=${c.status}`
        : `${c.type}=${c.status} (${oneLine(c.message)})`,
    )
    .join(", ");
  const nodes = sortedNodes(s)
    .map(([node, version]) => `${node}=${version ?? ABSENT}`)
    .join(" ");
  return (
    `[${formatElapsed(s.elapsedSeconds)}] ${oneLine(s.step)}: mode ${s.mode || ABSENT}, ` +
    `target ${s.targetMode || ABSENT}; ${conditions || "no conditions"}; nodes ${nodes}; ` +
    `pulls ${s.pulls.attempted} attempted, ${s.pulls.failed} failed`
  );
}

/**
 * What counts as a change for the line-per-change output: everything but the clock and the
 * attempted-pull count, which move every second without anything happening. A failed pull is
 * a change.
 */
export function changeKey(s: LiveSnapshot): string {
  return JSON.stringify([
    s.step,
    s.mode,
    s.targetMode,
    s.conditions.map(c => [c.type, c.status, c.message ?? ""]),
    sortedNodes(s),
    s.pulls.failed,
  ]);
}

export class LiveView {
  /** lines of the screen drawn last (TTY), to move the cursor back over them */
  private drawnLines = 0;
  private lastKey: string | undefined;

  constructor(private readonly out: ViewOutput = process.stdout) {}

  update(s: LiveSnapshot): void {
    if (this.out.isTTY) this.redraw(s);
    else this.logIfChanged(s);
  }

  /** The summary after the last screen (which stays visible on a terminal). */
  finish(summary: string): void {
    this.out.write(`\n${summary}\n`);
    this.drawnLines = 0;
  }

  private redraw(s: LiveSnapshot): void {
    // One column short of the terminal: a line that fills it exactly wraps on some terminals,
    // and a wrapped line would make the cursor-up count wrong.
    const width = Math.max(20, (this.out.columns ?? DEFAULT_WIDTH) - 1);
    const screen = renderLiveView(s, width);
    // ESC[nF: to the start of the line n lines up; ESC[J: clear from there to the end.
    const back = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F\x1b[J` : "";
    this.out.write(`${back}${screen}\n`);
    this.drawnLines = screen.split("\n").length;
  }

  private logIfChanged(s: LiveSnapshot): void {
    const key = changeKey(s);
    if (key === this.lastKey) return;
    this.lastKey = key;
    this.out.write(`${renderLogLine(s)}\n`);
  }
}

/** `9.5 s`, `59.9 s`, `2m05s`. */
export function formatElapsed(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
}

function sortedNodes(s: LiveSnapshot): [string, string | undefined][] {
  return Object.entries(s.nodeVersions).sort(([a], [b]) => a.localeCompare(b));
}

/** Rows as aligned columns, indented; the last column is not padded. */
function columns(rows: string[][], indent: string): string[] {
  if (rows.length === 0) return [`${indent}(none yet)`];
  const widths = (rows[0] ?? []).map((_, c) => Math.max(...rows.map(r => length(r[c] ?? ""))));
  return rows.map(row =>
    (
      indent +
      row.map((cell, c) => (c === row.length - 1 ? cell : padRight(cell, widths[c]!))).join("  ")
    ).trimEnd(),
  );
}

/** `left` and `right` on one line of `width`; `left` gives way, so `right` stays visible. */
function withRight(left: string, right: string, width: number): string {
  const shown = truncate(left, Math.max(1, width - length(right) - 2));
  return padRight(shown, width - length(right)) + right;
}

function padRight(s: string, w: number): string {
  return s + " ".repeat(Math.max(0, w - length(s)));
}

/** Messages may carry newlines (a condition's multi-line error); one screen line each. */
function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

function truncate(line: string, width: number): string {
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, width - 1).join("")}…`;
}

/** Characters, not UTF-16 units. */
function length(s: string): number {
  return [...s].length;
}
