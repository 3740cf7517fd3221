// The sandbox scenario a user writes (format: ./README.md), parsed and checked completely before
// anything starts: a run takes many minutes and leaves a cluster mid-switch when it stops on a
// typo, so every problem is found up front and named by file, 1-based line, field and rule.
//
// Settings in a step are `spec.settings.registry` of ModuleConfig/deckhouse, minus the fields that
// point at a registry: the sandbox has only its own upstreams (`ee`, `ce`), so a step names one
// symbolically and the engine fills in address, scheme, CA and user (fillUpstream). To judge the
// settings exactly as the API server will, they are validated against the module's settings
// schema (Ajv + its CEL rules, lib/openapi/registry-settings.ts) with placeholder values in those
// fields.
import { readFileSync } from "node:fs";
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from "yaml";
import type { Document, Node, Pair, YAMLMap } from "yaml";
import { loadRegistrySettingsValidator } from "../../lib/openapi/registry-settings";
import { isRecord } from "../../lib/validation/reader";
import type { FaultName, RegistrySettings, Scenario, ScenarioStep, UpstreamName } from "./types";

export const STEP_KINDS = ["switch", "refused", "fault"] as const;
export const FAULT_NAMES: readonly FaultName[] = [
  "master-down",
  "upstream-down",
  "containerd-restart",
  "operator-restart",
];
export const UPSTREAM_NAMES: readonly UpstreamName[] = ["ee", "ce"];

/** Fields of a registry section that the engine fills from the step's upstream. */
export const UPSTREAM_FIELDS = [
  "imagesRepo",
  "scheme",
  "ca",
  "username",
  "password",
  "license",
] as const;
export type UpstreamValues = Partial<Record<(typeof UPSTREAM_FIELDS)[number], string>>;

const PLACEHOLDER_CA = "-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n";

/**
 * Stand-ins with the shape of what the engine fills in (both TLS with the sandbox's CA; ee with
 * Basic auth, ce anonymous), used only to validate a step's settings before the upstreams exist.
 * Never sent anywhere.
 */
export const UPSTREAM_PLACEHOLDERS: Readonly<Record<UpstreamName, UpstreamValues>> = {
  ee: {
    imagesRepo: "upstream-ee.sandbox.invalid:5000/deckhouse/ee",
    scheme: "HTTPS",
    ca: PLACEHOLDER_CA,
    username: "placeholder",
    password: "placeholder",
  },
  ce: {
    imagesRepo: "upstream-ce.sandbox.invalid:5000/deckhouse/ce",
    scheme: "HTTPS",
    ca: PLACEHOLDER_CA,
  },
};

const TOP_KEYS = ["description", "steps"] as const;
const STEP_KEYS: Record<(typeof STEP_KINDS)[number], readonly string[]> = {
  switch: ["kind", "name", "upstream", "settings"],
  refused: ["kind", "name", "upstream", "settings"],
  fault: ["kind", "name", "fault", "upstream", "settings"],
};
/** Modes whose settings carry a registry section (`direct`, `proxy`, `unmanaged`). */
const SECTION_OF_MODE: Readonly<Record<string, string>> = {
  Direct: "direct",
  Proxy: "proxy",
  Unmanaged: "unmanaged",
};

export interface ScenarioIssue {
  line: number;
  /** where in the file, e.g. `steps[2].settings.proxy.ttl` */
  field: string;
  rule: string;
}

/** Every problem of a scenario file, one per line: `FILE:LINE: FIELD: RULE`. */
export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly issues: readonly ScenarioIssue[],
  ) {
    super(issues.map(i => `${file}:${i.line}: ${i.field}: ${i.rule}`).join("\n"));
    this.name = "ScenarioError";
  }
}

/**
 * `legacy Unmanaged`, `Direct (EE)`, `Local`: how step names and the report name a mode. The
 * upstream is part of it where the cluster reads that upstream (not in Local, which it only fills).
 */
export function settingsLabel(settings: RegistrySettings, upstream?: UpstreamName): string {
  const mode = settings === "legacy" ? undefined : settings.mode;
  if (typeof mode !== "string") return "legacy Unmanaged";
  return upstream && mode !== "Local" ? `${mode} (${upstream.toUpperCase()})` : mode;
}

/**
 * The settings the engine patches into ModuleConfig/deckhouse: the step's settings with the
 * upstream's fields put into the mode's registry section (created when the file leaves it out).
 * Local has no section (its registries are filled by mirror push), so it is returned unchanged.
 */
