// The image definition and the pins: the bundles build with no network at all, the image
// (images/oci-image.ts; built and run in image.e2e.test.ts) provides every program the manifests
// run, the pins are well-formed and agree with the tested distribution.
import { readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { PROGRAMS } from "../../images/build";
import { MULTI_CALL_NAMES } from "../../images/multi-call-names";
import { IMAGE_PROGRAMS, NGINX } from "../../images/oci-image";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { parseNodeConfig } from "../../lib/dataplane/node-config";
import { PATHS, renderNodeFiles } from "../../images/nodeservices-manager/src/render";
import { imageReference, STOCK_IMAGES } from "../../images/stock-images";
import { createCa, createLab, type Lab, requireTools, run } from "../e2e-lab";
import { nodeConfigYaml, nodePki, user } from "./support/node-config";

let lab: Lab;

beforeAll(async () => {
  lab = await createLab("dp-images");
});
afterAll(async () => lab?.close());

describe("image build", () => {
  it("bundles build and run in a network namespace with no network at all", async () => {
    requireTools("unshare");
    const out = lab.path("bundles");
    await run(
      "unshare",
      ["-n", process.execPath, "--import", "tsx", "images/build.ts", "--out", out],
      {
        cwd: join(import.meta.dirname, "../.."),
      },
    );
    for (const name of Object.keys(PROGRAMS)) {
      const head = (await readFile(join(out, `${name}.mjs`), "utf8")).slice(0, 20);
      expect(head).toBe("#!/usr/bin/env node\n");
    }
    const r = await run("unshare", [
      "-n",
      join(out, "gateway.mjs"),
      "--config",
      "/nonexistent",
    ]).catch((e: { code?: number; stderr?: string; message: string }) => e);
    expect(String((r as { message?: string }).message ?? r)).toContain("cannot read: ENOENT");
  });

  it("the image provides every program the static pod and the DaemonSet run", async () => {
    const settings = parseManagerSettings({
      NODE_NAME: "m",
      HOST_IP: "10.0.0.1",
      IMAGE_GATEWAY: "g:1",
      IMAGE_DISTRIBUTION: "d:1",
      IMAGE_MIRRORER: "g:1",
      ROOT_DIR: "/",
    });
    const ca = await createCa(lab.path("pki"));
    const pki = await nodePki(ca, "10.0.0.1");
    const u = (n: string) => user(n);
    const cfg = parseNodeConfig(
      nodeConfigYaml(pki, u("ro"), {
        local: { rw: u("rw"), puller: u("p1"), pusher: u("p2"), upstreams: ["10.0.0.2"] },
      }),
      "v",
      "10.0.0.1",
    );
    const manifest = renderNodeFiles(cfg, settings).find(f => f.path === PATHS.manifest);
    const pod = parse(manifest?.content ?? "") as {
      spec: {
        containers: {
          image: string;
          command?: string[];
          lifecycle?: { postStart?: { exec?: { command: string[] } } };
        }[];
      };
    };
    const ours = pod.spec.containers.filter(c => c.image === "g:1");
    const programs = new Set(
      ours.flatMap(c => [c.command?.[0], c.lifecycle?.postStart?.exec?.command[0]]).filter(Boolean),
    );
    expect([...programs].sort()).toEqual([
      "/usr/bin/nginx",
      "/usr/local/bin/gateway",
      "/usr/local/bin/mirrorer",
    ]);
    // nginx is Debian's binary in the image, the others names of the one executable
    for (const p of programs) expect([...Object.keys(IMAGE_PROGRAMS), NGINX]).toContain(p);
    // the DaemonSet's command; every name the executable answers to is a program it runs
    expect(Object.keys(IMAGE_PROGRAMS)).toContain("/manager");
    for (const path of Object.keys(IMAGE_PROGRAMS))
      expect(Object.keys(MULTI_CALL_NAMES)).toContain(basename(path));
  });

  it("pins are digests, distribution is the tested minor", async () => {
    for (const image of Object.values(STOCK_IMAGES)) {
      expect(image.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(imageReference(image)).toMatch(
        /^docker\.io\/library\/[a-z]+:[\w.-]+@sha256:[0-9a-f]{64}$/,
      );
    }
    requireTools("docker-registry");
    const { stdout } = await run("docker-registry", ["--version"]);
    const tested = /(\d+\.\d+)\.\d+/.exec(stdout)?.[1];
    expect(STOCK_IMAGES.distribution.tag.startsWith(`${tested}.`)).toBe(true);
  });
});
