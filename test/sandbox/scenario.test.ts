// The scenario file as a user writes it: the shipped scenarios parse to exactly these steps, and
// every kind of bad input is refused with the file, the 1-based line, the field and the rule.
// Settings are judged by the module's real settings schema and its CEL rules (no stand-in).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ScenarioError,
  UPSTREAM_PLACEHOLDERS,
  fillUpstream,
  loadScenario,
  parseScenario,
} from "./scenario";
import type { Scenario } from "./types";

const SCENARIOS = join(import.meta.dirname, "scenarios");

/** The message of the ScenarioError that parsing `text` throws (fails the test if none). */
function refusal(text: string, file = "bad.yaml"): string {
  try {
    parseScenario(text, file);
  } catch (err) {
    expect(err).toBeInstanceOf(ScenarioError);
    return (err as ScenarioError).message;
  }
  throw new Error("the scenario was accepted");
}

describe("shipped scenarios", () => {
  it("short.yaml: legacy Unmanaged → Direct (EE) → Proxy (EE)", () => {
    const file = join(SCENARIOS, "short.yaml");
    expect(loadScenario(file)).toEqual<Scenario>({
      file,
      steps: [
        {
          kind: "switch",
          line: 4,
          name: "legacy Unmanaged → Direct (EE)",
          upstream: "ee",
          settings: { mode: "Direct" },
        },
        {
          kind: "switch",
          line: 8,
          name: "Direct (EE) → Proxy (EE)",
          upstream: "ee",
          settings: { mode: "Proxy" },
        },
      ],
    });
  });

  it("default.yaml: the issue's chain, both refused switches and the four faults", () => {
    const file = join(SCENARIOS, "default.yaml");
    expect(loadScenario(file)).toEqual<Scenario>({
      file,
      steps: [
        {
          kind: "switch",
          line: 9,
          name: "legacy Unmanaged → Direct (EE)",
          upstream: "ee",
          settings: { mode: "Direct" },
        },
        {
          kind: "switch",
          line: 13,
          name: "Direct (EE) → Proxy (EE)",
          upstream: "ee",
          settings: { mode: "Proxy", proxy: { ttl: "72h" } },
        },
        { kind: "fault", line: 20, name: "master-down in Proxy (EE)", fault: "master-down" },
        { kind: "fault", line: 22, name: "upstream-down in Proxy (EE)", fault: "upstream-down" },
        {
          kind: "refused",
          line: 24,
          name: "Proxy (EE) → Local (refused)",
          settings: { mode: "Local" },
        },
        {
          kind: "switch",
          line: 27,
          name: "Proxy (EE) → Direct (EE)",
          upstream: "ee",
          settings: { mode: "Direct" },
        },
        {
          kind: "switch",
          line: 32,
          name: "Direct (EE) → Local",
          upstream: "ee",
          settings: { mode: "Local" },
        },
        {
          kind: "refused",
          line: 36,
          name: "Local → Proxy (EE) (refused)",
          upstream: "ee",
          settings: { mode: "Proxy" },
        },
        {
          kind: "switch",
          line: 40,
          name: "Local → Direct (EE)",
          upstream: "ee",
          settings: { mode: "Direct" },
        },
        {
          kind: "switch",
          line: 45,
          name: "Direct (EE) → Unmanaged (EE)",
          upstream: "ee",
          settings: { mode: "Unmanaged" },
        },
        {
          kind: "switch",
          line: 50,
          name: "Unmanaged (EE) → Direct (CE)",
          upstream: "ce",
          settings: { mode: "Direct", direct: { checkMode: "Relax" } },
        },
        { kind: "switch", line: 56, name: "Direct (CE) → legacy Unmanaged", settings: "legacy" },
        {
          kind: "fault",
          line: 58,
          name: "containerd-restart during legacy Unmanaged → Direct (EE)",
          fault: "containerd-restart",
          upstream: "ee",
          settings: { mode: "Direct" },
        },
        {
          kind: "fault",
          line: 63,
          name: "operator-restart during Direct (EE) → Proxy (EE)",
          fault: "operator-restart",
          upstream: "ee",
          settings: { mode: "Proxy" },
        },
      ],
    });
  });
});

describe("good input", () => {
  it("the example in README.md is a valid scenario", () => {
    const readme = readFileSync(join(import.meta.dirname, "README.md"), "utf8");
    const example = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    expect(parseScenario(example!, "README.md").steps.map(s => `${s.line} ${s.name}`)).toEqual([
      "3 legacy Unmanaged → Direct (EE)",
      "7 to Proxy",
      "14 master-down in Proxy (EE)",
      "16 Proxy (EE) → Local (refused)",
      "19 operator-restart during Proxy (EE) → Direct (EE)",
    ]);
  });

  it("keeps a name the user wrote and a fault's own switch", () => {
    const text = [
      "steps:",
      "  - kind: fault",
      "    name: worker restarts containerd",
      "    fault: containerd-restart",
      "    upstream: ce",
      "    settings: {mode: Unmanaged}",
    ].join("\n");
    expect(parseScenario(text, "f.yaml").steps).toEqual([
      {
        kind: "fault",
        line: 2,
        name: "worker restarts containerd",
        fault: "containerd-restart",
        upstream: "ce",
        settings: { mode: "Unmanaged" },
      },
    ]);
  });
});

