// Narrowing of the orchestrator's Node snapshot: thousands of items per run, so the guards join
// object and field names only for a message (docs/adr/0118); the messages name both.
import { describe, expect, it } from "vitest";
import { bashibleNodes } from "../../hooks/orchestrator/bindings";

const narrow = (filterResult: unknown) => () => bashibleNodes.narrow({ filterResult });

describe("bashible-->nodes narrowing", () => {
  it("keeps a well-formed Node, defaults for what is absent", () => {
    expect(narrow({ name: "worker-1", internalIP: "10.0.0.1" })()).toEqual({
      name: "worker-1",
      isMaster: false,
      version: "unknown",
      internalIP: "10.0.0.1",
      containerdConfigMode: undefined,
    });
  });

  it("keeps every field of a Node as given, in the order the inputs hash serialises", () => {
    const node = narrow({
      containerdConfigMode: "custom",
      internalIP: "10.0.0.7",
      isMaster: true,
      name: "master-0",
      version: "v7",
    })();
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
    const node = narrow({
      name: "worker-2",
      isMaster: null,
      version: null,
      internalIP: null,
      containerdConfigMode: null,
    })();
    expect(node).toStrictEqual({
      name: "worker-2",
      isMaster: false,
      version: "unknown",
      internalIP: undefined,
      containerdConfigMode: undefined,
    });
  });

  it.each([
    [null, "Node filterResult: expected an object, got null"],
    [{}, "Node metadata.name: required"],
    [{ name: 7 }, "Node metadata.name: expected a string, got number"],
    [{ name: "w", isMaster: "yes" }, "Node w control-plane label: expected a boolean, got string"],
    [
      { name: "w", version: 1 },
      "Node w registry.deckhouse.io/version: expected a string, got number",
    ],
    [{ name: "w", internalIP: [] }, "Node w InternalIP: expected a string, got array"],
    [
      { name: "w", containerdConfigMode: {} },
      "Node w containerd label: expected a string, got object",
    ],
  ])("refuses %j naming the field", (filterResult, message) => {
    expect(narrow(filterResult)).toThrow(message);
  });
});
