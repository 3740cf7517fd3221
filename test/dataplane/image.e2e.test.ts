// The data-plane image, built for real (images/oci-image.ts: umoci, from scratch) and run for real:
// its layout is read by skopeo, unpacked by umoci, and every container the module starts from it
// — the nodeservices-manager DaemonSet's manager and image holders as the module renders them,
// then the static pod that manager writes (gateway, distribution, mirrorer) — runs chrooted into
// the unpacked root with exactly its pod spec's command, args and env. Nothing of the host is
// visible to them: a missing library, program or symlink fails here.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { simulate } from "../../cli/render";
import {
  buildDataplaneImage,
  type BuiltImage,
  IMAGE_ENTRYPOINTS,
  type ImageName,
} from "../../images/oci-image";
import { PATHS, PORTS } from "../../images/nodeservices-manager/src/render";
import { IMAGES } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import {
  type CertificateAuthority,
  createCa,
  createLab,
  type Lab,
  type LabProcess,
  pushImage,
  requireTools,
  run,
  spawnProcess,
  writeOciLayout,
  until,
} from "../e2e-lab";
import { ApiDouble } from "./support/api-double";
import {
  type Container,
  containerEnv,
  requireContainerSupport,
  resolveCommand,
  type RunningPod,
  runStaticPod,
  type UnpackedImage,
} from "./support/kubelet";
import { masterNode, pickLoopbackIPs } from "./support/masters";
import { nodeConfigSecret, nodeConfigYaml, nodePki, user } from "./support/node-config";

const ROOT = join(import.meta.dirname, "../..");
const BASE = "registry.d8-system.svc:5001/system/deckhouse";
const RUN_CONTAINER = join(import.meta.dirname, "support/run-container.sh");

let lab: Lab;
let built: BuiltImage;
let rootfs: string;
let ca: CertificateAuthority;
/** image reference (base@digest) → the unpacked image with its config */
const images: Record<string, UnpackedImage> = {};
let daemonSet: KubeObject;
const processes: LabProcess[] = [];
let api: ApiDouble | undefined;
let pod: RunningPod | undefined;

interface ImageConfig {
  config: { Entrypoint?: string[]; Cmd?: string[]; Env?: string[] };
  rootfs: { diff_ids: string[] };
}

/**
 * The image CI built (.ci/run: `npm run build:image -- --out DIR`, REGISTRY_DATAPLANE_IMAGE=DIR),
 * or one built here when the test runs alone.
 */
async function builtImage(dir: string): Promise<BuiltImage> {
  const prebuilt = process.env.REGISTRY_DATAPLANE_IMAGE;
  if (!prebuilt) return buildDataplaneImage(dir);
  const digests = JSON.parse(
    await readFile(join(prebuilt, "digests.json"), "utf8"),
  ) as BuiltImage["digests"];
  return { layout: join(prebuilt, "layout"), digests };
}

async function skopeoJson<T>(...args: string[]): Promise<T> {
  return JSON.parse((await run("skopeo", args)).stdout) as T;
}

beforeAll(async () => {
  requireTools("umoci", "skopeo", "docker-registry", "catatonit", "tar", "ldd", "openssl");
  await requireContainerSupport();
  lab = await createLab("dp-image");
  built = await builtImage(lab.path("image"));
  // every name is the same layer: one unpack gives the root of all of them
  await run("umoci", [
    "unpack",
    "--image",
    `${built.layout}:registryGateway`,
    lab.path("unpacked"),
  ]);
  rootfs = lab.path("unpacked", "rootfs");
  for (const name of Object.keys(IMAGE_ENTRYPOINTS) as ImageName[]) {
    const cfg = await skopeoJson<ImageConfig>("inspect", "--config", `oci:${built.layout}:${name}`);
    images[`${BASE}@${built.digests[name]}`] = {
      rootfs,
      ...(cfg.config.Entrypoint ? { entrypoint: cfg.config.Entrypoint } : {}),
      ...(cfg.config.Cmd ? { cmd: cfg.config.Cmd } : {}),
      ...(cfg.config.Env ? { env: cfg.config.Env } : {}),
    };
  }
  // the module as Deckhouse would run it, with the digests of this build in global values
  const values = parse(await readFile(join(ROOT, "examples/values.yaml"), "utf8")) as {
    global: { modulesImages: { digests: { registry: Record<string, string> } } };
  };
  values.global.modulesImages.digests.registry = { ...built.digests };
  await writeFile(lab.path("values.json"), JSON.stringify(values));
  const r = await simulate({
    clusterFile: join(ROOT, "examples/cluster.yaml"),
    valuesFile: lab.path("values.json"),
    moduleDir: ROOT,
    then: [
      join(ROOT, "examples/switch-to-direct.yaml"),
      join(ROOT, "examples/switch-to-proxy.yaml"),
    ],
    maxRuns: 200,
    onRun: () => undefined,
  });
  const ds = ("result" in r ? r.result?.objects : undefined)?.find(
    o => o.kind === "DaemonSet" && o.metadata?.name === "registry-nodeservices-manager",
  );
  if (!ds) throw new Error("the module did not render the nodeservices-manager DaemonSet");
  daemonSet = ds;
  ca = await createCa(lab.path("pki"), "registry-ca");
}, 300_000);