describe("fillUpstream (what the engine patches)", () => {
  it("puts the upstream into the mode's section, creating it, keeping the user's fields", () => {
    const ee = UPSTREAM_PLACEHOLDERS.ee;
    expect(fillUpstream({ mode: "Proxy", proxy: { ttl: "72h" } }, ee)).toEqual({
      mode: "Proxy",
      proxy: { ttl: "72h", ...ee },
    });
    expect(fillUpstream({ mode: "Unmanaged" }, { imagesRepo: "127.0.0.1:5000/x" })).toEqual({
      mode: "Unmanaged",
      unmanaged: { imagesRepo: "127.0.0.1:5000/x" },
    });
  });

  it("leaves Local and legacy alone (they read no upstream)", () => {
    expect(fillUpstream({ mode: "Local" }, UPSTREAM_PLACEHOLDERS.ee)).toEqual({ mode: "Local" });
    expect(fillUpstream("legacy", UPSTREAM_PLACEHOLDERS.ee)).toBe("legacy");
  });
});

describe("bad input fails before anything starts, naming file, line, field and rule", () => {
  it("an unknown step kind", () => {
    expect(refusal("steps:\n  - kind: swich\n    settings: legacy\n")).toBe(
      'bad.yaml:2: steps[0].kind: unknown step kind "swich" (expected switch, refused, fault)',
    );
  });

  it("a step kind that is not a word", () => {
    expect(refusal("steps:\n  - kind: 42\n")).toBe(
      "bad.yaml:2: steps[0].kind: unknown step kind 42 (expected switch, refused, fault)",
    );
  });

  it("a step without kind", () => {
    expect(refusal("steps:\n  - settings: legacy\n")).toBe(
      "bad.yaml:2: steps[0].kind: required: one of switch, refused, fault",
    );
  });

  it("an unknown key in a step and at the top level", () => {
    const text = [
      "descripton: typo",
      "steps:",
      "  - kind: switch",
      "    upstream: ee",
      "    upstreem: ee",
      "    settings: {mode: Direct}",
    ].join("\n");
    expect(refusal(text)).toBe(
      [
        'bad.yaml:1: (top level): unknown key "descripton" (the top level has description and steps)',
        'bad.yaml:5: steps[0]: unknown key "upstreem" (a switch step has kind, name, upstream, settings)',
      ].join("\n"),
    );
  });

  it("an unknown fault name, and a fault without one", () => {
    const text = "steps:\n  - kind: fault\n    fault: disk-full\n  - kind: fault\n";
    expect(refusal(text)).toBe(
      [
        'bad.yaml:3: steps[0].fault: unknown fault "disk-full" (expected master-down, upstream-down, containerd-restart, operator-restart)',
        "bad.yaml:4: steps[1].fault: required: one of master-down, upstream-down, containerd-restart, operator-restart",
      ].join("\n"),
    );
  });

  it("an unknown upstream (reported once, not again as a missing one)", () => {
    const text = "steps:\n  - kind: switch\n    upstream: pro\n    settings: {mode: Direct}\n";
    expect(refusal(text)).toBe(
      'bad.yaml:3: steps[0].upstream: unknown upstream "pro" (expected ee or ce)',
    );
  });

  it("a mode the settings schema refuses (enum)", () => {
    const text = "steps:\n  - kind: switch\n    upstream: ee\n    settings:\n      mode: Bogus\n";
    expect(refusal(text)).toBe(
      'bad.yaml:5: steps[0].settings.mode: registry.mode: must be one of "Unmanaged", "Direct", "Proxy", "Local" (enum), got "Bogus"',
    );
  });

  it("settings the schema's CEL rules refuse, with the upstream's placeholders filled in", () => {
    const text = [
      "steps:",
      "  - kind: switch",
      "    upstream: ee",
      "    settings:",
      "      mode: Proxy",
      "      direct: {}",
      "      proxy:",
      "        ttl: 1m",
    ].join("\n");
    expect(refusal(text)).toBe(
      [
        "bad.yaml:4: steps[0].settings: registry: when mode is not 'Direct', 'direct' section must be omitted.",
        "bad.yaml:6: steps[0].settings.direct: registry.direct: 'imagesRepo' is required.",
        "bad.yaml:7: steps[0].settings.proxy: registry.proxy: 'ttl' should be at least 5 minutes.",
      ].join("\n"),
    );
  });

  it("a registry section without upstream, and registry fields the upstream fills", () => {
    const text = [
      "steps:",
      "  - kind: switch",
      "    settings:",
      "      mode: Direct",
      "      direct:",
      "        imagesRepo: registry.example.com/deckhouse",
    ].join("\n");
    expect(refusal(text)).toBe(
      [
        "bad.yaml:3: steps[0].settings: mode Direct reads a registry: the step needs upstream: ee or ce",
        "bad.yaml:6: steps[0].settings.direct.imagesRepo: filled in by the sandbox from the step's upstream (ee or ce); remove it",
      ].join("\n"),
    );
  });

  it("an upstream on settings without mode (legacy reads none)", () => {
    const text = "steps:\n  - kind: switch\n    upstream: ee\n    settings: {}\n";
    expect(refusal(text)).toBe(
      "bad.yaml:4: steps[0].settings: settings without mode mean legacy Unmanaged, which reads no upstream: remove upstream or set mode",
    );
  });

  it("a switch without settings, settings that are neither legacy nor a mapping", () => {
    const text = "steps:\n  - kind: switch\n  - kind: refused\n    settings: Direct\n";
    expect(refusal(text)).toBe(
      [
        "bad.yaml:2: steps[0].settings: required: a switch step switches to settings",
        "bad.yaml:4: steps[1].settings: must be `legacy` or a mapping (spec.settings.registry of ModuleConfig/deckhouse)",
      ].join("\n"),
    );
  });

  it("a non-mapping step", () => {
    expect(refusal("steps:\n  - kind: switch\n    settings: legacy\n  - master-down\n")).toBe(
      "bad.yaml:4: steps[1]: a step must be a mapping with kind: switch, refused, fault",
    );
  });

  it("two steps with the same name (names key the pull records)", () => {
    const text = [
      "steps:",
      "  - {kind: switch, name: same, settings: legacy}",
      "  - {kind: switch, name: same, settings: legacy}",
    ].join("\n");
    expect(refusal(text)).toBe(
      'bad.yaml:3: steps[1].name: "same" is already the name of the step on line 2; names must be unique (they key the pull records), give this step its own name:',
    );
  });

  it("an empty scenario: empty file, no steps key, an empty list", () => {
    expect(refusal("")).toBe("bad.yaml:1: steps: the scenario has no steps");
    expect(refusal("# nothing yet\n")).toBe("bad.yaml:1: steps: the scenario has no steps");
    expect(refusal("description: x\n")).toBe("bad.yaml:1: steps: the scenario has no steps");
    expect(refusal("description: x\nsteps: []\n")).toBe(
      "bad.yaml:2: steps: the scenario has no steps",
    );
  });

  it("a top level or steps of the wrong shape", () => {
    expect(refusal("- kind: switch\n")).toBe(
      "bad.yaml:1: (top level): must be a mapping with `steps`",
    );
    expect(refusal("steps: {kind: switch}\n")).toBe("bad.yaml:1: steps: must be a list of steps");
  });

  it("bad YAML, at the line the parser stopped", () => {
    const text = "steps:\n  - kind: switch\n    settings: {mode: Direct\n  - kind: fault\n";
    expect(refusal(text)).toBe(
      "bad.yaml:4: YAML: Flow map in block collection must be sufficiently indented and end with a }",
    );
    expect(refusal("steps:\n  - kind: switch\n    kind: fault\n")).toBe(
      "bad.yaml:3: YAML: Map keys must be unique",
    );
  });

  it("a file that cannot be read", () => {
    const missing = join(SCENARIOS, "no-such.yaml");
    expect(() => loadScenario(missing)).toThrow(
      `${missing}:1: file: cannot read: ENOENT: no such file or directory, open '${missing}'`,
    );
  });
});

