// Module values as addon-operator computes them (docs/hook-protocol.md#values-layering) and hands them to a module hook (docs/hook-protocol.md#values-inputs):
//   values  = {global, <key>: static → config-values defaults → user config → values defaults
//              → stored patches (lenient)}
//   config  = {global: global user config, <key>: user settings only}
// A hook's values patch is checked (add/remove under <key>), applied strictly, validated against
// the values schema, and only then stored (compacted); any failure leaves values unchanged.
import type { ModuleSchemas, ValidationIssue } from "../openapi/types";
import type { ValuesPatchOperation } from "../runtime/types";
import { isRecord } from "../validation/reader";
import { deepMerge, jsonClone } from "./json";
import type { HarnessLog } from "./snapshots";
import {
  applyValuesPatch,
  checkHookValuesPatch,
  compactPatches,
  toPointer,
  ValuesPatchError,
} from "./values-patch";

export interface ValuesStoreOptions {
  /** The module's values key (camelCase module name). */
  moduleKey: string;
  /** The module's kebab-case name, always listed in `global.enabledModules`. */
  moduleName?: string;
  schemas?: ModuleSchemas;
  /** Global values as global hooks and the global config made them. */
  globalValues?: Record<string, unknown>;
  /** Global user config (CONFIG_VALUES_PATH `global`). */
  globalConfigValues?: Record<string, unknown>;
  /** Module static values (the module's values.yaml section). */
  staticValues?: Record<string, unknown>;
  /** Module user settings (ModuleConfig spec.settings). */
  configValues?: Record<string, unknown>;
  log?: HarnessLog;
}

export type PatchOutcome = { ok: true; changed: boolean } | { ok: false; error: string };

export class ValuesStore {
  readonly moduleKey: string;
  private readonly moduleName: string;
  private readonly schemas: ModuleSchemas | undefined;
  private readonly log: HarnessLog;
  private globalValues: Record<string, unknown>;
  private globalConfigValues: Record<string, unknown>;
  private staticValues: Record<string, unknown>;
  private userConfig: Record<string, unknown>;
  private stored: ValuesPatchOperation[] = [];

  constructor(opts: ValuesStoreOptions) {
    this.moduleKey = opts.moduleKey;
    this.moduleName = opts.moduleName ?? opts.moduleKey;
    this.schemas = opts.schemas;
    this.log = opts.log ?? (() => undefined);
    this.globalValues = jsonClone(opts.globalValues ?? {});
    this.globalConfigValues = jsonClone(opts.globalConfigValues ?? {});
    this.staticValues = jsonClone(opts.staticValues ?? {});
    this.userConfig = jsonClone(opts.configValues ?? {});
  }

  /** Global values with what the operator injects: `enabledModules` and `discovery.apiVersions` sorted. */
  global(): Record<string, unknown> {
    const g = jsonClone(this.globalValues);
    const enabled = Array.isArray(g.enabledModules) ? (g.enabledModules as unknown[]) : [];
    g.enabledModules = [...new Set([...enabled.map(String), this.moduleName])].sort();
    if (isRecord(g.discovery) && Array.isArray(g.discovery.apiVersions)) {
      g.discovery.apiVersions = [...(g.discovery.apiVersions as unknown[]).map(String)].sort();
    }
    return g;
  }

  /** Module values before stored patches (layers 1–4). */
  private baseModuleValues(): unknown {
    let m: unknown = deepMerge({}, this.staticValues);
    if (this.schemas) m = this.schemas.applyConfigValuesDefaults(m);
    m = deepMerge(m, this.userConfig);
    if (this.schemas) m = this.schemas.applyValuesDefaults(m);
    return m;
  }

  /** The module section of VALUES_PATH. */
  moduleValues(): unknown {
    let doc: unknown = { [this.moduleKey]: this.baseModuleValues() };
    for (const op of this.stored) {
      try {
        doc = applyValuesPatch(doc, [op], "lenient");
      } catch (err) {
        this.log("warn", "stored values patch does not apply", { op, error: String(err) });
      }
    }
    return (doc as Record<string, unknown>)[this.moduleKey];
  }

  /** VALUES_PATH: exactly `{global, <key>}`. */
  values(): Record<string, unknown> {
    return { global: this.global(), [this.moduleKey]: this.moduleValues() ?? {} };
  }

  /** CONFIG_VALUES_PATH: user config only, no defaults, no patches. */
  configValues(): Record<string, unknown> {
    return {
      global: jsonClone(this.globalConfigValues),
      [this.moduleKey]: jsonClone(this.userConfig),
    };
  }

  storedPatches(): ValuesPatchOperation[] {
    return jsonClone(this.stored);
  }

  /** Problems of the current config values and values, as the operator checks them around runs. */
  validate(): string[] {
    if (!this.schemas) return [];
    const config = this.schemas.validateConfigValues(this.userConfig);
    const values = this.schemas.validateValues(this.moduleValues());
    return [
      ...config.map(i => `config values: ${formatIssue(this.moduleKey, i)}`),
      ...values.map(i => `values: ${formatIssue(this.moduleKey, i)}`),
    ];
  }