afterAll(async () => {
  await pod?.stop();
  await Promise.all(processes.map(p => p.stop()));
  await api?.stop();
  await lab?.close();
});

const podContainers = () =>
  (daemonSet as unknown as { spec: { template: { spec: { containers: Container[] } } } }).spec
    .template.spec.containers;

/** Starts one DaemonSet container from the unpacked image, as kubelet would. */
function startContainer(c: Container, env: Record<string, string>, mounts: string[] = []) {
  const image = images[c.image];
  if (!image) throw new Error(`container ${c.name}: image ${c.image} is not one this build made`);
  const argv = resolveCommand(c, image);
  const dir = lab.path("kubelet", "daemonset", c.name);
  const envArgs = containerEnv(image, env).flatMap(e => ["--env", e]);
  const p = spawnProcess(c.name, "unshare", [
    "-m",
    "--propagation",
    "private",
    RUN_CONTAINER,
    "--rootfs",
    image.rootfs,
    ...envArgs,
    dir,
    ...mounts,
    "--",
    ...argv,
  ]);
  processes.push(p);
  return p;
}

describe("data-plane image", () => {
  it("is an OCI layout skopeo reads: one manifest per image name, one shared layer, the entrypoints", async () => {
    const index = JSON.parse(await readFile(join(built.layout, "index.json"), "utf8")) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    const refs = Object.fromEntries(
      index.manifests.map(m => [m.annotations["org.opencontainers.image.ref.name"], m.digest]),
    );
    expect(refs).toEqual(built.digests);
    const layers = new Set<string>();
    for (const name of Object.keys(IMAGE_ENTRYPOINTS) as ImageName[]) {
      const info = await skopeoJson<{
        Digest: string;
        Architecture: string;
        Os: string;
        Layers: string[];
      }>("inspect", `oci:${built.layout}:${name}`);
      expect(info.Digest).toBe(built.digests[name]);
      expect([info.Os, info.Architecture]).toEqual(["linux", "amd64"]);
      expect(info.Layers).toHaveLength(1);
      layers.add(info.Layers[0] as string);
      expect(images[`${BASE}@${built.digests[name]}`]?.entrypoint).toEqual(IMAGE_ENTRYPOINTS[name]);
    }
    expect(layers.size).toBe(1);
    const recorded = JSON.parse(
      await readFile(join(built.layout, "..", "digests.json"), "utf8"),
    ) as unknown;
    expect(recorded).toEqual(refs);
  });

  it("holds only what the build put there (from scratch): the executable, its links, distribution, pause, libraries", async () => {
    const { stdout } = await run("find", [rootfs, "-mindepth", "1", "-printf", "%P\\n"]);
    const top = new Set(stdout.split("\n").filter(p => p && !p.includes("/")));
    expect([...top].sort()).toEqual(["etc", "lib", "lib64", "manager", "pause", "tmp", "usr"]);
    const files = stdout.split("\n").filter(Boolean);
    expect(files.filter(f => f.startsWith("lib/") && f.endsWith(".so.6"))).toContain(
      "lib/x86_64-linux-gnu/libc.so.6",
    );
    expect(files.some(f => /^(bin|sbin|usr\/sbin)\b/.test(f) || /\/(sh|bash)$/.test(f))).toBe(
      false,
    );
  });

  it("the module's templates name exactly the images the build produces", () => {
    expect(Object.values(IMAGES).sort()).toEqual(Object.keys(IMAGE_ENTRYPOINTS).sort());
    const refs = new Set<string>();
    for (const c of podContainers()) {
      refs.add(c.image);
      for (const e of (c as { env?: { name: string; value?: string }[] }).env ?? [])
        if (e.name.startsWith("IMAGE_") && e.value) refs.add(e.value);
    }
    // manager, three image holders, IMAGE_GATEWAY/DISTRIBUTION/MIRRORER: all from this build
    expect(refs.size).toBe(4);
    for (const ref of refs) expect(Object.keys(images)).toContain(ref);
  });

  it("the DaemonSet's image holders run the image's /pause until stopped", async () => {
    const holders = podContainers().filter(c => c.name.startsWith("image-holder-"));
    expect(holders).toHaveLength(3);
    const started = holders.map(c => startContainer(c, {}));
    // still running well after start: a missing program or library would have exited at once
    await new Promise(r => setTimeout(r, 1_500));
    for (const p of started) expect(p.running, p.tail()).toBe(true);
    for (const p of started) await p.stop();
  });

  it("the manager runs from the image and writes the static pod, whose containers run from the image and serve", async () => {
    const [ip, other] = await pickLoopbackIPs(2);
    const node = "master-0";
    api = new ApiDouble();
    await api.start();
    const manager = podContainers().find(c => c.name === "manager") as Container & {
      env: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[];
    };
    // kubelet resolves the downward API; KUBECONFIG stands in for the service account (the API
    // is the in-process double); LOOPBACK_ADDRESS keeps the pod's fixed loopback ports off the
    // 127.0.0.1 that other tests on this machine share
    const fields: Record<string, string> = {
      "spec.nodeName": node,
      "status.hostIP": ip as string,
      "metadata.name": "registry-nodeservices-manager-abcde",
      "metadata.namespace": "d8-system",
    };
    const env: Record<string, string> = {};
    for (const e of manager.env) {
      const v = e.valueFrom ? fields[e.valueFrom.fieldRef.fieldPath] : e.value;
      if (v === undefined) throw new Error(`manager env ${e.name}: no value`);
      env[e.name] = v;
    }
    const kube = lab.path("kube");
    await mkdir(kube, { recursive: true });
    await writeFile(
      join(kube, "config"),
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [
          { name: "double", cluster: { server: api.url, "insecure-skip-tls-verify": true } },
        ],
        users: [{ name: "manager", user: { token: "double-token" } }],
        contexts: [{ name: "double", context: { cluster: "double", user: "manager" } }],
        "current-context": "double",
      }),
    );
    Object.assign(env, {
      KUBECONFIG: "/var/run/kube/config",
      LOOPBACK_ADDRESS: ip,
      HEALTH_ADDRESS: `${ip}:8097`,
    });
    const hostEtcKubernetes = lab.path("node", "etc", "kubernetes");
    await mkdir(hostEtcKubernetes, { recursive: true });
    api.put("nodes", masterNode(node, ip as string));
    api.put("pods", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: fields["metadata.name"] as string, namespace: "d8-system" },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    const users = {
      ro: user("ro", "ro-pass-1234567"),
      rw: user("rw", "rw-pass-1234567"),
      puller: user("mirror-puller", "puller-pass-123"),
      pusher: user("mirror-pusher", "pusher-pass-123"),
    };
    const config = nodeConfigYaml(await nodePki(ca, ip as string), users.ro, {
      local: {
        rw: users.rw,
        puller: users.puller,
        pusher: users.pusher,
        upstreams: [ip as string, other as string],
      },
    });
    api.put("secrets", nodeConfigSecret(node, config, "image-v1"));
    const proc = startContainer(manager, env, [
      `${hostEtcKubernetes}:/etc/kubernetes`,
      `${kube}:/var/run/kube:ro`,
    ]);
    const health = await until(
      "manager /healthz",
      async () => {
        if (!proc.running) throw new Error(`manager exited\n${proc.tail()}`);
        const r = await fetch(`http://${ip}:8097/healthz`, { signal: AbortSignal.timeout(1_000) });
        return r.status === 200 ? r.status : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200, retryErrors: true },
    );
    expect(health).toBe(200);
    const manifest = await until(
      "static pod manifest",
      async () => {
        const text = await readFile(join(lab.path("node"), PATHS.manifest), "utf8");
        return text.length > 0 ? text : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, retryErrors: true },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.tail(20)}`);
    });
    expect(manifest).toContain(`config-version: image-v1`);

    // kubelet's part: the static pod, every container from the unpacked image
    pod = await runStaticPod(lab.path("node"), PATHS.manifest, images, lab.path("kubelet"), {
      readyTimeoutMs: 60_000,
    });
    expect(pod.manifest.spec.containers.map(c => c.name)).toEqual([
      "gateway",
      "distribution",
      "nginx",
      "mirrorer",
    ]);
    // the mirrorer has a liveness probe only: wait for it as kubelet's first probe would
    const mirrorerProc = pod.containers.mirrorer as LabProcess;
    const mirrorer = await until(
      "mirrorer /healthz",
      async () => {
        if (!mirrorerProc.running) throw new Error(`mirrorer exited\n${mirrorerProc.tail()}`);
        const r = await fetch(`http://${ip}:${PORTS.mirrorerMonitoring}/healthz`);
        return r.status;
      },
      { timeoutMs: 30_000, intervalMs: 200, retryErrors: true },
    );
    expect(mirrorer).toBe(200);

    // and the data path works: push through nginx and the gateway into distribution, read it
    // back (the config blob through nginx's own path, docs/adr/0110)
    const img = await writeOciLayout(lab.path("payload"), { seed: "image-e2e", tags: ["v1"] });
    const registry = { hostPort: `${ip}:5001`, scheme: "https" as const, caPem: ca.certPem };
    await pushImage(img, registry, "system/deckhouse", {
      tag: "v1",
      creds: { username: users.rw.name, password: users.rw.password },
    });
    const certDir = lab.path("certs");
    await mkdir(certDir, { recursive: true });
    await writeFile(join(certDir, "ca.crt"), ca.certPem);
    const pulled = await skopeoJson<{ Digest: string }>(
      "inspect",
      "--cert-dir",
      certDir,
      "--creds",
      `${users.ro.name}:${users.ro.password}`,
      `docker://${ip}:5001/system/deckhouse:v1`,
    );
    expect(pulled.Digest).toBe(img.digest);
  }, 180_000);
});
