// Evaluates a ValidatingAdmissionPolicy the way the API server does for one request, with a real
// CEL implementation (@bufbuild/cel): matchConditions, then variables in order (each sees the
// ones before it as `variables.<name>`), then validations with message or messageExpression.
import { celEnv, isCelError, parse, plan } from "@bufbuild/cel";
import type { CelInput } from "@bufbuild/cel";

interface Policy {
  spec: {
    matchConditions?: { name: string; expression: string }[];
    variables?: { name: string; expression: string }[];
    validations: { expression: string; message?: string; messageExpression?: string }[];
  };
}

export interface AdmissionRequest {
  object: unknown;
  oldObject: unknown;
  params: unknown;
}

export interface Verdict {
  matched: boolean;
  allowed: boolean;
  messages: string[];
}

const env = celEnv();

function evaluate(expression: string, bindings: Record<string, unknown>): unknown {
  const program = plan(env, parse(expression));
  const result = program(bindings as Record<string, CelInput>);
  if (isCelError(result)) throw new Error(`CEL ${JSON.stringify(expression)}: ${String(result)}`);
  return result;
}

export function admit(policy: Policy, request: AdmissionRequest): Verdict {
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

interface PolicyObject extends Policy {
  kind: "ValidatingAdmissionPolicy";
  metadata: { name: string };
  spec: Policy["spec"] & { paramKind?: { apiVersion: string; kind: string } };
}

interface BindingObject {
  kind: "ValidatingAdmissionPolicyBinding";
  metadata: { name: string };
  spec: {
    policyName: string;
    validationActions: string[];
    paramRef?: { name?: string; parameterNotFoundAction?: "Allow" | "Deny" };
  };
}

interface ParamObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string };
}

/**
 * What the API server decides for one request with every policy and binding among `objects`:
 * each binding evaluates its policy. A binding whose paramRef names an object that does not exist
 * follows its parameterNotFoundAction — Allow: the binding passes WITHOUT evaluating the policy;
 * Deny: the request is refused. Messages are those of Deny bindings.
 */
export function admitWithBindings(
  objects: readonly { kind: string }[],
  request: { object: unknown; oldObject: unknown; paramObjects?: readonly ParamObject[] },
): Verdict {
  const policies = new Map(
    objects
      .filter((o): o is PolicyObject => o.kind === "ValidatingAdmissionPolicy")
      .map(p => [p.metadata.name, p]),
  );
  const bindings = objects.filter(
    (o): o is BindingObject => o.kind === "ValidatingAdmissionPolicyBinding",
  );
  let matched = false;
  const messages: string[] = [];
  for (const binding of bindings) {
    const policy = policies.get(binding.spec.policyName);
    if (!policy) continue;
    let params: unknown = null;
    if (policy.spec.paramKind && binding.spec.paramRef) {
      const { kind } = policy.spec.paramKind;
      const ref = binding.spec.paramRef;
      const found = (request.paramObjects ?? []).find(
        p => p.kind === kind && p.metadata.name === ref.name,
      );
      if (!found) {
        if (ref.parameterNotFoundAction === "Deny") {
          matched = true;
          messages.push(`no params found for policy binding with Deny parameterNotFoundAction`);
        }
        continue;
      }
      params = found;
    }
    const verdict = admit(policy, { object: request.object, oldObject: request.oldObject, params });
    matched ||= verdict.matched;
    if (binding.spec.validationActions.includes("Deny")) messages.push(...verdict.messages);
  }
  return { matched, allowed: messages.length === 0, messages };
}
