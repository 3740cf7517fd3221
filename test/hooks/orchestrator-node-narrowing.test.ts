// Narrowing of the orchestrator's Node snapshot: thousands of items per run, so the guards join
// object and field names only for a message (docs/adr/0118); the messages name both. The jqFilter
// projects a Node as [name, InternalIP, control-plane?, version, containerd label] (docs/adr/0166).
import { describe, expect, it } from "vitest";
import { bashibleNodes } from "../../hooks/orchestrator/bindings";

const narrow = (filterResult: unknown) => () => bashibleNodes.narrow({ filterResult });

describe("bashible-->nodes narrowing", () => {
  it("keeps a well-formed Node, defaults for what is absent", () => {
    expect(narrow(["worker-1", "10.0.0.1", false, null, null])()).toEqual({
      name: "worker-1",
      isMaster: false,
      version: "unknown",
      internalIP: "10.0.0.1",
      containerdConfigMode: undefined,
    });
  });

  it("keeps every field of a Node as given, in the order the inputs hash serialises", () => {
    const node = narrow(["master-0", "10.0.0.7", true, "v7", "custom"])();
    expect(node).toStrictEqual({
      name: "master-0",
      isMaster: true,
      version: "v7",
      internalIP: "10.0.0.7",
      containerdConfigMode: "custom",
    });
    expect(Object.keys(node)).toEqual([
      "name",
      "isMaster",
      "version",
      "internalIP",
      "containerdConfigMode",
    ]);
  });

  it("reads null (what jq gives for a missing label or annotation) as absent", () => {
    const node = narrow(["worker-2", null, null, null, null])();
    expect(node).toStrictEqual({
      name: "worker-2",
      isMaster: false,
      version: "unknown",
      internalIP: undefined,
      containerdConfigMode: undefined,
    });
  });

  it.each([
    [null, "Node filterResult: expected an array, got null"],
    [{ name: "w", internalIP: "10.0.0.1" }, "Node filterResult: expected an array, got object"],
    [
      ["w", "10.0.0.1"],
      "Node filterResult: expected 5 values (metadata.name, InternalIP, control-plane label, registry.deckhouse.io/version, containerd label), got 2",
    ],
    [[null, null, null, null, null], "Node metadata.name: required"],
    [[7, null, null, null, null], "Node metadata.name: expected a string, got number"],
    [["w", null, "yes", null, null], "Node w control-plane label: expected a boolean, got string"],
    [
      ["w", null, null, 1, null],
      "Node w registry.deckhouse.io/version: expected a string, got number",
    ],
    [["w", [], null, null, null], "Node w InternalIP: expected a string, got array"],
    [["w", null, null, null, {}], "Node w containerd label: expected a string, got object"],
  ])("refuses %j naming the field", (filterResult, message) => {
    expect(narrow(filterResult)).toThrow(message);
  });
});
