// Admission as the API server does it for the objects this module renders, with a real CEL
// implementation (@bufbuild/cel): each ValidatingAdmissionPolicyBinding with its policy; the
// policy's param resolved by the binding's paramRef (parameterNotFoundAction when absent);
// matchConstraints (resource rules by API group, plural resource, operation), matchConditions,
// variables in order (each sees the ones before it as `variables.<name>`), then validations with
// message or messageExpression. Used by `simulate` before applying a step and by the tests.
// Not modelled: namespace/object selectors, match policies, audit annotations (the module's
// policies use none of them).
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { CelInput } from "@bufbuild/cel";
import type { KubeObject } from "../runtime/types";

interface ResourceRule {
  apiGroups?: string[];
  resources?: string[];
  operations?: string[];
}

export interface Policy {
  metadata?: { name?: string };
  spec: {
    paramKind?: { apiVersion: string; kind: string };
    matchConstraints?: { resourceRules?: ResourceRule[] };
    matchConditions?: { name: string; expression: string }[];
    variables?: { name: string; expression: string }[];
    validations: { expression: string; message?: string; messageExpression?: string }[];
  };
}

interface Binding {
  spec: {
    policyName: string;
    validationActions?: string[];
    paramRef?: { name?: string; namespace?: string; parameterNotFoundAction?: "Allow" | "Deny" };
  };
}

export interface PolicyRequest {
  object: unknown;
  oldObject: unknown;
  params: unknown;
}

export interface Verdict {
  matched: boolean;
  allowed: boolean;
  messages: string[];
}

export type Operation = "CREATE" | "UPDATE" | "DELETE";

const env = celEnv();

function evaluate(expression: string, bindings: Record<string, unknown>): unknown {
  const program = plan(env, parse(expression));
  const result = program(bindings as Record<string, CelInput>);
  if (isCelError(result)) throw new Error(`CEL ${JSON.stringify(expression)}: ${String(result)}`);
  return result;
}

/** One policy on one request whose param is already resolved (null when the policy has none). */
export function evaluatePolicy(policy: Policy, request: PolicyRequest): Verdict {
  const base = { object: request.object, oldObject: request.oldObject, params: request.params };
  for (const c of policy.spec.matchConditions ?? []) {
    if (evaluate(c.expression, base) !== true)
      return { matched: false, allowed: true, messages: [] };
  }
  const variables: Record<string, unknown> = {};
  for (const v of policy.spec.variables ?? []) {
    variables[v.name] = evaluate(v.expression, { ...base, variables });
  }
  const bindings = { ...base, variables };
  const messages: string[] = [];
  for (const rule of policy.spec.validations) {
    const ok = evaluate(rule.expression, bindings);
    if (typeof ok !== "boolean") throw new Error(`validation ${rule.expression}: not a boolean`);
    if (ok) continue;
    messages.push(
      rule.messageExpression
        ? String(evaluate(rule.messageExpression, bindings))
        : (rule.message ?? rule.expression),
    );
  }
  return { matched: true, allowed: messages.length === 0, messages };
}

const groupOf = (apiVersion: string) => (apiVersion.includes("/") ? apiVersion.split("/")[0] : "");
const pluralOf = (kind: string) => `${kind.toLowerCase()}s`;

function matches(policy: Policy, object: KubeObject, operation: Operation): boolean {
  const rules = policy.spec.matchConstraints?.resourceRules ?? [];
  const has = (list: string[] | undefined, value: string) =>
    (list ?? []).some(x => x === "*" || x === value);
  return rules.some(
    r =>
      has(r.apiGroups, groupOf(object.apiVersion) ?? "") &&
      has(r.resources, pluralOf(object.kind)) &&
      has(r.operations, operation),
  );
}

/**
 * Every bound policy among `policies` (rendered objects: policies and bindings) on a write of
 * `object`; `oldObject` is the stored one (undefined on CREATE). `lookup` finds a param object
 * by kind and name. Returns the messages of every denying policy; [] when admitted.
 */
export function admit(
  policies: readonly KubeObject[],
  object: KubeObject,
  oldObject: KubeObject | undefined,
  lookup: (kind: string, name: string) => KubeObject | undefined,
): string[] {
  const operation: Operation = oldObject ? "UPDATE" : "CREATE";
  const byName = new Map(
    policies
      .filter(o => o.kind === "ValidatingAdmissionPolicy")
      .map(o => [o.metadata.name, o as unknown as Policy]),
  );
  const messages: string[] = [];
  for (const b of policies.filter(o => o.kind === "ValidatingAdmissionPolicyBinding")) {
    const binding = b as unknown as Binding;
    const policy = byName.get(binding.spec.policyName);
    if (!policy || !matches(policy, object, operation)) continue;
    if (!(binding.spec.validationActions ?? []).includes("Deny")) continue;
    let params: unknown = null;
    if (policy.spec.paramKind) {
      const found = binding.spec.paramRef?.name
        ? lookup(policy.spec.paramKind.kind, binding.spec.paramRef.name)
        : undefined;
      if (!found) {
        if (binding.spec.paramRef?.parameterNotFoundAction === "Allow") continue;
        messages.push(`policy ${binding.spec.policyName}: no params found for binding`);
        continue;
      }
      params = found;
    }
    const verdict = evaluatePolicy(policy, { object, oldObject: oldObject ?? null, params });
    messages.push(...verdict.messages);
  }
  return messages;
}
