// Which objects a kubernetes binding selects: kind (and API group when apiVersion is given),
// nameSelector, namespace (names or labels of Namespace objects), labelSelector, fieldSelector.
import type {
  FieldSelectorRequirement,
  KubeObject,
  LabelSelector,
  ObjectSelector,
} from "../runtime/types";
import type { ClusterState } from "./cluster";
import { isRecord } from "../validation/reader";

export type SelectorSpec = ObjectSelector;

export function matchLabels(
  selector: LabelSelector | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector) return true;
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const present = Object.prototype.hasOwnProperty.call(have, req.key);
    const values = req.values ?? [];
    switch (req.operator) {
      case "In":
        if (!present || !values.includes(have[req.key] as string)) return false;
        break;
      case "NotIn":
        if (present && values.includes(have[req.key] as string)) return false;
        break;
      case "Exists":
        if (!present) return false;
        break;
      case "DoesNotExist":
        if (present) return false;
        break;
      default:
        throw new Error(`labelSelector: unknown operator ${JSON.stringify(req.operator)}`);
    }
  }
  return true;
}

/** The string value of a dotted field (`metadata.name`, `spec.nodeName`), "" when missing. */
export function fieldValue(obj: unknown, field: string): string {
  let cur: unknown = obj;
  for (const part of field.split(".")) {
    if (!isRecord(cur)) return "";
    cur = cur[part];
  }
  if (cur === undefined || cur === null) return "";
  return typeof cur === "string" ? cur : JSON.stringify(cur);
}

export function matchFields(
  selector: { matchExpressions: FieldSelectorRequirement[] } | undefined,
  obj: KubeObject,
): boolean {
  for (const req of selector?.matchExpressions ?? []) {
    const value = fieldValue(obj, req.field);
    switch (req.operator) {
      case "=":
      case "==":
      case "Equals":
        if (value !== req.value) return false;
        break;
      case "!=":
      case "NotEquals":
        if (value === req.value) return false;
        break;
      default:
        throw new Error(`fieldSelector: unknown operator ${JSON.stringify(req.operator)}`);
    }
  }
  return true;
}

/** Whether the binding selects `obj` in `cluster` (Namespace objects are looked up there). */
export function selects(spec: SelectorSpec, obj: KubeObject, cluster: ClusterState): boolean {
  if (!cluster.sameKind(obj, spec.kind, spec.apiVersion)) return false;
  const names = spec.nameSelector?.matchNames;
  if (names && names.length > 0 && !names.includes(obj.metadata.name)) return false;
  const namespaced = cluster.isNamespaced(obj.kind, obj.apiVersion) ?? !!obj.metadata.namespace;
  if (namespaced && spec.namespace) {
    const ns = obj.metadata.namespace ?? "";
    const nsNames = spec.namespace.nameSelector?.matchNames;
    if (nsNames && nsNames.length > 0 && !nsNames.includes(ns)) return false;
    if (spec.namespace.labelSelector) {
      const nsObj = cluster.find({ apiVersion: "v1", kind: "Namespace", name: ns });
      if (!nsObj || !matchLabels(spec.namespace.labelSelector, nsObj.metadata.labels)) return false;
    }
  }
  return (
    matchLabels(spec.labelSelector, obj.metadata.labels) && matchFields(spec.fieldSelector, obj)
  );
}
