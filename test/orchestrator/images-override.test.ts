// `imagesOverride` of ModuleConfig/registry (testing only, docs/architecture.md#values) is applied:
// the manager image and the mirrorer image of the node services are the overrides when set.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { renderManifests } from "../../lib/render/manifests";

const global = (
  parse(readFileSync("examples/values.yaml", "utf8")) as { global: Record<string, unknown> }
).global;

function manager(registry: Record<string, unknown>) {
  const objects = renderManifests({
    global,
    registry: {
      ...registry,
      internal: {
        orchestrator: { hash: "h", state: { mode: "Proxy", node_services: { run: true } } },
      },
    },
  });
  const ds = objects.find(o => o.kind === "DaemonSet") as unknown as {
    spec: {
      template: {
        spec: {
          containers: { name: string; image: string; env?: { name: string; value?: string }[] }[];
        };
      };
    };
  };
  const containers = ds.spec.template.spec.containers;
  const main = containers[0];
  const env = Object.fromEntries((main?.env ?? []).map(e => [e.name, e.value]));
  const holder = containers.find(c => c.name === "image-holder-mirrorer")?.image;
  return { image: main?.image, env, holder };
}

describe("imagesOverride", () => {
  it("replaces the manager and mirrorer images", () => {
    const m = manager({
      imagesOverride: {
        registryManager: "dev-registry.example.com/registry-manager:dev",
        mirrorer: "dev-registry.example.com/mirrorer:dev",
      },
    });
    expect(m.image).toBe("dev-registry.example.com/registry-manager:dev");
    expect(Object.values(m.env)).toContain("dev-registry.example.com/mirrorer:dev");
    expect(m.holder).toBe("dev-registry.example.com/mirrorer:dev");
  });

  it("leaves the module's images without overrides", () => {
    const m = manager({ imagesOverride: {} });
    expect(m.image).toBe(
      "registry.d8-system.svc:5001/system/deckhouse@sha256:2222222222222222222222222222222222222222222222222222222222222222",
    );
  });
});
