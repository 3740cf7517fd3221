// Rendering of the node steps: every step of every mode, stage and containerd flavour passes
// `bash -n` and `shellcheck` (Debian package) with no finding; hosts.toml parses as TOML with the
// structure each containerd flavour understands; refusals name the field and the rule.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { parse } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BashibleConfigError, type BashibleConfig } from "../../lib/domain/bashible-config";
import { CONTAINERD_FLAVORS, renderHostsToml } from "./steps/hosts-toml";
import { NodeRenderError, renderNodeSteps, type NodeStep } from "./steps/steps";
import { createLab, type Lab, requireTools } from "../e2e-lab";
import {
  ALL_CONFIGS,
  directFinal,
  NASTY_PASSWORD,
  proxyTransition,
  SVC,
  TEST_CA,
} from "./fixtures";

let lab: Lab;
beforeAll(async () => {
  lab = await createLab("node-render");
});
afterAll(async () => {
  await lab?.close();
});

/** Direct configs stock containerd can express: the upstream path ends in system/deckhouse. */
const stockDirect = (to: string): BashibleConfig => ({
  ...directFinal,
  hosts: {
    [SVC]: {
      mirrors: [
        {
          host: "new.example.com",
          scheme: "https",
          ca: TEST_CA,
          auth: { username: "u", password: NASTY_PASSWORD },
          rewrites: [{ from: "^system/deckhouse", to }],
        },
      ],
    },
  },
});

function allRenderings(): { label: string; steps: NodeStep[] }[] {
  const out: { label: string; steps: NodeStep[] }[] = [];
  const configs: [string, BashibleConfig | undefined][] = [
    ["no config", undefined],
    ...Object.entries(ALL_CONFIGS),
    ["stock-compatible Direct", stockDirect("mirror/system/deckhouse")],
  ];
  for (const flavor of CONTAINERD_FLAVORS) {
    for (const [name, config] of configs) {
      if (flavor === "stock" && config && JSON.stringify(config).includes('"deckhouse/ee"'))
        continue;
      out.push({
        label: `${name}/${flavor}`,
        steps: renderNodeSteps(config, { containerd: flavor }),
      });
      out.push({
        label: `${name}/${flavor}/node facts+sandbox`,
        steps: renderNodeSteps(config, {
          containerd: flavor,
          node: { name: "master-0", ip: "10.1.2.3" },
          sandbox: { root: "/tmp/some root/with 'quotes'", registryProxyListen: "127.0.0.5:15001" },
        }),
      });
    }
  }
  return out;
}