describe("steps the engine cannot play", () => {
  it("none in the shipped scenarios: the default one plays end to end", async () => {
    const { unplayableSteps } = await import("./sandbox");
    const dir = join(import.meta.dirname, "scenarios");
    expect(unplayableSteps(loadScenario(join(dir, "short.yaml")))).toEqual([]);
    expect(unplayableSteps(loadScenario(join(dir, "default.yaml")))).toEqual([]);
  });

  it("upstream-down outside Proxy or during a switch is named by file and line before anything starts", async () => {
    const { unplayableSteps } = await import("./sandbox");
    const text = [
      "steps:",
      "  - kind: fault", // line 2: in legacy Unmanaged
      "    fault: upstream-down",
      "  - kind: switch",
      "    upstream: ee",
      "    settings: {mode: Proxy}",
      "  - kind: fault", // line 7: in Proxy: playable
      "    fault: upstream-down",
      "  - kind: fault", // line 9: during a switch
      "    fault: upstream-down",
      "    upstream: ee",
      "    settings: {mode: Direct}",
      "  - kind: fault", // line 13: in Direct
      "    fault: upstream-down",
      "",
    ].join("\n");
    expect(unplayableSteps(parseScenario(text, "s.yaml"))).toEqual([
      "s.yaml:2: upstream-down in legacy Unmanaged: it plays in Proxy",
      "s.yaml:9: upstream-down during a switch: give it no settings, it plays in Proxy",
      "s.yaml:13: upstream-down in Direct: it plays in Proxy",
    ]);
  });
});
