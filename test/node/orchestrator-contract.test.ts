// Producer meets consumer: every bashible config the orchestrator builds (lib/orchestrator,
// docs/architecture.md#bashible-config) passes the node side's gate unchanged and renders into
// steps for both containerd flavours where the flavour can express it.
import { describe, expect, it } from "vitest";
import { parseBashibleConfig } from "../../lib/domain/bashible-config";
import { renderNodeDeliveryObjects } from "./steps/node-group-configuration";
import { NodeRenderError, renderNodeSteps } from "./steps/steps";
import { finalConfig, type ModeParams, transitionConfig } from "../../lib/orchestrator/bashible";
import { TEST_CA, TEST_CA_2 } from "./fixtures";

const unmanaged: ModeParams = {
  mode: "Unmanaged",
  unmanaged: { imagesRepo: "old.example.com/path", scheme: "HTTPS", username: "u", password: "p" },
};
const direct: ModeParams = {
  mode: "Direct",
  direct: {
    imagesRepo: "new.example.com/deckhouse/ee",
    scheme: "HTTPS",
    ca: TEST_CA,
    username: "license-token",
    password: "l1c$nse",
  },
};
const directStock: ModeParams = {
  mode: "Direct",
  direct: { imagesRepo: "mirror.example.com:5000/prefix/system/deckhouse", scheme: "HTTP" },
};
const proxy: ModeParams = {
  mode: "Proxy",
  proxy: { ca: TEST_CA_2, username: "ro", password: "x" },
};
const local: ModeParams = {
  mode: "Local",
  local: { ca: TEST_CA_2, username: "ro", password: "y" },
};
const masters = ["10.0.0.2", "10.0.0.1"];

const cases: [string, ReturnType<typeof finalConfig>][] = [
  ["Unmanaged → Direct transition", transitionConfig(unmanaged, direct, masters)],
  ["Direct final", finalConfig(direct, masters)],
  ["Direct → Proxy transition", transitionConfig(direct, proxy, masters)],
  ["Proxy final", finalConfig(proxy, masters)],
  ["Direct → Local transition", transitionConfig(direct, local, masters)],
  ["Local final", finalConfig(local, masters)],
  ["Proxy → Unmanaged transition", transitionConfig(proxy, unmanaged, masters)],
  ["Unmanaged final", finalConfig(unmanaged, masters)],
  ["Direct (stock-expressible) final", finalConfig(directStock, masters)],
];

describe("orchestrator configs through the node side's gate", () => {
  it.each(cases)("%s", (_name, produced) => {
    const config = parseBashibleConfig(structuredClone(produced));
    expect(config).toEqual(produced);
    const platform = renderNodeSteps(config, { containerd: "platform" });
    expect(platform).toHaveLength(5);
    expect(
      renderNodeDeliveryObjects(config, {
        delivery: "NodeGroupConfiguration",
        containerd: "platform",
      }),
    ).toHaveLength(5);
    // stock containerd cannot rewrite deckhouse/ee; everything else it can serve
    const needsRewrite = JSON.stringify(config).includes('"to":"deckhouse/ee"');
    if (needsRewrite) {
      expect(() => renderNodeSteps(config, { containerd: "stock" })).toThrow(NodeRenderError);
    } else {
      expect(renderNodeSteps(config, { containerd: "stock" })).toHaveLength(5);
    }
  });

  it("a Direct upstream under <prefix>/system/deckhouse reaches stock containerd via override_path", () => {
    const steps = renderNodeSteps(parseBashibleConfig(finalConfig(directStock, masters)), {
      containerd: "stock",
    });
    const hosts = steps.find(s => s.name === "registry-containerd-hosts")!.content;
    expect(hosts).toContain('[host."http://mirror.example.com:5000/v2/prefix"]');
    expect(hosts).toContain("override_path = true");
  });
});