function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise(resolve =>
    execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

describe("every rendered step", () => {
  it("passes bash -n and shellcheck with no finding at all (not even info)", async () => {
    requireTools("shellcheck", "bash");
    const files: string[] = [];
    const seen = new Set<string>();
    for (const { label, steps } of allRenderings()) {
      for (const step of steps) {
        if (seen.has(step.content)) continue; // label and config steps repeat across configs
        seen.add(step.content);
        const file = lab.path(
          `${files.length}-${label.replace(/[^a-z0-9]+/gi, "-")}-${step.name}.sh`,
        );
        await writeFile(file, step.content);
        files.push(file);
      }
    }
    expect(files.length).toBeGreaterThan(40);
    for (const file of files) {
      const syntax = await run("bash", ["-n", file]);
      expect(syntax, `${file}: ${syntax.out}`).toEqual({ code: 0, out: "" });
    }
    // --severity=style: every finding fails; the only disabled check (SC2016) is on literal file
    // contents, with the reason next to it
    const lint = await run("shellcheck", ["--severity=style", "--shell=bash", ...files]);
    expect(lint.out).toBe("");
    expect(lint.code).toBe(0);
  });

  it("carries no shell syntax from the data: a password stays one literal word", () => {
    const steps = renderNodeSteps(directFinal, { containerd: "platform" });
    const hosts = steps.find(s => s.name === "registry-containerd-hosts")!.content;
    // the base64 form is in the file; the raw password never appears, not even quoted
    expect(hosts).not.toContain(NASTY_PASSWORD);
    expect(hosts).toContain(Buffer.from(`new-user:${NASTY_PASSWORD}`).toString("base64"));
  });

  it("is deterministic: same input, same bytes", () => {
    const a = renderNodeSteps(proxyTransition, { containerd: "platform" });
    const b = renderNodeSteps(structuredClone(proxyTransition), { containerd: "platform" });
    expect(a).toEqual(b);
    expect(a.map(s => [s.name, s.weight])).toEqual([
      ["registry-containerd-config-label", 29],
      ["registry-proxy", 30],
      ["registry-containerd-hosts", 31],
      ["registry-containerd-config", 32],
      ["registry-version", 90],
    ]);
  });
});

describe("hosts.toml", () => {
  it("platform: auth table and rewrite, as the platform's containerd reads them", () => {
    const toml = parse(renderHostsToml(SVC, proxyTransition.hosts[SVC]!, "platform"));
    expect(toml).toEqual({
      server: `https://${SVC}`,
      capabilities: ["push"],
      host: {
        "https://new.example.com": {
          capabilities: ["pull", "resolve"],
          ca: ["https-new.example.com-ca.crt"],
          auth: { auth: Buffer.from(`new-user:${NASTY_PASSWORD}`).toString("base64") },
          rewrite: [{ regex: "^system/deckhouse", replace: "deckhouse/ee" }],
        },
        "https://127.0.0.1:5001": {
          capabilities: ["pull", "resolve"],
          ca: ["https-127.0.0.1:5001-ca.crt"],
          auth: { auth: Buffer.from("ro:ro-pass").toString("base64") },
        },
      },
    });
  });

  it("stock: Authorization header, no rewrite, upstream prefix through override_path", () => {
    const config = stockDirect("mirror/system/deckhouse/");
    const toml = parse(renderHostsToml(SVC, config.hosts[SVC]!, "stock"));
    expect(toml).toEqual({
      server: `https://${SVC}`,
      capabilities: ["push"],
      host: {
        "https://new.example.com/v2/mirror": {
          capabilities: ["pull", "resolve"],
          override_path: true,
          ca: ["https-new.example.com-ca.crt"],
          header: {
            Authorization: [`Basic ${Buffer.from(`u:${NASTY_PASSWORD}`).toString("base64")}`],
          },
        },
      },
    });
  });

  it("stock: an upstream path equal to system/deckhouse needs no rewrite at all", () => {
    const toml = parse(renderHostsToml(SVC, stockDirect("system/deckhouse").hosts[SVC]!, "stock"));
    expect(Object.keys(toml.host as object)).toEqual(["https://new.example.com"]);
  });

  it("http mirrors skip verification and get no CA file", () => {
    const host = {
      mirrors: [{ host: "r.example.com:5000", scheme: "http" as const, ca: TEST_CA }],
    };
    for (const flavor of CONTAINERD_FLAVORS) {
      const toml = parse(renderHostsToml("r.example.com:5000", host, flavor));
      expect(toml.host).toEqual({
        "http://r.example.com:5000": { capabilities: ["pull", "resolve"], skip_verify: true },
      });
    }
  });
});

describe("refusals", () => {
  it("stock containerd and a path rewrite it cannot express: the field and the rule", () => {
    let error: unknown;
    try {
      renderNodeSteps(directFinal, { containerd: "stock" });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NodeRenderError);
    expect((error as NodeRenderError).field).toBe(`hosts["${SVC}"].mirrors[0].rewrites`);
    expect((error as NodeRenderError).rule).toMatch(/stock containerd cannot rewrite/);
    expect((error as Error).message).not.toContain(NASTY_PASSWORD);
  });

  it("an invalid config is refused before anything is rendered", () => {
    const bad = { ...directFinal, hosts: { "a/b": directFinal.hosts[SVC]! } };
    expect(() => renderNodeSteps(bad, { containerd: "platform" })).toThrow(BashibleConfigError);
  });

  it.each([
    [{ node: { ip: "10.0.0.300" } }, "node.ip"],
    [{ node: { ip: "::1" } }, "node.ip"],
    [{ node: { name: "Bad_Name" } }, "node.name"],
  ])("node facts %j → %s", (extra, field) => {
    expect(() => renderNodeSteps(directFinal, { containerd: "platform", ...extra })).toThrow(
      new RegExp(`^${field.replace(".", "\\.")}: must be`),
    );
  });

  it("a relative sandbox root is refused", () => {
    expect(() =>
      renderNodeSteps(directFinal, { containerd: "platform", sandbox: { root: "tmp/x" } }),
    ).toThrow(/sandbox root must be an absolute path/);
  });
});
