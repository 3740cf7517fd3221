// Hook configuration as the operator sees it: parsed from `--config` / `hook config` output or
// taken from a HookDefinition, validated (the v1 schema of shell-operator plus addon-operator's
// module lifecycle keys, includeSnapshotsFrom and crontab checks), then normalised: defaults
// filled in and group membership expanded into the list of snapshots each binding carries.
import { Ajv } from "ajv";
import { Cron } from "croner";
import { parse as parseYaml } from "yaml";
import type {
  KubernetesBindingConfig,
  ModuleHookConfig,
  ObjectSelector,
  WatchEvent,
} from "../runtime/types";
import { isRecord } from "../validation/reader";
import { jsonClone } from "./json";

export class HookConfigError extends Error {
  override name = "HookConfigError";
}

export const LIFECYCLE_BINDINGS = [
  "beforeHelm",
  "afterHelm",
  "beforeDeleteHelm",
  "afterDeleteHelm",
] as const;
export type ModuleLifecycle = (typeof LIFECYCLE_BINDINGS)[number];

export interface KubernetesBinding extends ObjectSelector {
  name: string;
  jqFilter?: string;
  executeHookOnEvent: WatchEvent[];
  executeHookOnSynchronization: boolean;
  keepFullObjectsInMemory: boolean;
  allowFailure: boolean;
  queue: string;
  group?: string;
  /** Own includeSnapshotsFrom plus every kubernetes binding of the group, deduplicated. */
  includeSnapshotsFrom: string[];
}

export interface ScheduleBinding {
  name: string;
  crontab: string;
  allowFailure: boolean;
  queue: string;
  group?: string;
  includeSnapshotsFrom: string[];
}

export interface HookConfig {
  onStartup?: number;
  beforeHelm?: number;
  afterHelm?: number;
  beforeDeleteHelm?: number;
  afterDeleteHelm?: number;
  kubernetes: KubernetesBinding[];
  schedule: ScheduleBinding[];
  /** The validated wire config this was built from. */
  source: ModuleHookConfig;
}

const ALL_EVENTS: WatchEvent[] = ["Added", "Modified", "Deleted"];

// The v1 hook config schema (shell-operator) with addon-operator's module lifecycle keys.
const nameSelector = {
  type: "object",
  additionalProperties: false,
  required: ["matchNames"],
  properties: { matchNames: { type: "array", items: { type: "string" } } },
};
const labelSelector = {
  type: "object",
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 2,
  properties: {
    matchLabels: { type: "object", additionalProperties: { type: "string" } },
    matchExpressions: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["key", "operator"],
        properties: {
          key: { type: "string" },
          operator: { enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: { type: "array", items: { type: "string" } },
        },
      },
    },
  },
};
const snapshotList = { type: "array", minItems: 1, items: { type: "string" } };
const eventList = { type: "array", items: { enum: ALL_EVENTS } };
const webhookItem = { type: "object", required: ["name"] };
const CONFIG_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["configVersion"],
  minProperties: 2,
  properties: {
    configVersion: { enum: ["v1"] },
    onStartup: { type: "integer" },
    beforeHelm: { type: "integer" },
    afterHelm: { type: "integer" },
    beforeDeleteHelm: { type: "integer" },
    afterDeleteHelm: { type: "integer" },
    settings: {
      type: "object",
      additionalProperties: false,
      properties: { executionMinInterval: { type: "string" }, executionBurst: { type: "integer" } },
    },
    schedule: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["crontab"],
        properties: {
          name: { type: "string" },
          crontab: { type: "string" },
          allowFailure: { type: "boolean" },
          includeSnapshotsFrom: snapshotList,
          queue: { type: "string" },
          group: { type: "string" },
        },
      },
    },
    kubernetes: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["kind"],
        properties: {
          name: { type: "string" },
          apiVersion: { type: "string" },
          kind: { type: "string" },
          includeSnapshotsFrom: snapshotList,
          queue: { type: "string" },
          jqFilter: { type: "string" },
          keepFullObjectsInMemory: { type: "boolean" },
          allowFailure: { type: "boolean" },
          executeHookOnSynchronization: { type: "boolean" },
          waitForSynchronization: { type: "boolean" },
          resynchronizationPeriod: { type: "string" },
          executeHookOnEvent: eventList,
          watchEvent: eventList,
          nameSelector,
          labelSelector,
          fieldSelector: {
            type: "object",
            additionalProperties: false,
            required: ["matchExpressions"],
            properties: {
              matchExpressions: {
                type: "array",
                items: {
                  type: "object",
                  additionalProperties: false,
                  required: ["field", "operator", "value"],
                  properties: {
                    field: { type: "string" },
                    operator: { enum: ["=", "==", "Equals", "!=", "NotEquals"] },
                    value: { type: "string" },
                  },
                },
              },
            },
          },
          group: { type: "string" },
          namespace: {
            type: "object",
            additionalProperties: false,
            minProperties: 1,
            maxProperties: 2,
            properties: { nameSelector, labelSelector },
          },
        },
      },
    },
    // Accepted by the schema, never wired for module hooks (docs/hook-protocol.md#hook-config).
    kubernetesValidating: { type: "array", minItems: 1, items: webhookItem },
    kubernetesMutating: { type: "array", minItems: 1, items: webhookItem },
    kubernetesCustomResourceConversion: { type: "array", minItems: 1, items: webhookItem },
  },
};

