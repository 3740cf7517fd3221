// JSON-lines logger: one complete record per line, the shape addon-operator merges into its own
// log (`level`, `msg`, other keys become `hook_<key>`). Every record passes through redaction.
import { redactText, redactValue } from "./redact";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface LogRecord {
  level: LogLevel;
  msg: string;
  [field: string]: unknown;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** Values that must never be printed, even where their key does not look secret. */
  addSecret(secret: string | undefined): void;
  readonly secrets: ReadonlySet<string>;
}

export function createLogger(sink: (record: LogRecord) => void, hook: string): Logger {
  const secrets = new Set<string>();
  const emit = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void => {
    const safeFields = redactValue(fields, secrets) as Record<string, unknown>;
    sink({ ...safeFields, level, msg: redactText(msg, secrets), hook });
  };
  return {
    debug: (msg, fields) => emit("debug", msg, fields),
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    addSecret: secret => {
      if (secret) secrets.add(secret);
    },
    secrets,
  };
}
