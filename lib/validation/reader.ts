// The one way input is validated in this repository (docs/adr/0130): a document is read through a
// `Section` per mapping, whose getters check the type and the rule of each field and record a
// `Problem` naming the field path (`users[1].role`, `registry.direct.ca`) and the rule it breaks.
// Unknown keys are problems too where a reader asks (`noOtherKeys`): stock distribution silently
// ignores a misspelt key, we do not.
//
// Two ways to finish: a data-plane program refuses to start on a bad config and the operator
// reading the pod log must see every problem at once (`Problems.finish` throws them all); a hook
// stops at the first problem with its own error class (`Problems` with `failFast`), because its
// message goes to one condition or log line. Pure and cheap to import (no Node module): hooks
// load it at start-up; reading files and YAML is in config-file.ts.

import { ipFamily } from "./ip";

export interface Problem {
  field: string;
  rule: string;
}

/** A config that cannot be used; the message lists every problem, one per line. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    readonly source: string,
    readonly problems: readonly Problem[],
  ) {
    super(
      `${source} is invalid:\n${problems.map(p => `  ${p.field || "(root)"}: ${p.rule}`).join("\n")}`,
    );
  }
}

/**
 * Collects problems while a document is read; `finish` throws them all. With `failFast`, the first
 * problem is thrown at once as the error it makes (the reader's getters then never return a bad
 * value).
 */
export class Problems {
  readonly list: Problem[] = [];
  readonly #failFast: ((problem: Problem) => Error) | undefined;
  constructor(
    readonly source: string,
    options: { failFast?: (problem: Problem) => Error } = {},
  ) {
    this.#failFast = options.failFast;
  }

  add(field: string, rule: string): void {
    if (this.#failFast) throw this.#failFast({ field, rule });
    this.list.push({ field, rule });
  }

  finish(): void {
    if (this.list.length > 0) throw new ConfigError(this.source, this.list);
  }

  /** The document root, which must be a mapping; `path` prefixes every field named under it. */
  root(value: unknown, path = "", rule = mustBeMapping): Section {
    if (!isPlainObject(value)) {
      this.add(path, rule(value));
      return new Section(this, path, undefined);
    }
    return new Section(this, path, value);
  }
}

const mustBeMapping = (v: unknown) => `must be a mapping, got ${kindOf(v)}`;

type Opt = { required?: boolean };

/**
 * One mapping of the config being read. Getters return undefined for absent or invalid values and
 * record the problem; callers finish reading, then `Problems.finish()` throws.
 */
export class Section {
  readonly #seen = new Set<string>();
  constructor(
    readonly problems: Problems,
    readonly path: string,
    readonly value: Record<string, unknown> | undefined,
  ) {}

  field(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    const v = this.value?.[key];
    return v !== undefined && v !== null;
  }

  #raw(key: string, opt: Opt): unknown {
    this.#seen.add(key);
    const v = this.value?.[key];
    if (v === undefined || v === null) {
      if (opt.required && this.value) this.problems.add(this.field(key), "required");
      return undefined;
    }
    return v;
  }

  /** The value of a key as it is (undefined when absent or null), for rules no getter has. */
  get(key: string, opt: Opt = {}): unknown {
    return this.#raw(key, opt);
  }

  /** The keys of this mapping, in document order. */
  keys(): string[] {
    return this.value ? Object.keys(this.value) : [];
  }