const validateSchema = new Ajv({ allErrors: true, strict: false }).compile(CONFIG_SCHEMA);

/** Parses `--config` output (YAML or JSON). */
export function parseHookConfigText(text: string): unknown {
  try {
    return parseYaml(text) as unknown;
  } catch (err) {
    throw new HookConfigError(`hook config is not YAML/JSON: ${(err as Error).message}`);
  }
}

/** Validates a module hook's wire config; throws HookConfigError listing every problem. */
export function validateHookConfig(raw: unknown): ModuleHookConfig {
  if (!isRecord(raw)) throw new HookConfigError("hook config must be an object");
  if (!validateSchema(raw)) {
    const problems = (validateSchema.errors ?? []).map(e => {
      const extra =
        e.keyword === "additionalProperties"
          ? ` (${String((e.params as { additionalProperty: string }).additionalProperty)})`
          : "";
      return `${e.instancePath || "/"} ${e.message ?? e.keyword}${extra}`;
    });
    throw new HookConfigError(`invalid hook config: ${problems.join("; ")}`);
  }
  const config = raw as unknown as ModuleHookConfig;
  const problems: string[] = [];
  const names = (config.kubernetes ?? []).map(b => b.name || "kubernetes");
  const checkIncludes = (where: string, includes: string[] | undefined) => {
    for (const inc of includes ?? []) {
      const count = names.filter(n => n === inc).length;
      if (count === 0) problems.push(`${where}: includeSnapshotsFrom '${inc}' binding not found`);
      if (count > 1) problems.push(`${where}: there are ${count} '${inc}' binding names`);
    }
  };
  (config.kubernetes ?? []).forEach((b, i) => {
    checkIncludes(`kubernetes[${i}]`, b.includeSnapshotsFrom);
    if (b.apiVersion !== undefined && !/^([a-z0-9.-]+\/)?v[0-9]+[a-z0-9]*$/.test(b.apiVersion)) {
      problems.push(`kubernetes[${i}]: apiVersion '${b.apiVersion}' is invalid`);
    }
    const byName = b.fieldSelector?.matchExpressions.some(e => e.field === "metadata.name");
    if (byName && (b.nameSelector?.matchNames.length ?? 0) > 0) {
      problems.push(
        `kubernetes[${i}]: fieldSelector 'metadata.name' and nameSelector.matchNames are mutually exclusive`,
      );
    }
  });
  (config.schedule ?? []).forEach((s, i) => {
    checkIncludes(`schedule[${i}]`, s.includeSnapshotsFrom);
    const cronProblem = checkCrontab(s.crontab);
    if (cronProblem) problems.push(`schedule[${i}]: crontab is invalid: ${cronProblem}`);
  });
  if (problems.length > 0) throw new HookConfigError(`invalid hook config: ${problems.join("; ")}`);
  return jsonClone(config);
}

