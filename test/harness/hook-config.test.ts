// Hook config validation and normalisation against the reference hook configs.
import { describe, expect, it } from "vitest";
import {
  normalizeHookConfig,
  parseHookConfigText,
  validateHookConfig,
} from "../../lib/harness/hook-config";
import { fixtureText } from "./fixtures";

const load = (file: string) => parseHookConfigText(fixtureText(`hook-configs/${file}`));

describe("reference hook configs", () => {
  it("so-group-example.yaml: group members include each other's snapshots", () => {
    const config = normalizeHookConfig(load("so-group-example.yaml"));
    expect(config.schedule[0]).toMatchObject({ name: "periodic-checking", group: "pods" });
    expect(config.schedule[0]?.includeSnapshotsFrom).toEqual(["monitor-pods", "configmap-content"]);
    expect(config.kubernetes.map(b => [b.name, b.includeSnapshotsFrom])).toEqual([
      ["monitor-pods", ["monitor-pods", "configmap-content"]],
      ["configmap-content", ["monitor-pods", "configmap-content"]],
    ]);
  });

  it("so-snapshots-example.yaml: defaults filled in", () => {
    const config = normalizeHookConfig(load("so-snapshots-example.yaml"));
    expect(config.kubernetes[0]).toEqual({
      name: "configmap-content",
      kind: "ConfigMap",
      nameSelector: { matchNames: ["settings-for-my-hook"] },
      executeHookOnEvent: [],
      executeHookOnSynchronization: false,
      keepFullObjectsInMemory: true,
      allowFailure: false,
      queue: "main",
      includeSnapshotsFrom: [],
    });
    expect(config.kubernetes[1]?.executeHookOnEvent).toEqual(["Added", "Modified", "Deleted"]);
  });

  it("ao-synchronization-global.yaml is a global hook: beforeAll is refused for a module hook", () => {
    expect(() => validateHookConfig(load("ao-synchronization-global.yaml"))).toThrow(/beforeAll/);
  });

  it("docs examples with `namespace.nameSelector: [names]` are refused (nameSelector is {matchNames})", () => {
    for (const file of ["so-kubernetes-example.yaml", "so-settings-example.yaml"]) {
      expect(() => validateHookConfig(load(file)), file).toThrow(
        /\/kubernetes\/0\/namespace\/nameSelector must be object/,
      );
    }
  });
});

describe("validation", () => {
  const base = { configVersion: "v1" };
  it.each([
    [{ ...base }, /must NOT have fewer than 2 properties/],
    [{ beforeHelm: 1 }, /must have required property 'configVersion'/],
    [{ ...base, beforeHelm: "1" }, /beforeHelm must be integer/],
    [{ ...base, kubernetes: [{ name: "x" }] }, /required property 'kind'/],
    [{ ...base, kubernetes: [{ kind: "Pod", executeHookOnEvent: ["Created"] }] }, /allowed values/],
    [
      { ...base, kubernetes: [{ kind: "Pod", includeSnapshotsFrom: ["nope"] }] },
      /'nope' binding not found/,
    ],
    [{ ...base, schedule: [{ crontab: "bad" }] }, /crontab is invalid/],
    [
      { ...base, kubernetes: [{ kind: "Pod", keepFullObjectsInMemory: "false" }] },
      /must be boolean/,
    ],
    [
      {
        ...base,
        kubernetes: [
          {
            kind: "Pod",
            nameSelector: { matchNames: ["a"] },
            fieldSelector: {
              matchExpressions: [{ field: "metadata.name", operator: "=", value: "a" }],
            },
          },
        ],
      },
      /mutually exclusive/,
    ],
    [{ ...base, kubernetes: [{ kind: "Pod", apiVersion: "not a version" }] }, /apiVersion/],
  ])("refuses %j", (config, message) => {
    expect(() => validateHookConfig(config)).toThrow(message);
  });

  it("accepts 6-field crontabs and @every", () => {
    expect(() =>
      validateHookConfig({
        ...base,
        schedule: [{ crontab: "*/5 * * * * *" }, { crontab: "@every 1m30s" }],
      }),
    ).not.toThrow();
  });

  it("legacy watchEvent is an alias of executeHookOnEvent", () => {
    const config = normalizeHookConfig({
      ...base,
      kubernetes: [{ kind: "Pod", watchEvent: ["Deleted"] }],
    });
    expect(config.kubernetes[0]).toMatchObject({
      name: "kubernetes",
      executeHookOnEvent: ["Deleted"],
    });
  });
});