  #bad(key: string, rule: string): undefined {
    this.problems.add(this.field(key), rule);
    return undefined;
  }

  string(key: string, opt: Opt & { pattern?: RegExp; rule?: string } = {}): string | undefined {
    const v = this.#raw(key, opt);
    if (v === undefined) return undefined;
    if (typeof v !== "string") return this.#bad(key, `must be a string, got ${kindOf(v)}`);
    if (v === "") return opt.required ? this.#bad(key, "must not be empty") : undefined;
    if (opt.pattern && !opt.pattern.test(v)) return this.#bad(key, opt.rule ?? "invalid");
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], opt: Opt = {}): T | undefined {
    const v = this.#raw(key, opt);
    if (v === undefined) return undefined;
    if (typeof v === "string" && (allowed as readonly string[]).includes(v)) return v as T;
    return this.#bad(key, `must be one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
  }

  boolean(key: string, opt: Opt = {}): boolean | undefined {
    const v = this.#raw(key, opt);
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") return this.#bad(key, `must be true or false, got ${kindOf(v)}`);
    return v;
  }

  integer(key: string, opt: Opt & { min?: number; max?: number } = {}): number | undefined {
    const v = this.#raw(key, opt);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v))
      return this.#bad(key, `must be an integer, got ${kindOf(v)}`);
    if (opt.min !== undefined && v < opt.min) return this.#bad(key, `must be at least ${opt.min}`);
    if (opt.max !== undefined && v > opt.max) return this.#bad(key, `must be at most ${opt.max}`);
    return v;
  }

  /** A Go-style duration (`90s`, `5m`, `1h30m`), returned in milliseconds. */
  duration(key: string, opt: Opt & { minMs?: number } = {}): number | undefined {
    const rule = "must be a duration like 30s, 5m or 1h30m";
    const s = this.string(key, { ...opt, pattern: DURATION, rule });
    if (s === undefined) return undefined;
    const ms = parseDuration(s);
    if (ms === undefined || ms <= 0) return this.#bad(key, "must be a positive duration");
    if (opt.minMs !== undefined && ms < opt.minMs)
      return this.#bad(key, `must be at least ${formatDuration(opt.minMs)}`);
    return ms;
  }

  /**
   * `host:port` where host is an IPv4 address, `[IPv6]` or a DNS name; port 1–65535, or 0 for a
   * `listener` (any free port, which the program logs).
   */
  address(
    key: string,
    opt: Opt & { ipOnly?: boolean; listener?: boolean } = {},
  ): HostPort | undefined {
    const s = this.string(key, opt);
    if (s === undefined) return undefined;
    const hp = parseHostPort(s, opt.listener);
    const range = opt.listener ? "0-65535" : "1-65535";
    if (!hp) return this.#bad(key, `must be host:port (port ${range}), got ${JSON.stringify(s)}`);
    if (opt.ipOnly && !ipFamily(hp.host))
      return this.#bad(key, `host must be an IP address, got ${JSON.stringify(hp.host)}`);
    return hp;
  }

  /** An absolute file path (the file itself is checked when the program loads it). */
  path_(key: string, opt: Opt = {}): string | undefined {
    return this.string(key, { ...opt, pattern: /^\//, rule: "must be an absolute path" });
  }

  /** A nested mapping; `path` names it where `parent.key` would not (`hosts["a.io"]`). */
  section(key: string, opt: Opt & { path?: string } = {}): Section | undefined {
    const v = this.#raw(key, opt);
    const path = opt.path ?? this.field(key);
    if (v === undefined) return undefined;
    if (!isPlainObject(v)) {
      this.problems.add(path, `must be a mapping, got ${kindOf(v)}`);
      return undefined;
    }
    return new Section(this.problems, path, v);
  }

  /** A list of mappings. */
  sections(key: string, opt: Opt & { minItems?: number } = {}): Section[] | undefined {
    const v = this.#raw(key, opt);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return this.#bad(key, `must be a list, got ${kindOf(v)}`);
    if (opt.minItems !== undefined && v.length < opt.minItems)
      return this.#bad(key, `must have at least ${opt.minItems} item(s)`);
    return v.map((item, i) => {
      const path = `${this.field(key)}[${i}]`;
      if (isPlainObject(item)) return new Section(this.problems, path, item);
      this.problems.add(path, `must be a mapping, got ${kindOf(item)}`);
      return new Section(this.problems, path, undefined);
    });
  }

  /** A list of strings, each checked by `check` (which returns a rule when the item is bad). */
  strings(
    key: string,
    opt: Opt & { minItems?: number; check?: (s: string) => string | undefined } = {},
  ): string[] | undefined {
    const v = this.#raw(key, opt);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return this.#bad(key, `must be a list, got ${kindOf(v)}`);
    if (opt.minItems !== undefined && v.length < opt.minItems)
      return this.#bad(key, `must have at least ${opt.minItems} item(s)`);
    const out: string[] = [];
    v.forEach((item, i) => {
      const path = `${this.field(key)}[${i}]`;
      if (typeof item !== "string" || item === "") {
        this.problems.add(path, `must be a non-empty string, got ${kindOf(item)}`);
        return;
      }
      const rule = opt.check?.(item);
      if (rule) this.problems.add(path, rule);
      else out.push(item);
    });
    return out;
  }

  /** Records a problem on a key of this section. */
  reject(key: string, rule: string): void {
    this.#seen.add(key);
    this.problems.add(this.field(key), rule);
  }

  /** Every key not read so far is reported as unknown (call after reading the section). */
  noOtherKeys(): void {
    if (!this.value) return;
    for (const key of Object.keys(this.value)) {
      if (!this.#seen.has(key)) this.problems.add(this.field(key), "unknown key");
    }
  }
}

export interface HostPort {
  host: string;
  port: number;
}

const HOSTNAME =
  /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

export function parseHostPort(s: string, allowPortZero = false): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  if (port < (allowPortZero ? 0 : 1) || port > 65535) return undefined;
  if (m[1] !== undefined ? ipFamily(host) !== 6 : !(ipFamily(host) === 4 || HOSTNAME.test(host)))
    return undefined;
  return { host, port };
}

export function formatHostPort(hp: HostPort): string {
  return ipFamily(hp.host) === 6 ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

const DURATION = /^(\d+h)?(\d+m)?(\d+s)?$/;

export function parseDuration(s: string): number | undefined {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(s);
  if (!m || s === "") return undefined;
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

/** A mapping (a JSON object): not null, not a list. The one copy of this guard. */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export { isPlainObject as isRecord };

export function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (isPlainObject(v)) return "a mapping";
  // never the value itself: the field may hold a password
  return typeof v;
}
