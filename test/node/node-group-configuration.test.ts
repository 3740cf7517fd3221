// Delivery objects: NodeGroupConfiguration objects are valid against the CRD schema, carry no
// credential, and — once bashible-apiserver fills the credentials from its `.registry` context —
// are the very steps that run on the node.
//
// bashible-apiserver (Go text/template + sprig) is not available here. `resolveLikeBashible`
// below stands in for it and understands exactly the two constructs the module emits (the mirror
// credential expression and the version guard); any other `{{` fails the test.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BashibleConfig } from "../../lib/domain/bashible-config";
import { basicAuth } from "./steps/hosts-toml";
import {
  NODE_GROUP_CONFIGURATION_SCHEMA,
  renderNodeDeliveryObjects,
} from "./steps/node-group-configuration";
import { expectedRegistryDFiles, renderNodeSteps, type NodeStep } from "./steps/steps";
import { compileSchema, createAjv } from "../../lib/openapi/ajv";
import { createLab, type Lab } from "../e2e-lab";
import { ALL_CONFIGS, directTransition, NASTY_PASSWORD, proxyTransition } from "./fixtures";
import { contents, createSandbox } from "./sandbox";

const AUTH_EXPR =
  /\{\{ with \(index \(index \.registry\.hosts `([^`]+)`\)\.mirrors (\d+)\)\.auth \}\}\{\{ if \.username \}\}\{\{ printf `%s:%s` \.username \(\.password \| default ``\) \| b64enc \}\}\{\{ else \}\}\{\{ \.auth \}\}\{\{ end \}\}\{\{ end \}\}/g;
const GUARD = /\{\{ if ne \.registry\.version ("[^"]+") \}\}(.*?)\{\{ end \}\}/g;

/** What bashible-apiserver makes of the content, given its `.registry` context. */
function resolveLikeBashible(content: string, registry: BashibleConfig): string {
  const out = content
    .replace(GUARD, (_all, version: string, body: string) =>
      JSON.parse(version) === registry.version
        ? ""
        : body.replaceAll("{{ .registry.version }}", registry.version),
    )
    .replace(AUTH_EXPR, (_all, key: string, index: string) => {
      const mirror = registry.hosts[key]?.mirrors[Number(index)];
      if (!mirror) throw new Error(`template error: no mirror ${index} under ${key}`);
      return basicAuth(mirror.auth) ?? "";
    });
  if (out.includes("{{")) throw new Error(`unexpected template construct:\n${out}`);
  return out;
}

const secretsOf = (config: BashibleConfig): string[] =>
  Object.values(config.hosts).flatMap(h =>
    h.mirrors.flatMap(m =>
      m.auth
        ? [m.auth.password, m.auth.auth, basicAuth(m.auth)].filter(
            (s): s is string => typeof s === "string" && s.length > 3,
          )
        : [],
    ),
  );

let lab: Lab;
beforeAll(async () => {
  lab = await createLab("node-ngc");
});
afterAll(async () => {
  await lab?.close();
});

describe("Platform delivery", () => {
  it("adds no object: the platform's bashible reads registry-bashible-config", () => {
    expect(
      renderNodeDeliveryObjects(directTransition, { delivery: "Platform", containerd: "platform" }),
    ).toEqual([]);
  });
});

describe("NodeGroupConfiguration delivery", () => {
  const validate = compileSchema(createAjv(), NODE_GROUP_CONFIGURATION_SCHEMA);

  it.each(Object.entries(ALL_CONFIGS))("%s: valid objects, one per step", (_name, config) => {
    const objects = renderNodeDeliveryObjects(config, {
      delivery: "NodeGroupConfiguration",
      containerd: "platform",
    });
    expect(objects.map(o => [o.metadata.name, o.spec.weight])).toEqual([
      ["registry-containerd-config-label.sh", 29],
      ["registry-proxy.sh", 30],
      ["registry-containerd-hosts.sh", 31],
      ["registry-containerd-config.sh", 32],
      ["registry-version.sh", 90],
    ]);
    for (const o of objects) {
      expect(validate(o), JSON.stringify(validate.errors)).toBe(true);
      expect(o.spec).toMatchObject({ nodeGroups: ["*"], bundles: ["*"] });
    }
  });

  it("before the module owns the config: only the label step", () => {
    const objects = renderNodeDeliveryObjects(undefined, {
      delivery: "NodeGroupConfiguration",
      containerd: "stock",
    });
    expect(objects.map(o => o.metadata.name)).toEqual(["registry-containerd-config-label.sh"]);
  });

  it.each(Object.entries(ALL_CONFIGS))("%s: no credential in any object", (_name, config) => {
    const json = JSON.stringify(
      renderNodeDeliveryObjects(config, {
        delivery: "NodeGroupConfiguration",
        containerd: "platform",
      }),
    );
    const secrets = secretsOf(config);
    for (const secret of secrets) expect(json).not.toContain(secret);
    expect(json).not.toContain(NASTY_PASSWORD);
  });

  it("refuses a config whose data would be read as Go template code", () => {
    const config = structuredClone(directTransition);
    config.hosts["registry.d8-system.svc:5001"]!.mirrors[0]!.rewrites = [
      { from: "^system/deckhouse{{2}}", to: "deckhouse/ee" },
    ];
    expect(() =>
      renderNodeDeliveryObjects(config, {
        delivery: "NodeGroupConfiguration",
        containerd: "platform",
      }),
    ).toThrow(/registry-containerd-hosts: the config contains "\{\{"/);
  });

  it("the schema catches a broken object", () => {
    const [object] = renderNodeDeliveryObjects(proxyTransition, {
      delivery: "NodeGroupConfiguration",
      containerd: "platform",
    });
    expect(validate({ ...object, spec: { ...object!.spec, nodeGroups: [] } })).toBe(false);
    expect(validate({ ...object, metadata: { name: "Registry_Proxy" } })).toBe(false);
  });

  it("resolved by bashible, the steps lint clean and leave exactly the files inline steps leave", async () => {
    for (const config of [directTransition, proxyTransition]) {
      const resolved: NodeStep[] = renderNodeSteps(config, {
        containerd: "platform",
        credentials: "bashibleContext",
      }).map(s => ({ ...s, content: resolveLikeBashible(s.content, config) }));
      // the same steps, sandboxed: NodeGroupConfiguration content carries no sandbox knob, so the
      // sandbox variant is rendered the same way with a root
      const sandbox = await createSandbox(lab.path(`ngc-${config.version}`));
      await writeFile(sandbox.path("/etc/containerd/config.toml"), "version = 2\n");
      const sandboxed = renderNodeSteps(config, {
        containerd: "platform",
        credentials: "bashibleContext",
        sandbox: { root: sandbox.root },
      }).map(s => ({ ...s, content: resolveLikeBashible(s.content, config) }));
      const runs = await sandbox.run(sandboxed, { D8_NODE_HOSTNAME: "n1" });
      expect(runs.map(r => [r.name, r.code, r.stderr])).toEqual(
        sandboxed.map(s => [s.name, 0, ""]),
      );
      expect(contents(await sandbox.tree("/etc/containerd/registry.d"))).toEqual(
        expectedRegistryDFiles(config, "platform"),
      );
      const files = await Promise.all(
        resolved.map(async (s, i) => {
          const file = lab.path(`resolved-${config.version}-${i}.sh`);
          await writeFile(file, s.content);
          return file;
        }),
      );
      const lint = await new Promise<string>(resolve =>
        execFile("shellcheck", ["--severity=style", ...files], (_e, out, err) =>
          resolve(out + err),
        ),
      );
      expect(lint).toBe("");
    }
  });

  it("against another version of the Secret, the hosts step waits instead of mixing configs", async () => {
    const sandbox = await createSandbox(lab.path("ngc-skew"));
    const steps = renderNodeSteps(directTransition, {
      containerd: "platform",
      credentials: "bashibleContext",
      sandbox: { root: sandbox.root },
    });
    const hosts = steps.find(s => s.name === "registry-containerd-hosts")!;
    const newer = { ...directTransition, version: "v-newer" };
    const [run] = await sandbox.run([
      { ...hosts, content: resolveLikeBashible(hosts.content, newer) },
    ]);
    expect(run?.code).toBe(1);
    expect(run?.stderr).toContain(
      "registry-bashible-config version v-newer, this step was rendered for v-direct-transition",
    );
    expect(await sandbox.tree("/etc/containerd/registry.d")).toEqual({});
  });
});
