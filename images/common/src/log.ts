// JSON-lines logs of the data-plane programs (what kubelet collects from a static pod). Every
// record goes through the project's one redaction (lib/runtime/redact.ts), plus the secrets a
// program registers (passwords from its config), which can appear in no other way.
import { redactText, redactValue } from "../../../lib/runtime/redact";

export type Level = "debug" | "info" | "warn" | "error";

export interface Log {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  addSecret(secret: string | undefined): void;
}

export function createLog(
  component: string,
  sink: (line: string) => void = line => process.stderr.write(line),
  minLevel: Level = "info",
): Log {
  const order: Level[] = ["debug", "info", "warn", "error"];
  const secrets = new Set<string>();
  const emit = (level: Level, msg: string, fields: Record<string, unknown> = {}): void => {
    if (order.indexOf(level) < order.indexOf(minLevel)) return;
    const safe = redactValue(fields, secrets) as Record<string, unknown>;
    const record = {
      time: new Date().toISOString(),
      level,
      component,
      msg: redactText(msg, secrets),
      ...safe,
    };
    sink(`${JSON.stringify(record)}\n`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    addSecret: s => {
      if (s) secrets.add(s);
    },
  };
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
