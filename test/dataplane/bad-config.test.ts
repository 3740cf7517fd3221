// Bad configs refuse the start: each built program, run as its container runs it, exits 2 before
// listening on anything, with a message naming every offending field (and no secret in it).
import { mkdir, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Program } from "../../images/build";
import { createCa, createLab, issueServerCert, type Lab, spawnProcess } from "../e2e-lab";
import { bundles } from "./support/masters";
import { user } from "./support/node-config";

let lab: Lab;
let programs: Record<Program, string>;
let cert: { cert: string; key: string };
let otherKey: string;
const ro = user("ro");

async function start(program: Program, args: string[], env: Record<string, string> = {}) {
  const proc = spawnProcess(program, process.execPath, [programs[program], ...args], { env });
  const code = await proc.exited;
  return { code, output: proc.lines.join("\n") };
}

async function configFile(name: string, doc: unknown): Promise<string> {
  const file = lab.path("configs", `${name}.yaml`);
  await writeFile(file, typeof doc === "string" ? doc : stringify(doc));
  return file;
}

function portFree(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

beforeAll(async () => {
  lab = await createLab("dp-bad-config");
  programs = await bundles(lab.path("bundles"));
  await mkdir(lab.path("configs"), { recursive: true });
  const ca = await createCa(lab.path("pki"));
  const c = await issueServerCert(ca, "gw");
  const other = await issueServerCert(ca, "other");
  cert = { cert: c.cert, key: c.key };
  otherKey = other.key;
});
afterAll(async () => lab?.close());

const gatewayDoc = (port: number) => ({
  mode: "local",
  listen: { address: `127.0.0.1:${port}`, tls: { certificate: cert.cert, key: cert.key } },
  monitoring: { address: "127.0.0.1:0" },
  users: [{ name: "ro", passwordHash: ro.passwordHash, role: "ro" }],
  distribution: { url: "http://127.0.0.1:5000" },
});

describe("gateway", () => {
  it("missing and invalid fields: exit 2, every field named, nothing listening", async () => {
    const port = 40000 + Math.floor(Math.random() * 20000);
    const doc = gatewayDoc(port) as Record<string, unknown>;
    delete doc.distribution;
    doc.users = [{ name: "ro", passwordHash: ro.password, role: "reader" }];
    const r = await start("gateway", ["--config", await configFile("gw-bad", doc)]);
    expect(r.code).toBe(2);
    expect(r.output).toContain("users[0].passwordHash: must be a bcrypt hash");
    expect(r.output).toContain(
      'users[0].role: must be one of ro, rw, mirror-puller, mirror-pusher, got \\"reader\\"',
    );
    expect(r.output).toContain("distribution: required");
    expect(r.output).not.toContain(ro.password);
    expect(await portFree(port)).toBe(true);
  });

  it("files it names: unreadable certificate, key of another certificate", async () => {
    const doc = gatewayDoc(0);
    doc.listen.tls = { certificate: lab.path("pki", "missing.crt"), key: otherKey };
    const r = await start("gateway", ["--config", await configFile("gw-files", doc)]);
    expect(r.code).toBe(2);
    expect(r.output).toContain("listen.tls.certificate: cannot read");
    expect(r.output).toContain("ENOENT");
    const r2 = await start("gateway", [
      "--config",
      await configFile("gw-key", {
        ...gatewayDoc(0),
        listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: otherKey } },
      }),
    ]);
    expect(r2.code).toBe(2);
    expect(r2.output).toContain("listen.tls.key: does not match listen.tls.certificate");
  });

  it("no --config, no file, not YAML", async () => {
    expect((await start("gateway", [])).output).toContain("--config: required");
    const missing = await start("gateway", ["--config", lab.path("nope.yaml")]);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain("cannot read: ENOENT");
    const notYaml = await start("gateway", [
      "--config",
      await configFile("gw-yaml", "mode: [local\npassword: hunter2"),
    ]);
    expect(notYaml.code).toBe(2);
    expect(notYaml.output).toContain("not YAML");
    expect(notYaml.output).not.toContain("hunter2");
  });
});

describe("mirrorer", () => {
  it("missing and invalid fields: exit 2, every field named", async () => {
    const r = await start("mirrorer", [
      "--config",
      await configFile("mr-bad", {
        ca: "relative/ca.crt",
        local: "10.0.0.1",
        remotes: [],
        puller: { name: "mirror-puller", password: "secret-puller-pw" },
        monitoring: { address: "127.0.0.1:0" },
        extra: true,
      }),
    ]);
    expect(r.code).toBe(2);
    for (const expected of [
      "ca: must be an absolute path",
      'local: must be host:port (port 1-65535), got \\"10.0.0.1\\"',
      "remotes: must have at least 1 item(s)",
      "pusher: required",
      "extra: unknown key",
    ]) {
      expect(r.output).toContain(expected);
    }
    expect(r.output).not.toContain("secret-puller-pw");
  });
});

describe("nodeservices-manager", () => {
  it("invalid environment: exit 2, every variable named", async () => {
    const r = await start("nodeservices-manager", [], {
      NODE_NAME: "Master_0",
      HOST_IP: "10.0.0.300",
      IMAGE_GATEWAY: "",
      IMAGE_DISTRIBUTION: "registry:2.8.3",
      IMAGE_MIRRORER: "x:1",
      HEALTH_ADDRESS: "8097",
    });
    expect(r.code).toBe(2);
    for (const expected of [
      "NODE_NAME: must be a DNS subdomain (lower-case)",
      "HOST_IP: must be an IP address",
      "IMAGE_GATEWAY: required",
      'HEALTH_ADDRESS: must be host:port (port 0-65535), got \\"8097\\"',
    ]) {
      expect(r.output).toContain(expected);
    }
  });
});