export function fillUpstream(
  settings: RegistrySettings,
  upstream: UpstreamValues,
): RegistrySettings {
  if (settings === "legacy") return settings;
  const section = SECTION_OF_MODE[String(settings.mode)];
  if (section === undefined) return structuredClone(settings);
  const current = settings[section];
  const existing = isRecord(current) ? current : {};
  return { ...structuredClone(settings), [section]: { ...structuredClone(existing), ...upstream } };
}

export function loadScenario(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ScenarioError(path, [
      { line: 1, field: "file", rule: `cannot read: ${(err as Error).message}` },
    ]);
  }
  return parseScenario(text, path);
}

export function parseScenario(text: string, file: string): Scenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const ctx = new Context(doc, lines);
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      ctx.issue(lines.linePos(err.pos[0]).line, "YAML", err.message.split("\n")[0] ?? err.message);
    }
    throw new ScenarioError(file, ctx.issues);
  }
  const steps = parseTop(ctx);
  if (ctx.issues.length > 0) throw new ScenarioError(file, ctx.sortedIssues());
  return { file, steps };
}

/** Collects issues and turns node positions into 1-based lines. */
class Context {
  readonly issues: ScenarioIssue[] = [];
  constructor(
    readonly doc: Document,
    private readonly lines: LineCounter,
  ) {}

  lineOf(node: Node | null | undefined, fallback = 1): number {
    const offset = node?.range?.[0];
    return offset === undefined ? fallback : this.lines.linePos(offset).line;
  }

  issue(line: number, field: string, rule: string): void {
    this.issues.push({ line, field, rule });
  }

  /** In file order (a step's checks do not run top to bottom); stable within a line. */
  sortedIssues(): ScenarioIssue[] {
    return [...this.issues].sort((a, b) => a.line - b.line);
  }
}

function parseTop(ctx: Context): ScenarioStep[] {
  const root = ctx.doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    ctx.issue(1, "steps", "the scenario has no steps");
    return [];
  }
  if (!isMap(root)) {
    ctx.issue(ctx.lineOf(root), "(top level)", "must be a mapping with `steps`");
    return [];
  }
  checkKeys(ctx, root, "(top level)", TOP_KEYS, "the top level has description and steps");
  const description = root.get("description", true);
  if (
    description !== undefined &&
    !(isScalar(description) && typeof description.value === "string")
  ) {
    ctx.issue(ctx.lineOf(description), "description", "must be a string");
  }
  const steps = root.get("steps", true);
  if (steps === undefined || (isSeq(steps) && steps.items.length === 0)) {
    ctx.issue(ctx.lineOf(steps ?? root), "steps", "the scenario has no steps");
    return [];
  }
  if (!isSeq(steps)) {
    ctx.issue(ctx.lineOf(steps), "steps", "must be a list of steps");
    return [];
  }
  return parseSteps(ctx, steps.items as Node[]);
}

function parseSteps(ctx: Context, items: Node[]): ScenarioStep[] {
  const out: ScenarioStep[] = [];
  const lineOfName = new Map<string, number>();
  // The mode the cluster is in before each step (for default names): it starts without settings.
  let current: { settings: RegistrySettings; upstream?: UpstreamName } = { settings: "legacy" };
  items.forEach((item, index) => {
    const step = parseStep(ctx, item, `steps[${index}]`, current);
    if (step === undefined) return;
    const seen = lineOfName.get(step.name);
    if (seen !== undefined) {
      ctx.issue(
        step.line,
        `steps[${index}].name`,
        `"${step.name}" is already the name of the step on line ${seen}; names must be unique (they key the pull records), give this step its own name:`,
      );
    }
    lineOfName.set(step.name, step.line);
    if (step.kind !== "refused" && step.settings !== undefined) {
      current = { settings: step.settings, upstream: step.upstream };
    }
    out.push(step);
  });
  return out;
}

