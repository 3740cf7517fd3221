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

type LabelTest = (present: boolean, value: string | undefined, values: string[]) => boolean;

/** A matchExpressions operator: whether a label (present or not, with its value) passes. */
const LABEL_OPERATORS: Readonly<Record<string, LabelTest>> = {
  In: (present, value, values) => present && values.includes(value as string),
  NotIn: (present, value, values) => !(present && values.includes(value as string)),
  Exists: present => present,
  DoesNotExist: present => !present,
};

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
    // own keys only: an operator named like an Object.prototype member is still unknown
    const test = Object.hasOwn(LABEL_OPERATORS, req.operator)
      ? LABEL_OPERATORS[req.operator]
      : undefined;
    if (!test) throw new Error(`labelSelector: unknown operator ${JSON.stringify(req.operator)}`);
    const present = Object.prototype.hasOwnProperty.call(have, req.key);
    if (!test(present, have[req.key], req.values ?? [])) return false;
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
  if (!matchNames(spec.nameSelector?.matchNames, obj.metadata.name)) return false;
  const namespaced = cluster.isNamespaced(obj.kind, obj.apiVersion) ?? !!obj.metadata.namespace;
  if (namespaced && spec.namespace && !namespaceSelected(spec.namespace, obj, cluster))
    return false;
  return (
    matchLabels(spec.labelSelector, obj.metadata.labels) && matchFields(spec.fieldSelector, obj)
  );
}

/** An empty or absent name list selects every name. */
function matchNames(names: string[] | undefined, name: string): boolean {
  return !names || names.length === 0 || names.includes(name);
}

function namespaceSelected(
  selector: NonNullable<SelectorSpec["namespace"]>,
  obj: KubeObject,
  cluster: ClusterState,
): boolean {
  const ns = obj.metadata.namespace ?? "";
  if (!matchNames(selector.nameSelector?.matchNames, ns)) return false;
  if (!selector.labelSelector) return true;
  const nsObj = cluster.find({ apiVersion: "v1", kind: "Namespace", name: ns });
  return !!nsObj && matchLabels(selector.labelSelector, nsObj.metadata.labels);
}