function checkCrontab(crontab: string): string | undefined {
  if (/^@every\s+(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(crontab.trim())) return undefined;
  try {
    new Cron(crontab, { paused: true });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * addon-operator's conversion of a module-sdk batch hook config: every kubernetes and schedule
 * binding is put into group "main", keepFullObjectsInMemory defaults to false, schedule
 * allowFailure/includeSnapshotsFrom are not carried over.
 */
export function toBatchSemantics(config: ModuleHookConfig): ModuleHookConfig {
  const out = jsonClone(config);
  if (out.kubernetes) {
    out.kubernetes = out.kubernetes.map(b => ({
      ...b,
      group: "main",
      keepFullObjectsInMemory: b.keepFullObjectsInMemory ?? false,
    }));
  }
  if (out.schedule) {
    out.schedule = out.schedule.map(s => {
      const { allowFailure: _a, includeSnapshotsFrom: _i, ...rest } = s;
      return { ...rest, group: "main" };
    });
  }
  return out;
}

/**
 * Converts one entry of `hook config` output (module-sdk HookConfig: `executeHookOnEvent` is a
 * boolean there, `metadata`/`logLevel` are not part of the v1 config) into a v1 config.
 */
export function fromBatchHookEntry(entry: unknown): ModuleHookConfig {
  if (!isRecord(entry)) throw new HookConfigError("batch hook config entry must be an object");
  const out: Record<string, unknown> = { configVersion: "v1" };
  for (const key of ["onStartup", ...LIFECYCLE_BINDINGS] as const) {
    if (entry[key] !== undefined && entry[key] !== null) out[key] = entry[key];
  }
  if (Array.isArray(entry.kubernetes) && entry.kubernetes.length > 0) {
    out.kubernetes = entry.kubernetes.map((raw: unknown) => {
      if (!isRecord(raw)) throw new HookConfigError("batch kubernetes binding must be an object");
      const b = stripNulls(raw);
      const { executeHookOnEvent, ...rest } = b;
      if (executeHookOnEvent === false) return { ...rest, executeHookOnEvent: [] };
      if (Array.isArray(executeHookOnEvent)) return { ...rest, executeHookOnEvent };
      return rest;
    });
  }
  if (Array.isArray(entry.schedule) && entry.schedule.length > 0) {
    out.schedule = entry.schedule.map((raw: unknown) => {
      if (!isRecord(raw)) throw new HookConfigError("batch schedule binding must be an object");
      const { name, crontab, queue } = raw;
      return stripNulls({ name, crontab, queue });
    });
  }
  return out as unknown as ModuleHookConfig;
}

function stripNulls(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== null && v !== undefined && v !== "") out[k] = v;
  }
  return out;
}

/** `hook config` output: `{version, hooks: [...]}` or the legacy bare array. */
export function batchHookEntries(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (isRecord(doc) && Array.isArray(doc.hooks)) return doc.hooks;
  throw new HookConfigError("batch hook config must be {version, hooks: [...]} or an array");
}

/** Validates and normalises; `batch` applies the batch-hook conversion first. */
export function normalizeHookConfig(raw: unknown, opts: { batch?: boolean } = {}): HookConfig {
  let config = validateHookConfig(raw);
  if (opts.batch) config = validateHookConfig(toBatchSemantics(config));
  const wire = config.kubernetes ?? [];
  const groupMembers = (group: string | undefined) =>
    group === undefined ? [] : wire.filter(b => b.group === group).map(b => b.name || "kubernetes");
  const includes = (own: string[] | undefined, group: string | undefined) => [
    ...new Set([...(own ?? []), ...groupMembers(group)]),
  ];
  const kubernetes: KubernetesBinding[] = wire.map(b =>
    kubernetesBinding(b, includes(b.includeSnapshotsFrom, b.group)),
  );
  const schedule: ScheduleBinding[] = (config.schedule ?? []).map(s => ({
    name: s.name || "schedule",
    crontab: s.crontab,
    allowFailure: s.allowFailure ?? false,
    queue: s.queue ?? "main",
    ...(s.group !== undefined && { group: s.group }),
    includeSnapshotsFrom: includes(s.includeSnapshotsFrom, s.group),
  }));
  const out: HookConfig = { kubernetes, schedule, source: config };
  for (const key of ["onStartup", ...LIFECYCLE_BINDINGS] as const) {
    if (config[key] !== undefined) out[key] = config[key];
  }
  return out;
}

/** A wire binding with the operator's defaults filled in, keys in the order it prints them. */
function kubernetesBinding(
  b: KubernetesBindingConfig,
  includeSnapshotsFrom: string[],
): KubernetesBinding {
  // the pre-v1 spelling, still honoured when executeHookOnEvent is absent
  const legacy = (b as { watchEvent?: WatchEvent[] }).watchEvent;
  return {
    name: b.name || "kubernetes",
    ...objectSelector(b),
    ...(b.jqFilter !== undefined && b.jqFilter !== "" && { jqFilter: b.jqFilter }),
    executeHookOnEvent: b.executeHookOnEvent ?? legacy ?? [...ALL_EVENTS],
    executeHookOnSynchronization: b.executeHookOnSynchronization ?? true,
    keepFullObjectsInMemory: b.keepFullObjectsInMemory ?? true,
    allowFailure: b.allowFailure ?? false,
    queue: b.queue ?? "main",
    ...(b.group !== undefined && { group: b.group }),
    includeSnapshotsFrom,
  };
}

/** The selector part of a binding, absent selectors left out. */
function objectSelector(b: ObjectSelector): ObjectSelector {
  return {
    ...(b.apiVersion !== undefined && { apiVersion: b.apiVersion }),
    kind: b.kind,
    ...(b.nameSelector && { nameSelector: b.nameSelector }),
    ...(b.labelSelector && { labelSelector: b.labelSelector }),
    ...(b.fieldSelector && { fieldSelector: b.fieldSelector }),
    ...(b.namespace && { namespace: b.namespace }),
  };
}
