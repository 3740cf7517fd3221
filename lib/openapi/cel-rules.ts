// `x-deckhouse-validations` — CEL rules of Deckhouse OpenAPI schemas — evaluated with
// @bufbuild/cel. Semantics follow deckhouse-controller's `schema/cel` package:
//   * a rule list sits on any schema; `self` is the value at that level;
//   * nested levels (properties present in the value, array items, map values) are checked first,
//     then the rules of the level itself, in declaration order;
//   * a rule whose evaluation fails because a key is missing ("no such key" in cel-go,
//     "field not found" in @bufbuild/cel) does not apply — e.g. `self.mode == 'Direct'` while
//     `mode` is absent;
//   * a rule evaluating to false yields its `message` verbatim.
// Importing @bufbuild/cel costs ~100 ms: keep this module away from hook start-up paths.

import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { CelInput, CelResult } from "@bufbuild/cel";
import { X_DECKHOUSE_VALIDATIONS, fieldName, type JsonSchema } from "./deckhouse-schema";
import { isPlainObject } from "../validation/reader";

export interface DeckhouseValidationRule {
  expression: string;
  message: string;
}

export interface CelViolation {
  /** Value path of the level the rule is declared on, e.g. `["registry", "proxy"]`. */
  path: string[];
  rule: DeckhouseValidationRule;
  /** The rule's message when it evaluated to false; an explanation when it could not be evaluated. */
  message: string;
  /** True when the rule could not be evaluated (runtime error other than a missing key, non-bool). */
  evaluationError: boolean;
}

type Program = (bindings: { self: CelInput }) => CelResult;

const env = celEnv();
const programs = new Map<string, Program>();

/** Parses and plans a CEL expression once per process; throws on syntax errors. */
export function compileCelRule(expression: string): Program {
  let program = programs.get(expression);
  if (program === undefined) {
    let parsed;
    try {
      parsed = parse(expression);
    } catch (err) {
      throw new Error(
        `invalid CEL expression ${JSON.stringify(expression)}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    program = plan(env, parsed) as Program;
    programs.set(expression, program);
  }
  return program;
}

/** The `x-deckhouse-validations` list of one schema level; throws if it is malformed. */
export function rulesOf(schema: JsonSchema): DeckhouseValidationRule[] {
  const raw = schema[X_DECKHOUSE_VALIDATIONS];
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new Error(`${X_DECKHOUSE_VALIDATIONS} must be a list`);
  return raw.map((entry: unknown, i) => {
    if (
      !isPlainObject(entry) ||
      typeof entry.expression !== "string" ||
      entry.expression === "" ||
      typeof entry.message !== "string" ||
      entry.message === ""
    ) {
      throw new Error(`${X_DECKHOUSE_VALIDATIONS}[${i}] needs a non-empty expression and message`);
    }
    return { expression: entry.expression, message: entry.message };
  });
}

/** Every rule of a schema tree with its schema pointer (to compile them all up front in tests). */
export function collectRules(
  schema: JsonSchema,
  pointer = "",
): { schemaPointer: string; rule: DeckhouseValidationRule }[] {
  const out = rulesOf(schema).map(rule => ({ schemaPointer: pointer, rule }));
  for (const [name, child] of Object.entries(
    isPlainObject(schema.properties) ? schema.properties : {},
  )) {
    if (isPlainObject(child)) out.push(...collectRules(child, `${pointer}/properties/${name}`));
  }
  if (isPlainObject(schema.items)) out.push(...collectRules(schema.items, `${pointer}/items`));
  if (isPlainObject(schema.additionalProperties)) {
    out.push(...collectRules(schema.additionalProperties, `${pointer}/additionalProperties`));
  }
  return out;
}

function isMissingKey(message: string): boolean {
  return /no such key|field not found/i.test(message);
}

/** Evaluates every rule of the schema tree against `value` (see the module comment). */
export function evaluateDeckhouseValidations(
  schema: JsonSchema,
  value: unknown,
  path: string[] = [],
): CelViolation[] {
  const out: CelViolation[] = [];
  const props = isPlainObject(schema.properties) ? schema.properties : {};
  if (isPlainObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const sub = Object.hasOwn(props, key) ? props[key] : schema.additionalProperties;
      if (isPlainObject(sub)) out.push(...evaluateDeckhouseValidations(sub, child, [...path, key]));
    }
  } else if (Array.isArray(value) && isPlainObject(schema.items)) {
    const items = schema.items;
    value.forEach((el, i) =>
      out.push(...evaluateDeckhouseValidations(items, el, [...path, String(i)])),
    );
  }

  for (const rule of rulesOf(schema)) {
    const result = compileCelRule(rule.expression)({ self: value as CelInput });
    if (isCelError(result)) {
      if (isMissingKey(result.message)) continue;
      out.push({
        path,
        rule,
        message: `${fieldName(path)}: cannot evaluate rule ${JSON.stringify(rule.expression)}: ${result.message}`,
        evaluationError: true,
      });
    } else if (typeof result !== "boolean") {
      out.push({
        path,
        rule,
        message: `${fieldName(path)}: rule ${JSON.stringify(rule.expression)} must return a boolean`,
        evaluationError: true,
      });
    } else if (!result) {
      out.push({ path, rule, message: rule.message, evaluationError: false });
    }
  }
  return out;
}
