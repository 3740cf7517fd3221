// Selectors of kubernetes bindings against the fake cluster, and the cluster state itself.
import { describe, expect, it } from "vitest";
import { ClusterState, parseObjects } from "../../lib/harness/cluster";
import { matchLabels, selects } from "../../lib/harness/selectors";
import type { FieldSelectorRequirement, KubeObject } from "../../lib/runtime/types";

const CLUSTER = `
apiVersion: v1
kind: Namespace
metadata: {name: d8-system, labels: {heritage: deckhouse}}
---
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Secret
  metadata: {name: s1, namespace: d8-system, labels: {app: registry, tier: a}}
  type: Opaque
- apiVersion: v1
  kind: Secret
  metadata: {name: s2, namespace: default, labels: {app: other}}
  type: kubernetes.io/dockerconfigjson
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d1, namespace: d8-system}
---
apiVersion: v1
kind: Node
metadata: {name: n1, namespace: ignored-for-cluster-scoped, labels: {role: master}}
---
apiVersion: deckhouse.io/v1alpha1
kind: ModuleConfig
metadata: {name: registry}
spec: {enabled: true}
`;

function cluster(): ClusterState {
  const c = new ClusterState();
  c.set(CLUSTER);
  return c;
}

const pick = (c: ClusterState, spec: Parameters<typeof selects>[0]) =>
  c
    .all()
    .filter(o => selects(spec, o, c))
    .map(o => `${o.metadata.namespace ?? ""}/${o.metadata.name}`);

describe("cluster state", () => {
  it("parses multi-document YAML and kind: List, keys objects, knows scopes", () => {
    const c = cluster();
    expect(c.all()).toHaveLength(7);
    expect(c.get("secrets", "d8-system", "s1")?.type).toBe("Opaque");
    expect(c.get("Secret", "default", "s1")).toBeUndefined();
    expect(c.get("deploy", "d8-system", "d1")?.kind).toBe("Deployment");
    expect(c.get("nodes", undefined, "n1")?.metadata.namespace).toBeUndefined();
    expect(c.get("mc", undefined, "registry")?.spec).toEqual({ enabled: true });
    expect(c.get("moduleconfigs", undefined, "registry", "deckhouse.io/v1alpha1")?.apiVersion).toBe(
      "deckhouse.io/v1alpha1",
    );
    expect(c.list({ kind: "secret" }).map(o => o.metadata.name)).toEqual(["s1", "s2"]);
    expect(c.list({ namespace: "default" }).map(o => o.metadata.name)).toEqual(["s2"]);
  });

  it("refuses objects without apiVersion, kind or name", () => {
    expect(() => parseObjects("kind: Secret\nmetadata: {name: x}")).toThrow(/apiVersion/);
    expect(() => parseObjects("apiVersion: v1\nmetadata: {name: x}")).toThrow(/kind/);
    expect(() => parseObjects("apiVersion: v1\nkind: Secret\nmetadata: {}")).toThrow(
      /metadata.name/,
    );
  });

  it("create fails on existing objects; deleting a namespace deletes its objects", () => {
    const c = cluster();
    const s1 = c.get("Secret", "d8-system", "s1") as KubeObject;
    expect(() => c.create(s1)).toThrow(/already exists/);
    c.delete({ kind: "Namespace", name: "d8-system" });
    expect(c.list({ namespace: "d8-system" })).toEqual([]);
    expect(c.all().map(o => `${o.kind}/${o.metadata.name}`)).toEqual([
      "Namespace/default",
      "Secret/s2",
      "Node/n1",
      "ModuleConfig/registry",
    ]);
  });
});

describe("selectors", () => {
  it("kind by name, plural or short name, case-insensitively; apiVersion group", () => {
    const c = cluster();
    expect(pick(c, { kind: "secrets" })).toEqual(["d8-system/s1", "default/s2"]);
    expect(pick(c, { kind: "DS" })).toEqual([]);
    expect(pick(c, { kind: "deploy", apiVersion: "apps/v1" })).toEqual(["d8-system/d1"]);
    expect(pick(c, { kind: "Deployment", apiVersion: "v1" })).toEqual([]);
    expect(pick(c, { kind: "mc" })).toEqual(["/registry"]);
    expect(pick(c, { kind: "node" })).toEqual(["/n1"]);
  });

  it("nameSelector and namespace selectors", () => {
    const c = cluster();
    expect(pick(c, { kind: "Secret", nameSelector: { matchNames: ["s2", "zz"] } })).toEqual([
      "default/s2",
    ]);
    expect(
      pick(c, { kind: "Secret", namespace: { nameSelector: { matchNames: ["d8-system"] } } }),
    ).toEqual(["d8-system/s1"]);
    expect(
      pick(c, {
        kind: "Secret",
        namespace: { labelSelector: { matchLabels: { heritage: "deckhouse" } } },
      }),
    ).toEqual(["d8-system/s1"]);
  });

  it("labelSelector: matchLabels and matchExpressions", () => {
    const c = cluster();
    const sel = (labelSelector: Parameters<typeof matchLabels>[0]) =>
      pick(c, { kind: "Secret", labelSelector });
    expect(sel({ matchLabels: { app: "registry" } })).toEqual(["d8-system/s1"]);
    expect(
      sel({ matchExpressions: [{ key: "app", operator: "In", values: ["other", "x"] }] }),
    ).toEqual(["default/s2"]);
    expect(
      sel({ matchExpressions: [{ key: "app", operator: "NotIn", values: ["other"] }] }),
    ).toEqual(["d8-system/s1"]);
    expect(sel({ matchExpressions: [{ key: "tier", operator: "Exists" }] })).toEqual([
      "d8-system/s1",
    ]);
    expect(sel({ matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] })).toEqual([
      "default/s2",
    ]);
    expect(
      sel({
        matchLabels: { app: "registry" },
        matchExpressions: [{ key: "tier", operator: "NotIn", values: ["a"] }],
      }),
    ).toEqual([]);
    expect(
      matchLabels({ matchExpressions: [{ key: "x", operator: "NotIn", values: ["1"] }] }, {}),
    ).toBe(true);
  });

  it("fieldSelector: metadata fields and dotted fields, all operators, ANDed", () => {
    const c = cluster();
    const sel = (...matchExpressions: FieldSelectorRequirement[]) =>
      pick(c, { kind: "Secret", fieldSelector: { matchExpressions } });
    expect(sel({ field: "metadata.name", operator: "=", value: "s1" })).toEqual(["d8-system/s1"]);
    expect(sel({ field: "metadata.name", operator: "==", value: "s1" })).toEqual(["d8-system/s1"]);
    expect(sel({ field: "metadata.namespace", operator: "Equals", value: "default" })).toEqual([
      "default/s2",
    ]);
    expect(sel({ field: "type", operator: "!=", value: "Opaque" })).toEqual(["default/s2"]);
    expect(sel({ field: "type", operator: "NotEquals", value: "Opaque" })).toEqual(["default/s2"]);
    expect(
      sel(
        { field: "metadata.namespace", operator: "=", value: "d8-system" },
        { field: "type", operator: "=", value: "kubernetes.io/dockerconfigjson" },
      ),
    ).toEqual([]);
  });
});
