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
