// Safeguard (issue 15, defect 9): the hosts step writes a host's CA files before its hosts.toml,
// so an interrupted run never leaves containerd a hosts.toml naming a CA file that is not there
// (containerd would fail every pull from that host). Proved by making the CA write fail: the
// step stops, and no hosts.toml of that host exists. Real bash, sandbox root.
import { mkdir, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectedRegistryDFiles, renderNodeSteps } from "./steps/steps";
import { createLab, type Lab } from "../e2e-lab";
import { directFinal, proxyFinal } from "./fixtures";
import { createSandbox } from "./sandbox";

let lab: Lab;
beforeAll(async () => {
  lab = await createLab("hosts-ca-order");
});
afterAll(async () => {
  await lab?.close();
});

describe("hosts.toml only after its CA files", () => {
  for (const [name, config] of [
    ["direct", directFinal],
    ["proxy", proxyFinal],
  ] as const) {
    it(`${name}: a CA file that cannot be written leaves no hosts.toml for its host`, async () => {
      const sandbox = await createSandbox(lab.path(name));
      const files = Object.keys(expectedRegistryDFiles(config, "platform"));
      const ca = files.find(f => f.endsWith(".crt"));
      expect(ca, `fixture ${name} has a mirror with a CA`).toBeDefined();
      const caPath = sandbox.path(`/etc/containerd/registry.d/${ca}`);
      // a non-empty directory where the CA file goes: no write or rename can replace it
      await mkdir(caPath, { recursive: true });
      await writeFile(`${caPath}/keep`, "x");
      const steps = renderNodeSteps(config, {
        containerd: "platform",
        sandbox: { root: sandbox.root },
      });
      const runs = await sandbox.run(steps, { D8_NODE_HOSTNAME: "worker-1" });
      const hosts = runs.find(r => r.name.includes("containerd-hosts"));
      expect(hosts?.code, "the hosts step must fail on the CA write").not.toBe(0);
      expect(existsSync(`${dirname(caPath)}/hosts.toml`)).toBe(false);
    });
  }
});
