// Acceptance, mode Local with three masters: each master's static pod (gateway + stock
// distribution + mirrorer, written by nodeservices-manager, run by the fake kubelet) on its own
// loopback address. `rw` pushes a multi-image bundle through one master's gateway; the mirrorers
// bring the other two to the same content; every master serves pulls; the ACL holds.
import { readdir } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../lib/oci";
import {
  type CertificateAuthority,
  createCa,
  createLab,
  type Lab,
  pushImage,
  requireTools,
  until,
  skopeoCopyToDir,
} from "../e2e-lab";
import { ApiDouble } from "./support/api-double";
import {
  type BundleImage,
  contentOf,
  expectedContent,
  pushBundle,
  writeBundle,
} from "./support/bundle";
import { https } from "./support/gateway";
import { requireContainerSupport } from "./support/kubelet";
import {
  bundles,
  fakeImages,
  type Master,
  masterNode,
  pickLoopbackIPs,
  startMaster,
} from "./support/masters";
import { nodeConfigSecret, nodeConfigYaml, nodePki, user } from "./support/node-config";

let lab: Lab;
let api: ApiDouble;
let ca: CertificateAuthority;
let masters: Master[] = [];
let bundle: BundleImage[];
const clients: RegistryClient[] = [];
const users = {
  ro: user("ro", "ro-pass-1234567", 8),
  rw: user("rw", "rw-pass-1234567", 8),
  puller: user("mirror-puller", "puller-pass-123", 8),
  pusher: user("mirror-pusher", "pusher-pass-123", 8),
};

const client = (m: Master, u: { name: string; password: string }) => {
  const c = new RegistryClient({
    registry: `${m.ip}:5001`,
    ca: ca.certPem,
    username: u.name,
    password: u.password,
  });
  clients.push(c);
  return c;
};
const registryOf = (m: Master) => ({
  hostPort: `${m.ip}:5001`,
  scheme: "https" as const,
  caPem: ca.certPem,
});

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl");
  await requireContainerSupport();
  lab = await createLab("dp-local");
  const fakes = fakeImages(await bundles(lab.path("bundles")));
  ca = await createCa(lab.path("pki"), "registry-ca");
  api = new ApiDouble();
  await api.start();
  const ips = await pickLoopbackIPs(3);
  masters = await Promise.all(
    ips.map((ip, i) =>
      startMaster(api, `master-${i}`, ip, lab.path(`master-${i}`), fakes, {
        MIRRORER_INTERVAL: "1s",
      }),
    ),
  );
  for (const m of masters) {
    api.put("nodes", masterNode(m.name, m.ip));
    const config = nodeConfigYaml(await nodePki(ca, m.ip), users.ro, {
      local: { rw: users.rw, puller: users.puller, pusher: users.pusher, upstreams: ips },
    });
    api.put("secrets", nodeConfigSecret(m.name, config, "local-v1"));
  }
  for (const m of masters) {
    await until(
      `${m.name} configured`,
      async () => m.manager.reconciler.status.decision === "apply",
      { intervalMs: 250 },
    );
    await m.startPod();
  }
  bundle = await writeBundle(lab.path("bundle"), {
    count: 6,
    payloadBytes: 300_000,
    withIndex: true,
  });
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map(c => c.close()));
  for (const m of masters) await m.stop();
  await api?.stop();
  await lab?.close();
});

describe("Local mode, three masters", () => {
  it("every static pod runs gateway, distribution, nginx and a mirrorer towards the two other masters", () => {
    for (const m of masters) {
      expect(m.pod?.manifest.spec.containers.map(c => c.name)).toEqual([
        "gateway",
        "distribution",
        "nginx",
        "mirrorer",
      ]);
    }
  });

  it("rw pushes the bundle through master-0; the mirrorers bring master-1 and master-2 to the same content", async () => {
    const [first, ...others] = masters as [Master, ...Master[]];
    await pushBundle(bundle, registryOf(first), {
      username: users.rw.name,
      password: users.rw.password,
    });
    const expected = expectedContent(bundle);
    expect(await contentOf(client(first, users.puller))).toEqual(expected);
    for (const m of others) {
      const c = client(m, users.puller);
      await until(
        `${m.name} in sync`,
        async () => JSON.stringify(await contentOf(c)) === JSON.stringify(expected),
        { intervalMs: 250, retryErrors: true },
      );
    }
    // the mirrorer reports what it did
    const metrics = await (await fetch(`http://${others[0]?.ip}:5005/metrics`)).text();
    expect(metrics).toMatch(/registry_mirrorer_tags_copied_total [1-9]/);
    expect(metrics).not.toContain(users.puller.password);
  });

  it("each master serves pulls (skopeo with ro), the index with every platform", async () => {
    const indexImage = bundle.find(b => b.layout.manifests.length > 1) as BundleImage;
    for (const m of masters) {
      const dest = lab.path("pulls", m.name);
      await skopeoCopyToDir(lab, `${m.ip}:5001/${indexImage.repository}:${indexImage.tag}`, dest, {
        caPem: ca.certPem,
        creds: `${users.ro.name}:${users.ro.password}`,
        allPlatforms: true,
      });
      const files = await readdir(dest);
      // skopeo's dir: format keeps blobs by hex digest, per-platform manifests as <hex>.manifest.json
      const stored = new Set(files.map(f => f.replace(/\.manifest\.json$/, "")));
      for (const digest of indexImage.layout.blobs.keys()) {
        if (digest !== indexImage.layout.digest) expect(stored).toContain(digest.slice(7));
      }
    }
  });

  it("nginx served every blob read from distribution's storage: distribution's log has no blob GET", () => {
    // pulls, the mirrorers' reads and the index test above all read blobs (docs/adr/0136)
    for (const m of masters) {
      const lines = m.pod?.containers.distribution?.lines ?? [];
      expect(lines.some(l => /"(?:PUT|PATCH|POST) \/v2\//.test(l))).toBe(true);
      expect(lines.filter(l => /"GET \/v2\/\S+\/blobs\/sha256:/.test(l))).toEqual([]);
    }
  });

  it("ro push refused (403), anonymous refused (401), wrong password refused (401)", async () => {
    const m = masters[1] as Master;
    const base = `https://${m.ip}:5001`;
    const roPush = await https(`${base}/v2/system/deckhouse/blobs/uploads/`, {
      ca: ca.certPem,
      method: "POST",
      auth: `${users.ro.name}:${users.ro.password}`,
    });
    expect(roPush.status).toBe(403);
    const err = await pushImage(bundle[0]!.layout, registryOf(m), "system/deckhouse", {
      tag: "by-ro",
      creds: { username: users.ro.name, password: users.ro.password },
    }).catch((e: Error) => e);
    expect(String(err)).toMatch(/denied/i);

    const anonymous = await https(`${base}/v2/system/deckhouse/tags/list`, { ca: ca.certPem });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers["www-authenticate"]).toBe('Basic realm="Deckhouse registry"');
    const wrong = await https(`${base}/v2/system/deckhouse/tags/list`, {
      ca: ca.certPem,
      auth: `${users.rw.name}:nope`,
    });
    expect(wrong.status).toBe(401);
    const ok = await https(`${base}/v2/system/deckhouse/tags/list`, {
      ca: ca.certPem,
      auth: `${users.ro.name}:${users.ro.password}`,
    });
    expect(ok.status).toBe(200);
  });
});
