// mirror push through the data-plane gateway (mode local, in front of stock distribution), as a
// Local-mode push reaches the registry: the `rw` user pushes a bundle and skopeo reads every tag
// back with the source digests; `ro` is refused with a message that says why, and no tag appears.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../images/gateway/src/server";
import { startGatewayFromFile, writeGatewayConfig } from "../dataplane/support/gateway";
import { user } from "../dataplane/support/node-config";
import {
  createCa,
  createLab,
  issueServerCert,
  pushImage,
  requireTools,
  startRegistry,
  writeOciLayout,
  type Lab,
  manifestDigest,
  skopeoRawManifest,
} from "../e2e-lab";
import { mirrorCli as cli, pullArgs, pushArgs, tagsAt as tagsAtRegistry } from "./cli";

const users = { ro: user("ro"), rw: user("rw") };
const cred = (u: { name: string; password: string }) => `${u.name}:${u.password}`;

let lab: Lab;
let gateway: RunningGateway;
let ca: string;
let caFile: string;
let gatewayHost: string;
const digests = new Map<string, string>();

/** Tags behind the gateway (as rw). */
const tagsAt = (repository: string) =>
  tagsAtRegistry(gatewayHost, repository, {
    ca,
    username: users.rw.name,
    password: users.rw.password,
  });

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl");
  lab = await createLab("mirror-gw");
  const authority = await createCa(lab.path("pki"));
  ca = authority.certPem;
  caFile = authority.cert;
  const [source, distribution] = await Promise.all([
    startRegistry({ dir: lab.path("source"), host: "127.0.0.3" }),
    startRegistry({ dir: lab.path("distribution") }),
  ]);
  const cert = await issueServerCert(authority, "gateway");
  const configFile = lab.path("gateway.yaml");
  await writeGatewayConfig(configFile, {
    mode: "local",
    listen: {
      address: "127.0.0.1:0",
      tls: { certificate: cert.cert, key: cert.key },
    },
    monitoring: { address: "127.0.0.1:0" },
    users: [
      { name: users.ro.name, passwordHash: users.ro.passwordHash, role: "ro" },
      { name: users.rw.name, passwordHash: users.rw.passwordHash, role: "rw" },
    ],
    distribution: { url: distribution.url },
  });
  gateway = await startGatewayFromFile(configFile);
  gatewayHost = `127.0.0.1:${gateway.addresses.client.port}`;
  const single = await writeOciLayout(lab.path("img-1"), {
    seed: "gw-1",
    tags: ["v1"],
    payloadBytes: 200_000,
  });
  const multi = await writeOciLayout(lab.path("img-m"), {
    seed: "gw-m",
    tags: ["multi"],
    platforms: ["linux/amd64", "linux/arm64"],
  });
  digests.set("v1", (await pushImage(single, source, "deckhouse/ee")).digest);
  digests.set("multi", (await pushImage(multi, source, "deckhouse/ee")).digest);
  const pulled = await cli(
    pullArgs(`${source.hostPort}/deckhouse/ee`, lab.path("bundle"), {
      tags: ["v1", "multi"],
      plainHttp: true,
    }),
  );
  if (pulled.code !== 0) throw new Error(`pull failed: ${pulled.stderr}`);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await lab?.close();
});

describe("mirror push through the gateway", () => {
  const pushAs = (u: { name: string; password: string }) =>
    pushArgs(lab.path("bundle"), `${gatewayHost}/system/deckhouse`, { creds: cred(u), ca: caFile });

  it("ro is refused: the message says the user may not push; no tag appears", async () => {
    const r = await cli(pushAs(users.ro));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not allowed .*write access, e\.g\. rw/);
    expect(r.stderr).not.toContain(users.ro.password);
    expect(await tagsAt("system/deckhouse")).toEqual([]);
  }, 30_000);

  it("rw pushes; skopeo reads every tag with the source digests", async () => {
    const r = await cli(pushAs(users.rw));
    expect(r.code, r.stderr).toBe(0);
    for (const tag of ["v1", "multi"]) {
      const raw = await skopeoRawManifest(lab, `${gatewayHost}/system/deckhouse:${tag}`, {
        caPem: ca,
        creds: cred(users.ro),
      });
      expect(manifestDigest(raw), tag).toBe(digests.get(tag));
    }
  }, 30_000);
});
