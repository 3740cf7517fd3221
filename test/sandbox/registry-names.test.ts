// How the sandbox's clients follow deckhouse-registry (./registry-names.ts), against a real lab
// API server: the names change with the Secret's change, not on a poll, and a changed Secret is
// handed out only after `beforeChange` (the DNS stand-in catching up) has finished.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../e2e-lab";
import { startControlPlane, type ControlPlane } from "../lab/control-plane";
import { followDeckhouseRegistry, readRegistrySecret } from "./registry-names";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const SVC = "registry.d8-system.svc:5001";
const UPSTREAM = "10.213.42.1:34451";

/** deckhouse-registry's data for `address` with user `u`, password `p`. */
function registryData(address: string, path: string, u: string, p: string, ca?: string) {
  const auths = { auths: { [address]: { username: u, password: p, auth: b64(`${u}:${p}`) } } };
  return {
    address: b64(address),
    path: b64(path),
    scheme: b64("https"),
    ".dockerconfigjson": b64(JSON.stringify(auths)),
    ...(ca ? { ca: b64(ca) } : {}),
  };
}

let dir: string;
let cp: ControlPlane;

const patchData = (data: Record<string, string>) =>
  cp.kubectl([
    "patch", "-n", "d8-system", "secret", "deckhouse-registry", "--type=merge",
    "-p", JSON.stringify({ data }),
  ]); // prettier-ignore

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rsbx-names-"));
  cp = await startControlPlane({ dir: join(dir, "cp") });
  await cp.kubectl(["create", "namespace", "d8-system"]);
  await cp.kubectl(["apply", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "deckhouse-registry", namespace: "d8-system" },
      type: "kubernetes.io/dockerconfigjson",
      data: registryData(UPSTREAM, "/deckhouse/ee", "license-token", "ee-secret"),
    }),
  });
}, 120_000);

afterAll(async () => {
  await cp?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("readRegistrySecret", () => {
  it("reads the address, the repository base and the address's credentials and CA", () => {
    const read = readRegistrySecret(registryData(SVC, "/system/deckhouse", "ro", "pw", "PEM"));
    expect(read).toEqual({
      address: SVC,
      base: `${SVC}/system/deckhouse`,
      access: { creds: "ro:pw", ca: "PEM" },
    });
  });

  it("gives no credentials when the docker config names another address", () => {
    const data = { ...registryData(UPSTREAM, "/x", "u", "p"), address: b64(SVC) };
    expect(readRegistrySecret(data).access).toEqual({});
  });
});

describe("followDeckhouseRegistry against a real API server", () => {
  it("hands out a changed Secret only after beforeChange, and follows every change", async () => {
    let changes = 0;
    let release: (() => void) | undefined;
    const names = await followDeckhouseRegistry(cp.kubeConfig(), {
      images: base => [`${base}@sha256:aa`, `${base}@sha256:bb`],
      beforeChange: () => {
        changes += 1;
        return new Promise<void>(resolve => (release = resolve));
      },
    });
    try {
      expect(names.images()).toEqual([
        `${UPSTREAM}/deckhouse/ee@sha256:aa`,
        `${UPSTREAM}/deckhouse/ee@sha256:bb`,
      ]);
      expect(names.access(UPSTREAM)).toEqual({ creds: "license-token:ee-secret" });
      expect(changes).toBe(0);

      await patchData(registryData(SVC, "/system/deckhouse", "ro", "ro-pass", "MODULE CA"));
      await until("beforeChange called", () => changes === 1);
      // the resolver has not caught up yet: clients still get the old names
      expect(names.images()[0]).toBe(`${UPSTREAM}/deckhouse/ee@sha256:aa`);
      expect(names.access(SVC)).toEqual({});
      release?.();
      await until("the new names", () => names.images()[0]?.startsWith(SVC) === true);
      expect(names.access(SVC)).toEqual({ creds: "ro:ro-pass", ca: "MODULE CA" });

      // other credentials at the same address (Local → Direct): the resolver catches up first too
      await patchData(registryData(SVC, "/system/deckhouse", "license-token", "ee", "MODULE CA"));
      await until("beforeChange called again", () => changes === 2);
      expect(names.access(SVC).creds).toBe("ro:ro-pass");
      release?.();
      await until("the new credentials", () => names.access(SVC).creds === "license-token:ee");

      // a change of nothing clients read (a label) hands out nothing new
      await cp.kubectl(["label", "-n", "d8-system", "secret", "deckhouse-registry", "x=y"]);
      await new Promise(r => setTimeout(r, 500));
      expect(changes).toBe(2);
      expect(names.errors).toEqual([]);
    } finally {
      release?.();
      await names.stop();
    }
  }, 60_000);

  it("fails naming the Secret when it does not exist", async () => {
    await cp.kubectl(["delete", "-n", "d8-system", "secret", "deckhouse-registry"]);
    await expect(
      followDeckhouseRegistry(cp.kubeConfig(), { images: base => [base], timeoutMs: 2_000 }),
    ).rejects.toThrow(/Secret d8-system\/deckhouse-registry: no watch event within 2000 ms/);
  }, 30_000);
});
