// module.yaml as Deckhouse reads it (docs/architecture.md#values;
// docs/hook-protocol.md#module-layout), and the assembled module.
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { labTool } from "../lab/tools";
import { beforeAll, describe, expect, it } from "vitest";
import { MODULE_DIR, requireBuild } from "./built";

interface ModuleDefinition {
  name: string;
  weight: number;
  stage: string;
  critical: boolean;
  namespace: string;
  subsystems: string[];
  requirements: Record<string, string>;
  disable: { confirmation: boolean; message: string };
  descriptions: { en: string; ru: string };
}

const definition = parse(readFileSync("module.yaml", "utf8")) as ModuleDefinition;

beforeAll(requireBuild);

describe("module.yaml", () => {
  it("names the module as the platform knows it", () => {
    expect(definition).toMatchObject({
      name: "registry",
      weight: 38,
      stage: "Preview",
      critical: true,
      namespace: "d8-system",
      subsystems: ["deckhouse", "infrastructure", "kubernetes"],
      requirements: { deckhouse: ">= 1.71" },
      disable: { confirmation: true },
    });
  });

  it("describes the module and the disable confirmation in both languages", () => {
    expect(definition.descriptions.en).toMatch(/registry\.d8-system\.svc:5001\/system\/deckhouse/);
    expect(definition.descriptions.ru).toMatch(/registry\.d8-system\.svc:5001\/system\/deckhouse/);
    expect(definition.disable.message).toBe(
      "Disabling the registry module removes the in-cluster registry services and returns nodes to " +
        "pulling from the registry they were configured with before the module managed them. " +
        "Switch the registry mode to Unmanaged and wait for the switch to finish before disabling.",
    );
  });

  it("has a name that survives addon-operator's kebab → camel → kebab round trip", () => {
    expect(definition.name).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });
});

describe("dist/module", () => {
  it.each([
    "module.yaml",
    "Chart.yaml",
    "enabled",
    "openapi/config-values.yaml",
    "openapi/values.yaml",
  ])("contains %s", file => expect(existsSync(join(MODULE_DIR, file))).toBe(true));

  it.each(["enabled", "hooks/registry-hooks", "shell-hooks/orchestrator"])(
    "%s is executable",
    file => {
      expect(statSync(join(MODULE_DIR, file)).mode & 0o111).toBe(0o111);
    },
  );

  it("gives Helm only the pass-through chart template, no Handlebars sources", () => {
    expect(readdirSync(join(MODULE_DIR, "templates"))).toEqual(["manifests.yaml"]);
    expect(readFileSync(join(MODULE_DIR, "templates", "manifests.yaml"), "utf8")).toContain(
      "range .Values.registry.internal.manifests",
    );
  });

  it("is a chart the real Helm loads: the hooks executable and the rest are .helmignore'd", () => {
    // Found by the real addon-operator (test/lab): Helm loads the module directory as the chart
    // and refused the 100 MB hooks executable ("chart file is larger than the maximum file size")
    const helm = labTool("helm");
    const dir = mkdtempSync(join(tmpdir(), "registry-helm-"));
    try {
      const values = join(dir, "values.yaml");
      const object = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "probe", namespace: "d8-system" },
        data: { a: "b" },
      };
      writeFileSync(values, stringify({ registry: { internal: { manifests: [object] } } }));
      const r = spawnSync(helm, ["template", "registry", MODULE_DIR, "-f", values], {
        encoding: "utf8",
      });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(parse(r.stdout.split("---").filter(d => d.includes("kind:"))[0] ?? "")).toEqual(
        object,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
