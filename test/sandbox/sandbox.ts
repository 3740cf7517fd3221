// The sandbox engine: the lab control plane (etcd + kube-apiserver, the BUILT module under real
// addon-operator) with five real nodes (./nodes.ts: network namespaces on a bridge, containerd
// 1.6 each, the per-node balancer), bashible on each (./bashible.ts: the module's node steps, for
// real), two upstream registries holding a generated release, and the pull loop
// (./pull-loop.ts) running through every switch.
//
//   const sb = await startSandbox({});
//   const report = await sb.runScenario(scenario, { onSnapshot, onPull });
//   await sb.close();       // always: processes, namespaces, bridge, temp dirs
//
// `runSandbox` does the three for the CLI (./cli.ts, `npm run sandbox`).
//
// What still plays an actor against the API instead of running it (test/lab/actors.ts): the
// Deployment controller (rollout status), deckhouse following deckhouse-registry, and the
// masters' nodeservices-manager + kubelet (mirror pods). Nodes and their containerd are real.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import type { KubeObject } from "../../lib/runtime/types";
import { renderNodeSteps } from "../node/steps/steps";
import {
  createCa,
  issueServerCert,
  pushImage,
  type Registry,
  startRegistry,
  stopAll,
  writeOciLayout,
  type CertificateAuthority,
  type OciLayout,
} from "../e2e-lab";
import { ClusterActors, roundLoop, type RoundLoop } from "../lab/actors";
import { exampleGlobalValues, startAddonOperator, type AddonOperator } from "../lab/addon-operator";
import {
  exampleClusterObjects,
  seedObjects,
  seedStaticCluster,
  withInternalIPs,
  type LabObject,
} from "../lab/cluster";
import { startControlPlane, type ControlPlane } from "../lab/control-plane";
import { BashibleActors } from "./bashible";
import { buildImageBundles } from "../../images/build";
import { startInCluster, type InCluster } from "./incluster";
import { startMasters, type Masters, type SandboxMaster } from "./masters";
import { startNodes, type Nodes, type SandboxNode } from "./nodes";
import { startPullLoop, type PullLoop } from "./pull-loop";
import { pullBundle, pushBundle } from "./local-fill";
import { followDeckhouseRegistry } from "./registry-names";
import { rssSampler } from "./rss";
import type {
  FaultName,
  LiveSnapshot,
  PullRecord,
  RegistrySettings,
  RunSandbox,
  SandboxReport,
  Scenario,
  ScenarioStep,
  StepResult,
  UpstreamName,
} from "./types";
import { buildReport } from "./report";
import { fillUpstream, settingsLabel } from "./scenario";

const NS = "d8-system";
/** Repository of the release in both upstreams. Stock containerd cannot rewrite paths (ADR 0120):
 * the edition path `deckhouse/ee` is followed by `system/deckhouse`, reached with override_path. */
export const RELEASE_PATH = {
  ee: "deckhouse/ee/system/deckhouse",
  ce: "deckhouse/ce/system/deckhouse",
};
export const RELEASE_TAG = "v1.71.0";
const EE_USER = { username: "puller", password: "sandbox-pu11er-pass" };
const MANAGED_BASE = "registry.d8-system.svc:5001/system/deckhouse";

export interface SandboxOptions {
  /** /24 prefix of the sandbox's bridge, e.g. "10.213.42" */
  subnet?: string;
  /** per-switch convergence bound; default 300 s */
  switchTimeoutMs?: number;
  /** how long the pull loop keeps going after a switch converged; default 2 s */
  tailMs?: number;
  /** pull loop interval; default 1 s */
  pullIntervalMs?: number;
  /** the in-cluster client pulls too (through the fixed address); default true */
  inClusterClient?: boolean;
}

export interface Observer {
  onSnapshot(s: LiveSnapshot): void;
  onPull(r: PullRecord): void;
  onStep?(o: StepOutcome): void;
}

export interface RegistryState {
  mode: string;
  target_mode: string;
  conditions: { type: string; status: string; message?: string }[];
}

/** One step as the engine saw it; `stepResult` turns it into the report's StepOutcome. */
export interface StepOutcome {
  step: ScenarioStep;
  from: string;
  to: string;
  converged: boolean;
  seconds: number;
  hookRuns: number;
  pulls: PullRecord[];
  /** refused steps: the API server's message */
  refusal?: string;
  /** switches to Local: how its registries were filled */
  fill?: LocalFill;
  error?: string;
}