function parseStep(
  ctx: Context,
  node: Node,
  field: string,
  current: { settings: RegistrySettings; upstream?: UpstreamName },
): ScenarioStep | undefined {
  const line = ctx.lineOf(node);
  if (!isMap(node)) {
    ctx.issue(line, field, `a step must be a mapping with kind: ${STEP_KINDS.join(", ")}`);
    return undefined;
  }
  const kindNode = node.get("kind", true);
  if (kindNode === undefined) {
    ctx.issue(line, `${field}.kind`, `required: one of ${STEP_KINDS.join(", ")}`);
    return undefined;
  }
  const kind = scalarString(kindNode);
  if (kind === undefined || !isStepKind(kind)) {
    ctx.issue(
      ctx.lineOf(kindNode),
      `${field}.kind`,
      `unknown step kind ${describe(kindNode)} (expected ${STEP_KINDS.join(", ")})`,
    );
    return undefined;
  }
  const before = ctx.issues.length;
  checkKeys(ctx, node, field, STEP_KEYS[kind], `a ${kind} step has ${STEP_KEYS[kind].join(", ")}`);
  const upstream = parseUpstream(ctx, node, field);
  const settingsNode = node.get("settings", true);
  if (settingsNode === undefined && kind !== "fault") {
    ctx.issue(line, `${field}.settings`, `required: a ${kind} step switches to settings`);
  }
  const settings =
    settingsNode === undefined
      ? undefined
      : parseSettings(
          ctx,
          keyNode(node, "settings"),
          settingsNode,
          `${field}.settings`,
          upstream,
          node.has("upstream"),
        );
  if (settingsNode === undefined && upstream !== undefined) {
    ctx.issue(
      ctx.lineOf(node.get("upstream", true)),
      `${field}.upstream`,
      "names the registry of the step's settings; this step has no settings",
    );
  }
  const fault = kind === "fault" ? parseFault(ctx, node, field) : undefined;
  if (ctx.issues.length > before) return undefined;

  const name = parseName(ctx, node, field) ?? defaultName(kind, current, settings, upstream, fault);
  const common = { line, name, ...(upstream ? { upstream } : {}) };
  if (kind === "fault") {
    return { kind, ...common, fault: fault!, ...(settings !== undefined ? { settings } : {}) };
  }
  return { kind, ...common, settings: settings! };
}

function defaultName(
  kind: "switch" | "refused" | "fault",
  current: { settings: RegistrySettings; upstream?: UpstreamName },
  settings: RegistrySettings | undefined,
  upstream: UpstreamName | undefined,
  fault: FaultName | undefined,
): string {
  const from = settingsLabel(current.settings, current.upstream);
  if (settings === undefined) return `${fault} in ${from}`;
  const move = `${from} → ${settingsLabel(settings, upstream)}`;
  if (kind === "fault") return `${fault} during ${move}`;
  return kind === "refused" ? `${move} (refused)` : move;
}

function parseName(ctx: Context, step: YAMLMap, field: string): string | undefined {
  const node = step.get("name", true);
  if (node === undefined) return undefined;
  const name = scalarString(node);
  if (name === undefined || name.trim() === "") {
    ctx.issue(ctx.lineOf(node), `${field}.name`, "must be a non-empty string");
    return undefined;
  }
  return name;
}

function parseUpstream(ctx: Context, step: YAMLMap, field: string): UpstreamName | undefined {
  const node = step.get("upstream", true);
  if (node === undefined) return undefined;
  const value = scalarString(node);
  if (value === undefined || !(UPSTREAM_NAMES as readonly string[]).includes(value)) {
    ctx.issue(
      ctx.lineOf(node),
      `${field}.upstream`,
      `unknown upstream ${describe(node)} (expected ${UPSTREAM_NAMES.join(" or ")})`,
    );
    return undefined;
  }
  return value as UpstreamName;
}

function parseFault(ctx: Context, step: YAMLMap, field: string): FaultName | undefined {
  const node = step.get("fault", true);
  if (node === undefined) {
    ctx.issue(ctx.lineOf(step), `${field}.fault`, `required: one of ${FAULT_NAMES.join(", ")}`);
    return undefined;
  }
  const value = scalarString(node);
  if (value === undefined || !(FAULT_NAMES as readonly string[]).includes(value)) {
    ctx.issue(
      ctx.lineOf(node),
      `${field}.fault`,
      `unknown fault ${describe(node)} (expected ${FAULT_NAMES.join(", ")})`,
    );
    return undefined;
  }
  return value as FaultName;
}

/**
 * `legacy` (no registry settings at all) or a mapping, checked in this order: the registry fields
 * come from the upstream (so a file cannot point the sandbox anywhere else), a mode with a
 * registry section needs an upstream, then the module's schema and CEL rules.
 */
