// How the operator turns a hook's stdout/stderr into log records
// (docs/hook-protocol.md#discovery-and-invocation): a line starting with `{` that parses as a JSON
// object becomes a record (`level`, `msg`, other fields kept, `time` dropped); a `{` line that does
// not parse is buffered with the following lines until the whole parses; anything else is a plain
// message. Lines are split per stream as chunks arrive.
import { isRecord } from "../validation/reader";
import type { HookLogRecord } from "./run-types";

const MAX_LINE = 10_000;

export class LogLineCollector {
  readonly records: HookLogRecord[] = [];
  private readonly partial: Record<"stdout" | "stderr", string> = { stdout: "", stderr: "" };
  private readonly pending: Record<"stdout" | "stderr", string[]> = { stdout: [], stderr: [] };

  push(stream: "stdout" | "stderr", chunk: string): void {
    const text = this.partial[stream] + chunk;
    const lines = text.split("\n");
    this.partial[stream] = lines.pop() ?? "";
    for (const line of lines) this.line(stream, line);
  }

  /** Flushes unterminated lines and unparsed JSON buffers. */
  end(): HookLogRecord[] {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream] !== "") this.line(stream, this.partial[stream]);
      this.partial[stream] = "";
      for (const line of this.pending[stream]) this.plain(stream, line);
      this.pending[stream] = [];
    }
    return this.records;
  }

  private line(stream: "stdout" | "stderr", raw: string): void {
    const line = raw.replace(/\r$/, "").slice(0, MAX_LINE);
    const buffered = this.pending[stream];
    if (buffered.length === 0 && !line.startsWith("{")) {
      if (line.trim() !== "") this.plain(stream, line);
      return;
    }
    buffered.push(line);
    const joined = buffered.join("\n");
    let parsed: unknown;
    try {
      parsed = JSON.parse(joined);
    } catch {
      return; // keep buffering
    }
    this.pending[stream] = [];
    if (!isRecord(parsed)) {
      this.plain(stream, joined);
      return;
    }
    const { level, msg, time: _time, ...fields } = parsed;
    this.records.push({
      ...fields,
      level: typeof level === "string" ? level : "info",
      msg: typeof msg === "string" ? msg : "",
    });
  }

  private plain(stream: "stdout" | "stderr", line: string): void {
    this.records.push({ level: "info", msg: line, output: stream });
  }
}