/** How a switch to Local filled the masters' registries (mirror pull, then push to one master). */
export interface LocalFill {
  source: UpstreamName;
  /** the master whose gateway took the push */
  master: string;
  pullSeconds: number;
  /** the summary lines of `mirror pull` and `mirror push` */
  pulled: string;
  pushSeconds?: number;
  pushAttempts?: number;
  pushed?: string;
}

export interface Upstream {
  name: UpstreamName;
  registry: Registry;
  /** `<host:port>/<path>`: what settings name as imagesRepo */
  imagesRepo: string;
  ca: string;
  user?: { username: string; password: string };
  /** the upstream-down fault: stops the registry, then starts it again on the same port */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface Release {
  platform: string;
  modules: string[];
  /** in both upstreams, named by nothing in the cluster: no Proxy has it cached */
  uncached: string;
}

export interface StartTimings {
  totalMs: number;
  nodesMs: number;
  controlPlaneMs: number;
  operatorSettledMs: number;
}

export interface Sandbox {
  dir: string;
  nodes: Nodes;
  cp: ControlPlane;
  upstreams: Record<UpstreamName, Upstream>;
  release: Release;
  timings: StartTimings;
  bashible: BashibleActors;
  masters: Masters;
  inCluster: InCluster;
  readState(): Promise<RegistryState | undefined>;
  /** The image references the cluster uses now (deckhouse-registry address + path, by digest). */
  currentImages(): Promise<string[]>;
  runScenario(scenario: Scenario, observer: Observer): Promise<SandboxReport>;
  results: StepOutcome[];
  /** highest resident memory of the sandbox's whole process tree seen so far, bytes */
  peakRssBytes(): number;
  close(): Promise<void>;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");
const fromB64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

/** `spec.settings.registry` with the named upstream's address, CA and user filled in. */
export function resolveSettings(
  settings: RegistrySettings,
  upstream: Upstream | undefined,
): Record<string, unknown> | undefined {
  if (settings === "legacy") return undefined;
  if (!upstream) return structuredClone(settings);
  const filled = fillUpstream(settings, {
    imagesRepo: upstream.imagesRepo,
    scheme: "HTTPS",
    ca: upstream.ca,
    ...upstream.user,
  });
  return filled === "legacy" ? undefined : filled;
}

function targetModeOf(settings: RegistrySettings): string {
  return settings === "legacy" ? "Unmanaged" : String(settings.mode ?? "Unmanaged");
}

function finished(state: RegistryState | undefined, mode: string): boolean {
  return (
    state !== undefined &&
    state.mode === mode &&
    state.target_mode === mode &&
    state.conditions.length > 0 &&
    state.conditions.every(c => c.status === "True")
  );
}

/** The report's view of one step (report.ts builds the JSON from these and the pulls). */
export function stepResult(o: StepOutcome): StepResult {
  return {
    name: o.step.name,
    converged: o.converged,
    seconds: Math.round(o.seconds * 10) / 10,
    hookRuns: o.hookRuns,
    ...(o.refusal !== undefined ? { refusal: o.refusal } : {}),
  };
}

/** The `--report` JSON of the steps played so far. */
export function reportOf(scenario: Scenario, outcomes: readonly StepOutcome[]): SandboxReport {
  return buildReport(
    scenario,
    outcomes.map(stepResult),
    outcomes.flatMap(o => o.pulls),
  );
}

/**
 * Steps the engine cannot play, as `FILE:LINE: why`: `upstream-down` anywhere but in Proxy (its
 * point is what a Proxy's cache still serves; in Direct every pull would fail, and during a
 * switch the switch could not converge). Checked before anything starts, so a scenario fails at
 * once instead of after minutes.
 */
export function unplayableSteps(scenario: Scenario): string[] {
  let mode = "legacy Unmanaged";
  return scenario.steps.flatMap(step => {
    const at = `${scenario.file}:${step.line}`;
    const out: string[] = [];
    if (step.kind === "fault" && step.fault === "upstream-down") {
      if (step.settings !== undefined)
        out.push(`${at}: upstream-down during a switch: give it no settings, it plays in Proxy`);
      else if (mode !== "Proxy") out.push(`${at}: upstream-down in ${mode}: it plays in Proxy`);
    }
    if (step.kind !== "refused" && step.settings !== undefined) mode = settingsLabel(step.settings);
    return out;
  });
}

/**
 * The CLI's entry point (`npm run sandbox`): starts the sandbox, plays the scenario, reports each
 * step as it ends, and always closes — also when the signal aborts (Ctrl-C) or a step fails.
 */
export const runSandbox: RunSandbox = async (scenario, callbacks) => {
  const unplayable = unplayableSteps(scenario);
  if (unplayable.length > 0)
    throw new Error(
      `the engine cannot play these steps yet (nothing was started):\n${unplayable.join("\n")}`,
    );
  const sb = await startSandbox({});
  // the issue's closing figures beside the report: start time here, peak RSS at the end
  const t = sb.timings;
  const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  process.stderr.write(
    `sandbox started in ${secs(t.totalMs)} (nodes ${secs(t.nodesMs)}, control plane ` +
      `${secs(t.controlPlaneMs)}, operator settled ${secs(t.operatorSettledMs)})\n`,
  );
  const aborted = new Promise<never>((_, reject) => {
    if (callbacks.signal?.aborted) reject(callbacks.signal.reason);
    callbacks.signal?.addEventListener("abort", () => reject(callbacks.signal?.reason), {
      once: true,
    });
  });
  try {
    await Promise.race([
      sb.runScenario(scenario, {
        onSnapshot: callbacks.onSnapshot,
        onPull: callbacks.onPull,
        onStep: o => callbacks.onStep?.(stepResult(o)),
      }),
      aborted,
    ]);
    const failed = sb.results.find(o => o.error);
    if (failed) throw new Error(`step "${failed.step.name}": ${failed.error}`);
    return sb.results.map(stepResult);
  } finally {
    const peak = sb.peakRssBytes();
    await sb.close();
    process.stderr.write(
      `peak RSS of the sandbox's process tree: ${(peak / 2 ** 20).toFixed(0)} MiB\n`,
    );
  }
};

/**
 * `global.modulesImages.digests` of the sandbox's cluster: the registry module's images (keys as
 * in examples/values.yaml) point at the release's module images, in turn.
 */
export function moduleDigests(
  imageNames: readonly string[],
  modules: readonly string[],
): Record<string, Record<string, string>> {
  return {
    registry: Object.fromEntries(
      imageNames.map((image, i) => [image, modules[i % modules.length] as string]),
    ),
  };
}

/** Where a Deckhouse release image keeps its module images' digests (mirror pull reads it). */
const IMAGES_DIGESTS_FILE = "deckhouse/modules/images_digests.json";

/**
 * The generated release: module images, then the platform image `deckhouse:<tag>` carrying
 * `images_digests.json` with their digests, as a real release does; plus an image the cluster
 * never names (`uncached`: what the upstream-down fault asks a Proxy for).
 */
export async function makeRelease(
  dir: string,
  imageNames: readonly string[],
): Promise<{ platform: OciLayout; modules: OciLayout[]; uncached: OciLayout }> {
  const modules = [
    await writeOciLayout(join(dir, "module-gateway"), {
      seed: "sandbox-gateway",
      tags: ["gateway"],
    }),
    await writeOciLayout(join(dir, "module-distribution"), {
      seed: "sandbox-distribution",
      tags: ["distribution"],
    }),
  ];
  const digests = moduleDigests(
    imageNames,
    modules.map(m => m.digest),
  );
  const platform = await writeOciLayout(join(dir, "platform"), {
    seed: "sandbox-platform",
    tags: [RELEASE_TAG],
    payloadBytes: 256 * 1024,
    files: { [IMAGES_DIGESTS_FILE]: JSON.stringify(digests) },
  });
  const uncached = await writeOciLayout(join(dir, "uncached"), {
    seed: "sandbox-uncached",
    tags: ["uncached"],
  });
  return { platform, modules, uncached };
}

export async function startUpstream(
  name: UpstreamName,
  dir: string,
  hostIp: string,
  ca: CertificateAuthority,
  layouts: { platform: OciLayout; modules: OciLayout[]; uncached: OciLayout },
): Promise<Upstream> {
  const user = name === "ee" ? EE_USER : undefined;
  const tls = await issueServerCert(ca, `upstream-${name}`, { ips: [hostIp] });
  const options = {
    dir: join(dir, `upstream-${name}`),
    name: `upstream-${name}`,
    host: hostIp,
    onSandboxBridge: true,
    tls,
    ...(user ? { htpasswd: { [user.username]: user.password } } : {}),
  };
  const registry = await startRegistry(options);
  const path = RELEASE_PATH[name];
  for (const layout of [...layouts.modules, layouts.platform, layouts.uncached]) {
    await pushImage(layout, registry, path, user ? { creds: user } : {});
  }
  const upstream: Upstream = {
    name,
    registry,
    imagesRepo: `${registry.hostPort}/${path}`,
    ca: ca.certPem,
    ...(user ? { user } : {}),
    stop: () => upstream.registry.stop(),
    // the same address, configuration and storage: what it held before, it holds again
    async start() {
      upstream.registry = await startRegistry({ ...options, port: registry.port });
    },
  };
  return upstream;
}

function deckhouseDeployment(image: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "deckhouse", namespace: NS, labels: { app: "deckhouse" } },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "deckhouse" } },
      template: {
        metadata: { labels: { app: "deckhouse" } },
        spec: { serviceAccountName: "deckhouse", containers: [{ name: "deckhouse", image }] },
      },
    },
  };
}

