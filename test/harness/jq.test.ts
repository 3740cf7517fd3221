// jqFilter through jq-web (wasm jq): compound filters that other wasm builds were seen to fail
// on, and the operator's output rules (one → value, several → array, none → null).
import { beforeAll, describe, expect, it } from "vitest";
import type { JqEngine } from "../../lib/harness/jq";
import { loadJq } from "../../lib/harness/jq";

let jq: JqEngine;
beforeAll(async () => {
  jq = await loadJq();
});

const node = {
  apiVersion: "v1",
  kind: "Node",
  metadata: { name: "worker-a", labels: { "node-role.kubernetes.io/worker": "", zone: "a" } },
  spec: { unschedulable: true },
};

const value = (filter: string, input: unknown = node) => {
  const out = jq.apply(filter, input);
  if (!out.ok) throw new Error(out.error);
  return out.value;
};

describe("jq-web", () => {
  it("object construction with alternative operator", () => {
    expect(value("{name: .metadata.name, unschedulable: (.spec.unschedulable // false)}")).toEqual({
      name: "worker-a",
      unschedulable: true,
    });
    expect(value("{u: (.spec.missing // false)}")).toEqual({ u: false });
  });

  it("select, // empty and no output → null", () => {
    expect(value('select(.metadata.name == "worker-a") | .kind')).toBe("Node");
    expect(value('select(.metadata.name == "nope")')).toBeNull();
    expect(value(".spec.missing // empty")).toBeNull();
    expect(jq.apply(".spec.missing // empty", node)).toMatchObject({ ok: true, text: "" });
  });

  it("to_entries, map and string interpolation", () => {
    expect(value('.metadata.labels | to_entries | map("\\(.key)=\\(.value)")')).toEqual([
      "node-role.kubernetes.io/worker=",
      "zone=a",
    ]);
    expect(value('"\\(.kind)/\\(.metadata.name)"')).toBe("Node/worker-a");
    expect(value('.metadata.labels | with_entries(select(.key | startswith("zone")))')).toEqual({
      zone: "a",
    });
  });

  it("several outputs become an array", () => {
    expect(value(".metadata.labels[]")).toEqual(["", "a"]);
    expect(value(".metadata.name, .kind")).toEqual(["worker-a", "Node"]);
  });

  it("keys are sorted in the output text (gojq prints sorted keys)", () => {
    expect(jq.apply("{b: 1, a: 2}", null)).toEqual({
      ok: true,
      value: { a: 2, b: 1 },
      text: '{"a":2,"b":1}',
    });
  });

  it("runtime and compile errors are reported, not thrown", () => {
    expect(jq.apply('error("boom")', node)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/boom/),
    });
    expect(jq.apply('1, error("late")', node)).toMatchObject({ ok: false });
    expect(jq.apply("invalid syntax ((", node)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/syntax error/),
    });
    // The engine still works after errors.
    expect(value(".kind")).toBe("Node");
  });

  it("memoises per (filter, input) and reports the cost of a miss", () => {
    const before = jq.calls;
    const filter = `.metadata.name + "-${Math.random()}"`;
    value(filter);
    value(filter);
    expect(jq.calls - before).toBe(1);
    const n = 200;
    const start = performance.now();
    for (let i = 0; i < n; i++) value(`.metadata.name + "${i}-${Math.random()}"`);
    const perCall = (performance.now() - start) / n;
    console.log(`jq-web: ${perCall.toFixed(2)} ms per uncached call`);
    expect(perCall).toBeLessThan(50);
  });
});
