// The live view on known snapshots, written down literally: the screen (aligned, cut to the
// width, elapsed kept visible), the log line, and the two writers — in place on a terminal, one
// line per change otherwise.
import { describe, expect, it } from "vitest";
import { LiveView, formatElapsed, renderLiveView, renderLogLine } from "./live-view";
import type { ViewOutput } from "./live-view";
import type { LiveSnapshot } from "./types";

const snapshot: LiveSnapshot = {
  step: "Direct (EE) → Proxy (EE)",
  mode: "Direct",
  targetMode: "Proxy",
  conditions: [
    { type: "RegistryContainsRequiredImages", status: "True", message: "all 12 images present" },
    {
      type: "TransitionContainerdConfigReady",
      status: "False",
      message: "2 of 5 nodes\nhave the new config",
    },
    { type: "Ready", status: "False" },
  ],
  nodeVersions: { "worker-0": undefined, "master-1": "v3", "master-0": "v3" },
  pulls: { attempted: 120, failed: 0 },
  elapsedSeconds: 12.34,
};

/** Records what a writer writes; a terminal when `columns` is given. */
class Recorder implements ViewOutput {
  readonly chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns?: number,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
}

describe("renderLiveView", () => {
  it("mode, target, pulls, each condition with status and message, each node's version", () => {
    expect(renderLiveView(snapshot, 72)).toBe(
      [
        "Direct (EE) → Proxy (EE)                                          12.3 s",
        "mode Direct  target Proxy  pulls 120 attempted, 0 failed",
        "conditions",
        "  True   RegistryContainsRequiredImages   all 12 images present",
        "  False  TransitionContainerdConfigReady  2 of 5 nodes have the new con…",
        "  False  Ready",
        "nodes (registry.deckhouse.io/version)",
        "  master-0  v3",
        "  master-1  v3",
        "  worker-0  -",
      ].join("\n"),
    );
  });

  it("cuts every line to the width, the step giving way to the elapsed time", () => {
    const screen = renderLiveView({ ...snapshot, elapsedSeconds: 125.9 }, 30);
    expect(screen).toBe(
      [
        "Direct (EE) → Proxy (E…  2m05s",
        "mode Direct  target Proxy  pu…",
        "conditions",
        "  True   RegistryContainsRequ…",
        "  False  TransitionContainerd…",
        "  False  Ready",
        "nodes (registry.deckhouse.io/…",
        "  master-0  v3",
        "  master-1  v3",
        "  worker-0  -",
      ].join("\n"),
    );
    for (const line of screen.split("\n")) expect([...line].length).toBeLessThanOrEqual(30);
  });

  it("before the module has written anything", () => {
    const empty: LiveSnapshot = {
      step: "legacy Unmanaged → Direct (EE)",
      mode: "",
      targetMode: "",
      conditions: [],
      nodeVersions: {},
      pulls: { attempted: 0, failed: 0 },
      elapsedSeconds: 0,
    };
    expect(renderLiveView(empty, 50)).toBe(
      [
        "legacy Unmanaged → Direct (EE)               0.0 s",
        "mode -  target -  pulls 0 attempted, 0 failed",
        "conditions",
        "  (none yet)",
        "nodes (registry.deckhouse.io/version)",
        "  (none yet)",
      ].join("\n"),
    );
  });

  it("formats elapsed time in seconds, then minutes", () => {
    expect([0, 9.94, 59.9, 60, 125.9, 3600].map(formatElapsed)).toEqual([
      "0.0 s",
      "9.9 s",
      "59.9 s",
      "1m00s",
      "2m05s",
      "60m00s",
    ]);
  });
});

describe("renderLogLine", () => {
  it("one line; messages only for conditions that are not True", () => {
    expect(renderLogLine(snapshot)).toBe(
      "[12.3 s] Direct (EE) → Proxy (EE): mode Direct, target Proxy; " +
        "RegistryContainsRequiredImages=True, TransitionContainerdConfigReady=False (2 of 5 nodes have the new config), Ready=False; " +
        "nodes master-0=v3 master-1=v3 worker-0=-; pulls 120 attempted, 0 failed",
    );
  });
});

describe("LiveView", () => {
  it("not on a terminal: prints a line only when something other than the clock and the attempted count changes", () => {
    const out = new Recorder(false);
    const view = new LiveView(out);
    view.update(snapshot);
    view.update({ ...snapshot, elapsedSeconds: 13.4, pulls: { attempted: 125, failed: 0 } });
    view.update({ ...snapshot, elapsedSeconds: 14.4, pulls: { attempted: 130, failed: 1 } });
    view.update({ ...snapshot, elapsedSeconds: 15.4, pulls: { attempted: 135, failed: 1 } });
    view.update({
      ...snapshot,
      elapsedSeconds: 16.4,
      pulls: { attempted: 140, failed: 1 },
      nodeVersions: { ...snapshot.nodeVersions, "worker-0": "v3" },
    });
    view.finish("summary table");
    expect(out.chunks.join("")).toBe(
      [
        "[12.3 s] Direct (EE) → Proxy (EE): mode Direct, target Proxy; RegistryContainsRequiredImages=True, TransitionContainerdConfigReady=False (2 of 5 nodes have the new config), Ready=False; nodes master-0=v3 master-1=v3 worker-0=-; pulls 120 attempted, 0 failed",
        "[14.4 s] Direct (EE) → Proxy (EE): mode Direct, target Proxy; RegistryContainsRequiredImages=True, TransitionContainerdConfigReady=False (2 of 5 nodes have the new config), Ready=False; nodes master-0=v3 master-1=v3 worker-0=-; pulls 130 attempted, 1 failed",
        "[16.4 s] Direct (EE) → Proxy (EE): mode Direct, target Proxy; RegistryContainsRequiredImages=True, TransitionContainerdConfigReady=False (2 of 5 nodes have the new config), Ready=False; nodes master-0=v3 master-1=v3 worker-0=v3; pulls 140 attempted, 1 failed",
        "",
        "summary table",
        "",
      ].join("\n"),
    );
    expect(out.chunks.some(c => c.includes("\x1b"))).toBe(false);
  });

  it("on a terminal: draws the screen, then moves back over it and clears before each redraw", () => {
    const out = new Recorder(true, 41);
    const view = new LiveView(out);
    view.update(snapshot);
    view.update({ ...snapshot, elapsedSeconds: 13.4 });
    view.finish("summary table");
    const first = `${renderLiveView(snapshot, 40)}\n`;
    const second = `${renderLiveView({ ...snapshot, elapsedSeconds: 13.4 }, 40)}\n`;
    expect(first.split("\n")).toHaveLength(11); // 10 lines, each ended
    expect(out.chunks).toEqual([first, `\x1b[10F\x1b[J${second}`, "\nsummary table\n"]);
  });
});