/** deckhouse-registry as a cluster installed from the EE upstream has it (legacy Unmanaged). */
function legacyRegistrySecret(ee: Upstream): LabObject {
  const [address, ...rest] = ee.imagesRepo.split("/");
  const auth = b64(`${ee.user?.username}:${ee.user?.password}`);
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/dockerconfigjson",
    metadata: { name: "deckhouse-registry", namespace: NS },
    data: {
      address: b64(address ?? ""),
      path: b64(`/${rest.join("/")}`),
      scheme: b64("https"),
      ca: b64(ee.ca),
      ".dockerconfigjson": b64(JSON.stringify({ auths: { [address ?? ""]: { auth } } })),
    },
  } as unknown as LabObject;
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const t0 = Date.now();
  const dir = await mkdtemp(join(tmpdir(), "rsbx-"));
  const cleanups: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  };
  // Ctrl-C: clean up like close() does, then leave with the signal's status
  const onSignal = (signal: NodeJS.Signals) => {
    void closeAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  cleanups.push(async () => {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  });
  try {
    const nodes = await startNodes({ dir, ...(opts.subnet ? { subnet: opts.subnet } : {}) });
    cleanups.push(() => nodes.close());
    const nodesMs = Date.now() - t0;

    const ca = await createCa(join(dir, "pki-upstreams"), "sandbox upstreams CA");
    const globalValues = structuredClone(exampleGlobalValues()) as {
      modulesImages: { digests: Record<string, Record<string, string>> };
    };
    const imageNames = Object.keys(globalValues.modulesImages.digests.registry ?? {});
    const layouts = await makeRelease(join(dir, "release"), imageNames);
    const upstreams = {
      ee: await startUpstream("ee", dir, nodes.hostIp, ca, layouts),
      ce: await startUpstream("ce", dir, nodes.hostIp, ca, layouts),
    };
    const release: Release = {
      platform: layouts.platform.digest,
      modules: layouts.modules.map(m => m.digest),
      uncached: layouts.uncached.digest,
    };

    const tCp = Date.now();
    const cp = await startControlPlane({ dir: join(dir, "cp") });
    cleanups.push(() => cp.stop());
    const ips = Object.fromEntries(nodes.list.map(n => [n.name, n.ip]));
    const cluster = withInternalIPs(exampleClusterObjects(), ips).map(o =>
      o.kind === "Secret" && o.metadata.name === "deckhouse-registry"
        ? legacyRegistrySecret(upstreams.ee)
        : o,
    );
    await seedStaticCluster(cp, cluster);
    await seedObjects(cp, [
      // by the release tag, as a real cluster runs it: checkMode Relax checks only this image
      // and requires a tag (a digest here left Direct (CE, Relax) stuck at "Initializing")
      deckhouseDeployment(`${MANAGED_BASE}:${RELEASE_TAG}`) as unknown as LabObject,
    ]);
    const controlPlaneMs = Date.now() - tCp;

    // the nodes as the platform left them before the module manages them: containerd reads
    // registry.d, where the EE upstream (deckhouse-registry) is configured
    const bashible = new BashibleActors(cp, nodes.list);
    const legacy = {
      mode: "Unmanaged" as const,
      version: "legacy",
      imagesBase: upstreams.ee.imagesRepo,
      proxyEndpoints: [],
      hosts: {
        [upstreams.ee.registry.hostPort]: {
          mirrors: [
            {
              host: upstreams.ee.registry.hostPort,
              scheme: "https" as const,
              ca: upstreams.ee.ca,
              auth: { ...EE_USER, auth: b64(`${EE_USER.username}:${EE_USER.password}`) },
            },
          ],
        },
      },
    };
    await Promise.all(
      nodes.list.map(n =>
        bashible.apply(
          n,
          undefined,
          renderNodeSteps(legacy, {
            containerd: "stock",
            node: { name: n.name },
            sandbox: { root: n.root },
          }).filter(s => s.name !== "registry-version"),
        ),
      ),
    );

    // the cluster runs the release's module images: the same map as its images_digests.json
    globalValues.modulesImages.digests = moduleDigests(imageNames, release.modules);

    const bundles = await buildImageBundles(join(dir, "bundles"));
    const masters = await startMasters(cp, nodes.list, dir, bundles);
    cleanups.push(() => masters.stop());
    const inCluster = await startInCluster(cp, nodes, masters, dir, bundles.gateway);
    cleanups.push(() => inCluster.stop());

    const tOp = Date.now();
    const operatorDir = join(dir, "operator");
    /** hook runs of operators killed by the operator-restart fault */
    let priorHookRuns = 0;
    const hookRuns = () => priorHookRuns + operator.hookRuns();
    let operator: AddonOperator = await startAddonOperator({
      cp,
      dir: operatorDir,
      globalValues: globalValues as unknown as Record<string, unknown>,
    });
    cleanups.push(() => operator.stop());
    const actors = new ClusterActors(cp, {
      nodes: false,
      nodeServices: false,
      ownDeployments: ["registry-incluster-proxy"],
    });
    const actorsLoop: RoundLoop = actors.loop(300);
    cleanups.push(() => actorsLoop.stop());
    const bashibleLoop: RoundLoop = roundLoop(() => bashible.round(), 500);
    cleanups.push(() => bashibleLoop.stop());

    const readState = async (): Promise<RegistryState | undefined> => {
      const r = await cp
        .kubectl(["get", "-n", NS, "secret", "registry-state", "-o", "json"])
        .catch(() => undefined);
      if (!r) return undefined;
      const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
      return {
        mode: fromB64(data.mode),
        target_mode: fromB64(data.target_mode),
        conditions: (parse(fromB64(data.conditions)) as RegistryState["conditions"] | null) ?? [],
      };
    };
    const waitFinished = async (mode: string, timeoutMs: number, changedFrom?: string) => {
      const deadline = Date.now() + timeoutMs;
      let changed = changedFrom === undefined;
      let state: RegistryState | undefined;
      while (Date.now() < deadline) {
        state = await readState();
        if (JSON.stringify(state) !== changedFrom) changed = true;
        if (changed && finished(state, mode)) return state as RegistryState;
        await new Promise(r => setTimeout(r, 250));
      }
      const stuck = state?.conditions.find(c => c.status !== "True");
      const deployments = await cp
        .kubectl([
          "get",
          "deployments",
          "-n",
          NS,
          "-o",
          "jsonpath={range .items[*]}{.metadata.name} generation={.metadata.generation} observed={.status.observedGeneration} updated={.status.updatedReplicas}/{.spec.replicas}; {end}",
        ]) // prettier-ignore
        .then(
          r => r.stdout,
          (e: Error) => e.message,
        );
      throw new Error(
        `switch to ${mode}: not finished within ${timeoutMs} ms; mode=${state?.mode} ` +
          `target_mode=${state?.target_mode}, stuck at ${stuck ? `${stuck.type}: ${stuck.message ?? ""}` : "no condition"}` +
          `\nbashible: ${bashibleLoop.errors.slice(-2).join("; ")}` +
          `\nactors: ${actorsLoop.errors.slice(-2).join("; ")}` +
          `\nkubelet: ${masters.kubeletErrors().slice(-2).join("; ")}` +
          `\nin-cluster: ${inCluster.errors().slice(-2).join("; ")}` +
          `\ndeployments: ${deployments}` +
          `\noperator errors:\n${operator.errors().slice(-3).join("\n")}`,
      );
    };
    await waitFinished("Unmanaged", 240_000);
    const operatorSettledMs = Date.now() - tOp;

    // the names clients pull by: deckhouse-registry as the API server sends its changes; the
    // in-cluster client's resolver catches up before a changed Secret is handed out
    const names = await followDeckhouseRegistry(cp.kubeConfig(), {
      images: base => [`${base}@${release.platform}`, `${base}@${release.modules[0]}`],
      beforeChange: () => inCluster.syncEndpoints(),
    });
    cleanups.push(() => names.stop());
    const currentImages = async (): Promise<string[]> => names.images();

    const nodeVersions = async (): Promise<Record<string, string | undefined>> => {
      const r = await cp.kubectl(["get", "nodes", "-o", "json"]);
      const items = (JSON.parse(r.stdout) as { items: KubeObject[] }).items;
      return Object.fromEntries(
        items.map(n => [
          n.metadata.name,
          n.metadata.annotations?.["registry.deckhouse.io/version"],
        ]),
      );
    };

    const results: StepOutcome[] = [];
    /** when a fault killed a server (master-down): pulls in flight then may fail with it */
    const faultAt: number[] = [];
    /** the upstream-down fault: the image no Proxy has cached, pulled beside the others */
    const outage: { image?: string; downAt?: number; upAt?: number } = {};
    /** the upstream the cluster reads now (the last step that named one and converged) */
    let currentUpstream: UpstreamName | undefined;

    /**
     * `mirror pull` of the release from the step's upstream (ee when it names none) into a bundle,
     * and the push that fills the masters' registries once the switch has started them.
     */
    const pullLocalBundle = async (step: ScenarioStep) => {
      const source = upstreams[step.upstream ?? "ee"];
      const bundle = join(dir, `bundle-${source.name}`);
      const pulled = await pullBundle(source, RELEASE_TAG, bundle);
      const master = masters.list[0] as SandboxMaster;
      const fill: LocalFill = {
        source: source.name,
        master: master.node.name,
        pullSeconds: pulled.seconds,
        pulled: pulled.stdout,
      };
      const push = async () => {
        const pushed = await pushBundle(cp, `${master.node.ip}:5001`, bundle, {
          timeoutMs: opts.switchTimeoutMs ?? 300_000,
          caFile: join(dir, "module-ca.crt"),
        });
        Object.assign(fill, {
          pushSeconds: pushed.seconds,
          pushAttempts: pushed.attempts,
          pushed: pushed.stdout,
        });
      };
      return { fill, push };
    };

    /**
     * The upstream-down fault: the upstream stops for `downMs` while the pull loop also asks for
     * an image no Proxy has cached. Cached images must keep pulling; the uncached one fails (an
     * expected failure) and must pull on every puller once the upstream is back.
     */
    const upstreamOutage = async (up: Upstream, pulls: readonly PullRecord[], downMs: number) => {
      const base = ((await currentImages())[0] ?? "").split("@")[0];
      const image = `${base}@${release.uncached}`;
      const pullers = [
        ...nodes.list.map(n => n.name),
        ...(opts.inClusterClient === false ? [] : ["in-cluster"]),
      ];
      let stopped = false;
      try {
        outage.upAt = undefined;
        outage.image = image;
        await up.stop();
        stopped = true;
        outage.downAt = Date.now();
        await new Promise(r => setTimeout(r, downMs));
        await up.start();
        stopped = false;
        const upAt = Date.now();
        outage.upAt = upAt;
        const ofImage = () => pulls.filter(p => p.image === image);
        const deadline = upAt + 120_000;
        for (;;) {
          const recovered = new Set(
            ofImage()
              .filter(p => p.ok && p.time >= upAt)
              .map(p => p.node),
          );
          const missing = pullers.filter(n => !recovered.has(n));
          if (missing.length === 0) break;
          if (Date.now() > deadline) {
            const last =
              ofImage()
                .filter(p => !p.ok)
                .at(-1)?.error ?? "no failure";
            throw new Error(
              `upstream-down: ${image} did not pull within 120 s of the upstream's return on ${missing.join(", ")}; last error: ${last}`,
            );
          }
          await new Promise(r => setTimeout(r, 500));
        }
        if (!ofImage().some(p => !p.ok && p.time < upAt))
          throw new Error(
            `upstream-down: ${image} pulled while the upstream was down: it was cached, the fault showed nothing`,
          );
      } finally {
        outage.image = undefined;
        if (stopped) await up.start();
      }
    };

    const runStep = async (step: ScenarioStep, observer: Observer): Promise<StepOutcome> => {
      const before = await readState();
      const from = before ? `${before.mode}` : "unknown";
      const settings = step.kind === "fault" ? step.settings : step.settings;
      const upstream = step.upstream ? upstreams[step.upstream] : undefined;
      const to = settings === undefined ? from : targetModeOf(settings);
      let mode = before?.mode ?? "";
      // Local: the user pulls the bundle first (before the patch, outside the switch's time)
      const local =
        step.kind !== "refused" && settings !== undefined && to === "Local"
          ? await pullLocalBundle(step)
          : undefined;
      const pulls: PullRecord[] = [];
      const loop: PullLoop = startPullLoop({
        targets: [
          ...nodes.list.map(n => ({
            name: n.name,
            socket: n.socket,
            downSince: (t: number) => n.containerdDownSince(t),
          })),
          ...(opts.inClusterClient === false
            ? []
            : [
                {
                  name: "in-cluster",
                  pull: (image: string) =>
                    inCluster.pull(image, names.access(image.split("/")[0] ?? "")),
                },
              ]),
        ],
        images: () => (outage.image ? [...names.images(), outage.image] : names.images()),
        context: () => ({ mode, step: step.name }),
        intervalMs: opts.pullIntervalMs ?? 1_000,
        // a pull already in flight when a fault killed what served it fails with it
        // and while the upstream is down, the uncached image cannot be fetched by anyone
        expectFailure: (image, startedAt) =>
          faultAt.some(t => t >= startedAt) ||
          (image === outage.image && startedAt < (outage.upAt ?? Infinity)),
        onPull: r => {
          pulls.push(r);
          observer.onPull(r);
        },
      });
      const started = Date.now();
      const hookRunsBefore = hookRuns();
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const state = await readState().catch(() => undefined);
          if (state) mode = state.mode;
          observer.onSnapshot({
            step: step.name,
            mode: state?.mode ?? "",
            targetMode: state?.target_mode ?? "",
            conditions: state?.conditions ?? [],
            nodeVersions: await nodeVersions().catch(() => ({})),
            pulls: { attempted: pulls.length, failed: pulls.filter(p => !p.ok).length },
            elapsedSeconds: (Date.now() - started) / 1000,
          });
          await new Promise(r => setTimeout(r, 1_000));
        }
      })();
      const result: StepOutcome = {
        step,
        from,
        to,
        converged: false,
        seconds: 0,
        hookRuns: 0,
        pulls,
        ...(local ? { fill: local.fill } : {}),
      };
      const fill = local?.push;
      try {
        if (step.kind === "refused") {
          const spec = await moduleConfigSpec();
          const refusal = await patchSettings(resolveSettings(step.settings, upstream)).then(
            () => undefined,
            (err: Error) => err.message,
          );
          if (refusal === undefined)
            throw new Error(`${step.name}: the API server accepted the patch`);
          result.refusal = refusal;
          // the pull loop watches a few rounds: nothing may change
          await new Promise(r => setTimeout(r, 3_000));
          const after = await readState();
          if (
            JSON.stringify(after) !== JSON.stringify(before) ||
            (await moduleConfigSpec()) !== spec
          )
            throw new Error(`${step.name}: refused, yet registry-state or ModuleConfig changed`);
          result.converged = true;
        } else if (step.kind === "switch") {
          await patchSettings(resolveSettings(step.settings, upstream));
          await fill?.();
          await waitFinished(to, opts.switchTimeoutMs ?? 300_000, JSON.stringify(before));
          result.converged = true;
        } else {
          const patch = settings === undefined ? undefined : resolveSettings(settings, upstream);
          await runFault(step.fault, { patch, to, before, fill, pulls });
          result.converged = true;
        }
        if (step.kind !== "refused" && settings !== undefined) currentUpstream = step.upstream;
        result.seconds = (Date.now() - started) / 1000;
        await new Promise(r => setTimeout(r, opts.tailMs ?? 2_000));
      } catch (err) {
        result.error = err instanceof Error ? err.message : String(err);
        result.seconds = (Date.now() - started) / 1000;
      } finally {
        watching = false;
        await watcher;
        await loop.stop();
        result.hookRuns = hookRuns() - hookRunsBefore;
      }
      return result;
    };

    /** Waits until the orchestrator has taken up a new target: the switch is under way. */
    const waitUnderway = async (before: RegistryState | undefined) => {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        const s = await readState();
        if (JSON.stringify(s) !== JSON.stringify(before) && s && !finished(s, s.target_mode))
          return;
        await new Promise(r => setTimeout(r, 200));
      }
      throw new Error("the switch did not start within 120 s");
    };

    /**
     * A fault during the step's switch (or, without settings, during an observation window of
     * the current mode); the switch must still converge.
     */
    const runFault = async (
      fault: FaultName,
      {
        patch,
        to,
        before,
        fill,
        pulls,
      }: {
        patch: Record<string, unknown> | undefined;
        to: string;
        before: RegistryState | undefined;
        /** a switch to Local: pushes the bundle once the masters' registries are up */
        fill: (() => Promise<void>) | undefined;
        pulls: readonly PullRecord[];
      },
    ) => {
      const observeMs = 15_000;
      const timeout = opts.switchTimeoutMs ?? 300_000;
      const switchAndWait = async (midway: () => Promise<void>) => {
        if (patch === undefined) {
          await midway();
          await new Promise(r => setTimeout(r, observeMs));
          return;
        }
        await patchSettings(patch);
        await waitUnderway(before);
        await midway();
        await fill?.();
        await waitFinished(to, timeout, JSON.stringify(before));
      };
      if (fault === "master-down") {
        const master = masters.list[0] as SandboxMaster;
        faultAt.push(Date.now());
        await master.killPod();
        try {
          await switchAndWait(async () => undefined);
        } finally {
          master.resume();
        }
      } else if (fault === "containerd-restart") {
        const worker = nodes.list.filter(n => n.role === "worker").at(-1) as SandboxNode;
        await switchAndWait(() => worker.restartContainerd());
      } else if (fault === "operator-restart") {
        await switchAndWait(async () => {
          priorHookRuns += operator.hookRuns();
          await operator.kill();
          operator = await startAddonOperator({
            cp,
            dir: operatorDir,
            globalValues: globalValues as unknown as Record<string, unknown>,
            layout: false,
          });
        });
      } else {
        if (patch !== undefined || currentUpstream === undefined)
          throw new Error(
            "upstream-down is a fault in a mode that reads an upstream, not during a switch",
          );
        await upstreamOutage(upstreams[currentUpstream], pulls, observeMs);
      }
    };

    const moduleConfigSpec = async () =>
      (
        await cp.kubectl([
          "get",
          "moduleconfigs.deckhouse.io",
          "deckhouse",
          "-o",
          "jsonpath={.spec}",
        ])
      ).stdout;

    const patchSettings = async (registry: Record<string, unknown> | undefined) => {
      await cp.kubectl([
        "patch", "moduleconfigs.deckhouse.io", "deckhouse", "--type=json", "-p",
        JSON.stringify([
          { op: "replace", path: "/spec/settings", value: registry ? { registry } : {} },
        ]),
      ]); // prettier-ignore
    };

    const rss = rssSampler();
    cleanups.push(async () => rss.stop());
    let closed = false;
    const sandbox: Sandbox = {
      dir,
      nodes,
      cp,
      upstreams,
      release,
      bashible,
      masters,
      inCluster,
      timings: { totalMs: Date.now() - t0, nodesMs, controlPlaneMs, operatorSettledMs },
      readState,
      currentImages,
      results,
      peakRssBytes: () => rss.peakBytes(),
      async runScenario(scenario, observer) {
        for (const step of scenario.steps) {
          const r = await runStep(step, observer);
          results.push(r);
          observer.onStep?.(r);
          if (r.error) break;
        }
        return reportOf(scenario, results);
      },
      async close() {
        if (closed) return;
        closed = true;
        await closeAll();
      },
    };
    return sandbox;
  } catch (err) {
    await closeAll();
    throw err;
  }
}
