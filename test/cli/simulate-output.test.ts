// What simulate shows on a terminal: a compact line per run and a table of conditions per step.
import { describe, expect, it } from "vitest";
import { compactRun, conditionsTable } from "../../cli/simulate-output";

describe("simulate on a terminal", () => {
  const run = {
    run: 12,
    mode: "Direct",
    target_mode: "Proxy",
    ready: false,
    conditions: [
      { type: "RegistryContainsRequiredImages", status: "True", message: "Mode: Default\nr: ok" },
      { type: "NodeServicesReady", status: "False", message: "1/3 node(s) ready. Waiting:\n- m" },
      { type: "Ready", status: "False", message: "Transitioning to Proxy" },
    ],
  };

  it("one line per run: the modes and what it waits for", () => {
    expect(compactRun(run)).toBe(
      "#12   Direct → Proxy         waiting for NodeServicesReady: 1/3 node(s) ready. Waiting:",
    );
    expect(compactRun({ ...run, mode: "Proxy", ready: true })).toMatch(/^#12 {3}Proxy +Ready$/);
  });

  it("a table of the conditions, first message line only", () => {
    expect(conditionsTable(run.conditions).split("\n")).toEqual([
      "TYPE                            STATUS  MESSAGE",
      "RegistryContainsRequiredImages  True    Mode: Default",
      "NodeServicesReady               False   1/3 node(s) ready. Waiting:",
      "Ready                           False   Transitioning to Proxy",
    ]);
  });
});