function parseSettings(
  ctx: Context,
  /** the `settings:` key: where a reader looks for a problem of the settings as a whole */
  at: Node,
  node: Node,
  field: string,
  upstream: UpstreamName | undefined,
  /** the step has an `upstream` key (an unknown one is reported on its own, not again here) */
  upstreamKey: boolean,
): RegistrySettings | undefined {
  if (isScalar(node) && node.value === "legacy") return "legacy";
  if (!isMap(node)) {
    ctx.issue(
      ctx.lineOf(at),
      field,
      "must be `legacy` or a mapping (spec.settings.registry of ModuleConfig/deckhouse)",
    );
    return undefined;
  }
  const settings = node.toJSON() as Record<string, unknown>;
  const before = ctx.issues.length;
  for (const section of Object.values(SECTION_OF_MODE)) {
    const sectionNode = node.get(section, true);
    if (!isMap(sectionNode)) continue;
    for (const key of UPSTREAM_FIELDS) {
      const pair = sectionNode.items.find(p => scalarString(p.key as Node) === key);
      if (pair === undefined) continue;
      ctx.issue(
        ctx.lineOf(pair.key as Node),
        `${field}.${section}.${key}`,
        "filled in by the sandbox from the step's upstream (ee or ce); remove it",
      );
    }
  }
  const mode = settings.mode;
  const needsUpstream =
    mode === "Direct" || mode === "Proxy" || (mode === "Unmanaged" && "unmanaged" in settings);
  if (needsUpstream && !upstreamKey) {
    ctx.issue(
      ctx.lineOf(at),
      field,
      `mode ${String(mode)} reads a registry: the step needs upstream: ee or ce`,
    );
  }
  if (upstream !== undefined && typeof mode !== "string") {
    ctx.issue(
      ctx.lineOf(at),
      field,
      "settings without mode mean legacy Unmanaged, which reads no upstream: remove upstream or set mode",
    );
  }
  if (ctx.issues.length > before) return undefined;

  if (needsUpstream && upstream === undefined) return undefined; // the upstream is unknown
  const filled = upstream ? fillUpstream(settings, UPSTREAM_PLACEHOLDERS[upstream]) : settings;
  for (const message of loadRegistrySettingsValidator().validate(filled)) {
    const path = schemaPath(message);
    ctx.issue(ctx.lineOf(fieldKey(at, node, path)), [field, ...path].join("."), message);
  }
  return ctx.issues.length > before ? undefined : settings;
}

/** `registry.proxy.ttl: ...` -> ["proxy", "ttl"]: the field a schema message is about. */
function schemaPath(message: string): string[] {
  const match = /^registry((?:\.[A-Za-z0-9_-]+)*)(?:\[\d+\])?:/.exec(message);
  return match?.[1] ? match[1].slice(1).split(".") : [];
}

/**
 * The key of the field at `path` under `node` (where a reader looks for `proxy:`), or of the
 * deepest one that exists: a field filled from the upstream, or missing, is reported at its parent.
 */
function fieldKey(rootKey: Node, node: Node, path: string[]): Node {
  let at = node;
  let key = rootKey;
  for (const name of path) {
    if (!isMap(at)) break;
    const pair = at.items.find((p: Pair) => scalarString(p.key as Node) === name);
    if (pair === undefined) break;
    key = pair.key as Node;
    at = pair.value as Node;
  }
  return key;
}

/** The key node of `name` in `map` (it exists: the caller got its value). */
function keyNode(map: YAMLMap, name: string): Node {
  const pair = map.items.find(p => scalarString(p.key as Node) === name);
  return (pair?.key as Node | undefined) ?? map;
}

function checkKeys(
  ctx: Context,
  map: YAMLMap,
  field: string,
  allowed: readonly string[],
  hint: string,
): void {
  for (const pair of map.items) {
    const key = scalarString(pair.key as Node);
    if (key !== undefined && allowed.includes(key)) continue;
    ctx.issue(
      ctx.lineOf(pair.key as Node),
      field,
      `unknown key ${describe(pair.key as Node)} (${hint})`,
    );
  }
}

function isStepKind(kind: string): kind is (typeof STEP_KINDS)[number] {
  return (STEP_KINDS as readonly string[]).includes(kind);
}

function scalarString(node: Node | null | undefined): string | undefined {
  return isScalar(node) && typeof node.value === "string" ? node.value : undefined;
}

/** A node as the user wrote it, for messages: `"pro"`, `42`, `a mapping`. */
function describe(node: Node | null | undefined): string {
  if (isScalar(node)) return JSON.stringify(node.value);
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  return "nothing";
}