  /** A hook's values patch: checked, strictly applied, validated, stored — or refused whole. */
  applyHookPatch(rawOps: readonly Record<string, unknown>[]): PatchOutcome {
    if (rawOps.length === 0) return { ok: true, changed: false };
    let ops: ValuesPatchOperation[];
    let next: unknown;
    try {
      ops = checkHookValuesPatch(rawOps, this.moduleKey);
      const current = { [this.moduleKey]: this.moduleValues() };
      next = (applyValuesPatch(current, ops, "strict") as Record<string, unknown>)[this.moduleKey];
    } catch (err) {
      return { ok: false, error: err instanceof ValuesPatchError ? err.message : String(err) };
    }
    if (this.schemas) {
      const issues = this.schemas.validateValues(next);
      if (issues.length > 0) {
        const text = issues.map(i => formatIssue(this.moduleKey, i)).join("; ");
        return { ok: false, error: `values patch makes values invalid: ${text}` };
      }
    }
    const before = JSON.stringify(this.moduleValues());
    this.stored = compactPatches(this.stored, ops);
    return { ok: true, changed: before !== JSON.stringify(this.moduleValues()) };
  }

  /** A config values patch (plain addon-operator only): checked, applied to the user config, validated. */
  applyConfigPatch(rawOps: readonly Record<string, unknown>[]): PatchOutcome {
    let next: unknown;
    try {
      const ops = checkHookValuesPatch(rawOps, this.moduleKey);
      const current = { [this.moduleKey]: this.userConfig };
      next = (applyValuesPatch(current, ops, "strict") as Record<string, unknown>)[this.moduleKey];
    } catch (err) {
      return { ok: false, error: err instanceof ValuesPatchError ? err.message : String(err) };
    }
    const issues = this.schemas?.validateConfigValues(next) ?? [];
    if (issues.length > 0) {
      const text = issues.map(i => formatIssue(this.moduleKey, i)).join("; ");
      return { ok: false, error: `config values patch makes config values invalid: ${text}` };
    }
    const changed = JSON.stringify(next) !== JSON.stringify(this.userConfig);
    this.userConfig = (isRecord(next) ? next : {}) as Record<string, unknown>;
    return { ok: true, changed };
  }

  /** Test helper: sets a module value as a stored patch (parents created as needed). */
  setValue(segments: readonly string[], value: unknown): void {
    const [root, ...rest] = segments;
    if (root === "global") {
      this.globalValues = setAt(this.globalValues, rest, value) as Record<string, unknown>;
      return;
    }
    if (root !== this.moduleKey)
      throw new Error(`values path must start with global or ${this.moduleKey}`);
    const current = this.moduleValues();
    const ops: ValuesPatchOperation[] = [];
    let cur: unknown = current;
    for (let i = 0; i < rest.length - 1; i++) {
      cur = isRecord(cur) ? cur[rest[i] as string] : undefined;
      if (!isRecord(cur) && !Array.isArray(cur)) {
        ops.push({ op: "add", path: toPointer([root, ...rest.slice(0, i + 1)]), value: {} });
        cur = {};
      }
    }
    ops.push({ op: "add", path: toPointer([root, ...rest]), value: jsonClone(value) });
    this.stored = compactPatches(this.stored, ops);
  }

  /** Test helper: removes a module value (stored `remove` patch) or a global value. */
  deleteValue(segments: readonly string[]): void {
    const [root, ...rest] = segments;
    if (root === "global") {
      this.globalValues = setAt(this.globalValues, rest, undefined) as Record<string, unknown>;
      return;
    }
    if (root !== this.moduleKey)
      throw new Error(`values path must start with global or ${this.moduleKey}`);
    this.stored = compactPatches(this.stored, [{ op: "remove", path: toPointer(segments) }]);
  }

  /** Test helper: changes user config (module settings or global config). */
  setConfigValue(segments: readonly string[], value: unknown): void {
    const [root, ...rest] = segments;
    if (root === "global") {
      this.globalConfigValues = setAt(this.globalConfigValues, rest, value) as Record<
        string,
        unknown
      >;
    } else if (root === this.moduleKey) {
      this.userConfig = setAt(this.userConfig, rest, value) as Record<string, unknown>;
    } else {
      throw new Error(`config values path must start with global or ${this.moduleKey}`);
    }
  }
}

function formatIssue(key: string, issue: ValidationIssue): string {
  const path = issue.path.startsWith(`/${key}`) ? issue.path : `/${key}${issue.path}`;
  return `${path}: ${issue.message}`;
}

/** Copy of `doc` with the value at `segments` set (undefined deletes); parents created. */
function setAt(doc: unknown, segments: readonly string[], value: unknown): unknown {
  if (segments.length === 0) return jsonClone(value);
  const [head, ...rest] = segments as [string, ...string[]];
  const out: Record<string, unknown> = isRecord(doc) ? jsonClone(doc) : {};
  const next = setAt(out[head], rest, value);
  if (next === undefined) delete out[head];
  else out[head] = next;
  return out;
}

/** gjson-style dotted path (`registry.internal.x`, `a.0.b`; `\.` escapes a dot) → segments. */
export function dottedPath(path: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i];
    if (c === "\\" && i + 1 < path.length) cur += path[++i];
    else if (c === ".") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** Reads a value by segments; undefined when missing. */
export function getAt(doc: unknown, segments: readonly string[]): unknown {
  let cur = doc;
  for (const s of segments) {
    if (Array.isArray(cur) && /^\d+$/.test(s)) cur = cur[Number(s)];
    else if (isRecord(cur)) cur = Object.prototype.hasOwnProperty.call(cur, s) ? cur[s] : undefined;
    else return undefined;
  }
  return cur === undefined ? undefined : jsonClone(cur);
}
