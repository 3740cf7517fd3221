// Issue 12 item 9: monitoring that can fire. The rendered PrometheusRules go to the real
// Prometheus rule checker and rule unit tester (Debian's `promtool`); the PodMonitors' selectors
// and ports are checked against the static pod and DaemonSet the module really renders, the
// gateway's relay of distribution's metrics against a real distribution, and the hook metrics
// against what the hooks write into their metrics file during a switch.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import bcrypt from "bcryptjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { createCheckerLoopHook } from "../../hooks/checker-loop";
import { parseGatewayConfig } from "../../lib/dataplane/gateway-config";
import { parseMirrorerConfig } from "../../images/mirrorer/src/config";
import { parseManagerSettings } from "../../images/nodeservices-manager/src/config";
import { parseNodeConfig } from "../../lib/dataplane/node-config";
import { PATHS, renderNodeFiles } from "../../images/nodeservices-manager/src/render";
import type { RegistrySession } from "../../lib/checker";
import { createHookTest } from "../../lib/harness/index";
import { renderManifests } from "../../lib/render/manifests";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { deckhouseDeployment, moduleObject, SCHEDULE, testClock } from "../checker/fixtures";
import { startGatewayFromFile, writeGatewayConfig } from "../dataplane/support/gateway";
import { nodeConfigYaml, nodePki, user } from "../dataplane/support/node-config";
import {
  createCa,
  createLab,
  freePort,
  issueServerCert,
  type Lab,
  requireTools,
  run,
  startRegistry,
  stopAll,
} from "../e2e-lab";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { hooksWithReusedKeys } from "../support/reused-keys";
import { globalValues, moduleValues } from "../support/mode-states";

const ALL = ["cert-manager", "ingress-nginx", "operator-prometheus", "registry"];
let lab: Lab;
beforeAll(async () => {
  lab = await createLab("monitoring");
});
afterAll(async () => {
  await stopAll();
  await lab?.close();
});

const rendered = (mode: "Direct" | "Proxy" | "Local") =>
  renderManifests(moduleValues(mode, globalValues({ enabledModules: ALL })));
const byKind = (objects: KubeObject[], kind: string) => objects.filter(o => o.kind === kind);

describe("PrometheusRules through promtool", () => {
  let rulesFile = "";
  beforeAll(async () => {
    requireTools("promtool");
    const groups = byKind(rendered("Local"), "PrometheusRule").flatMap(
      r => (r.spec as { groups: unknown[] }).groups,
    );
    rulesFile = lab.path("rules.yaml");
    await writeFile(rulesFile, stringify({ groups }));
  });

  it("every expression parses and every rule is valid (promtool check rules)", async () => {
    const { stdout } = await run("promtool", ["check", "rules", rulesFile]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
    expect(Number(/SUCCESS: (\d+) rules found/.exec(stdout)?.[1])).toBeGreaterThanOrEqual(7);
  });

  it("the alerts fire on the series the hooks and scrapes produce, and only then (promtool test rules)", async () => {
    const hookLabels = 'hook="orchestrator", module="registry"';
    const stuck = {
      summary: "The registry mode switch has not finished for more than 30 minutes.",
      description:
        "The registry module's Ready condition has been False for more than 30 minutes. The conditions with status False tell what the switch waits for: `d8_registry_condition_status == 0`, or the conditions in Secret d8-system/registry-state.",
    };
    const stuckLabels = {
      severity_level: "6",
      d8_module: "registry",
      d8_component: "orchestrator",
    };
    const tests = {
      rule_files: [rulesFile],
      evaluation_interval: "1m",
      tests: [
        {
          // Ready False since t=0 (lastTransitionTime 0): stuck after 30 min, firing 5 min later
          interval: "1m",
          input_series: [
            { series: `d8_registry_condition_status{type="Ready", ${hookLabels}}`, values: "0x60" },
            {
              series: `d8_registry_condition_last_transition_timestamp_seconds{type="Ready", ${hookLabels}}`,
              values: "0x60",
            },
            {
              series: `up{job="registry-mirrorer", instance="192.0.2.1:5005"}`,
              values: "0x10",
            },
            { series: `up{job="registry-gateway", instance="192.0.2.1:5003"}`, values: "1x10" },
          ],
          alert_rule_test: [
            { eval_time: "20m", alertname: "D8RegistrySwitchIsStuck", exp_alerts: [] },
            {
              eval_time: "40m",
              alertname: "D8RegistrySwitchIsStuck",
              exp_alerts: [{ exp_labels: stuckLabels, exp_annotations: stuck }],
            },
            {
              eval_time: "5m",
              alertname: "D8RegistryPodIsTargetDown",
              exp_alerts: [
                {
                  exp_labels: {
                    instance: "192.0.2.1:5005",
                    job: "registry-mirrorer",
                    severity_level: "5",
                    d8_module: "registry",
                    d8_component: "static-pod",
                  },
                  exp_annotations: {
                    summary: "Prometheus cannot scrape a registry node service.",
                    description:
                      "Prometheus cannot scrape registry-mirrorer at 192.0.2.1:5005 (PodMonitor d8-monitoring/registry-nodeservices-metrics): check the static Pod registry-nodeservices on that master.",
                  },
                },
              ],
            },
          ],
        },
        {
          // Ready True: no stuck alert however old the transition
          interval: "1m",
          input_series: [
            { series: `d8_registry_condition_status{type="Ready", ${hookLabels}}`, values: "1x60" },
            {
              series: `d8_registry_condition_last_transition_timestamp_seconds{type="Ready", ${hookLabels}}`,
              values: "0x60",
            },
          ],
          alert_rule_test: [
            { eval_time: "50m", alertname: "D8RegistrySwitchIsStuck", exp_alerts: [] },
          ],
        },
      ],
    };
    const file = lab.path("rules.test.yaml");
    await writeFile(file, stringify(tests));
    const { stdout } = await run("promtool", ["test", "rules", file]);
    expect(stdout).toContain("SUCCESS");
  });
});

describe("PodMonitors select what the module renders, on the ports the programs serve", () => {
  const HOST_IP = "192.0.2.10";

  it("static pods: selector ⊆ the manager's static pod labels; gw-monitoring / mr-monitoring are the gateway's and mirrorer's monitoring listeners on the node address", async () => {
    const monitors = byKind(rendered("Local"), "PodMonitor");
    const staticMonitor = monitors.find(m => m.metadata.name === "registry-nodeservices-metrics");
    const spec = staticMonitor?.spec as {
      selector: { matchLabels: Record<string, string> };
      namespaceSelector: { matchNames: string[] };
      podMetricsEndpoints: { port: string; path: string; scheme: string }[];
    };
    expect(spec.podMetricsEndpoints.map(e => [e.port, e.path])).toEqual([
      ["gw-monitoring", "/metrics"],
      ["gw-monitoring", "/metrics/distribution"],
      ["mr-monitoring", "/metrics"],
    ]);

    const pki = await nodePki(await createCa(lab.path("pki")), HOST_IP);
    const settings = parseManagerSettings({
      NODE_NAME: "master-0",
      HOST_IP,
      IMAGE_GATEWAY: "g:1",
      IMAGE_DISTRIBUTION: "d:1",
      IMAGE_MIRRORER: "m:1",
    });
    const yaml = nodeConfigYaml(pki, user("ro"), {
      local: {
        rw: user("rw"),
        puller: user("puller"),
        pusher: user("pusher"),
        upstreams: [HOST_IP, "192.0.2.11"],
      },
    });
    const files = renderNodeFiles(parseNodeConfig(yaml, "v1", HOST_IP), settings);
    const file = (path: string) => parse(files.find(f => f.path === path)?.content ?? "");
    const pod = file(PATHS.manifest) as {
      metadata: { namespace: string; labels: Record<string, string> };
      spec: { containers: { name: string; ports?: { name: string; containerPort: number }[] }[] };
    };
    expect(spec.namespaceSelector.matchNames).toContain(pod.metadata.namespace);
    expect(pod.metadata.labels).toMatchObject(spec.selector.matchLabels);
    const port = (name: string) =>
      pod.spec.containers.flatMap(c => c.ports ?? []).find(p => p.name === name)?.containerPort;
    const gateway = parseGatewayConfig(file(`${PATHS.gatewayDir}/config.yaml`));
    const mirrorer = parseMirrorerConfig(file(`${PATHS.mirrorerDir}/config.yaml`));
    // host network: the pod IP Prometheus scrapes is the node address
    expect(gateway.monitoring.address).toEqual({ host: HOST_IP, port: port("gw-monitoring") });
    expect(mirrorer.monitoring.address).toEqual({ host: HOST_IP, port: port("mr-monitoring") });
    expect(gateway.mode === "local" && gateway.distribution.metricsUrl).toBe(
      "http://127.0.0.1:5002/metrics",
    );
  });

  it("manager: selector matches the DaemonSet's pod labels, port http-metrics (its listener is plain HTTP); no https-* port serves HTTP", () => {
    const objects = rendered("Proxy");
    const monitor = byKind(objects, "PodMonitor").find(
      m => m.metadata.name === "registry-nodeservices-manager-metrics",
    );
    const spec = monitor?.spec as {
      selector: { matchLabels: Record<string, string> };
      podMetricsEndpoints: { port: string; scheme: string }[];
    };
    const ds = byKind(objects, "DaemonSet")[0] as KubeObject & {
      spec: {
        template: {
          metadata: { labels: Record<string, string> };
          spec: {
            containers: { name: string; ports?: { name: string; containerPort: number }[] }[];
          };
        };
      };
    };
    expect(ds.spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
    const ports = ds.spec.template.spec.containers.flatMap(c => c.ports ?? []);
    expect(spec.podMetricsEndpoints).toEqual([
      expect.objectContaining({ port: "http-metrics", scheme: "http" }),
    ]);
    expect(ports.find(p => p.name === "http-metrics")?.containerPort).toBe(8097);
    for (const o of objects) expect(JSON.stringify(o)).not.toContain("https-metrics");
  });
});

describe("the gateway relays distribution's metrics", () => {
  it("GET /metrics/distribution on the monitoring listener is distribution's Prometheus page", async () => {
    const debugPort = await freePort();
    const distribution = await startRegistry({
      dir: lab.path("distribution"),
      extraConfig: {
        http: {
          addr: "127.0.0.1:0",
          secret: "s",
          debug: {
            addr: `127.0.0.1:${debugPort}`,
            prometheus: { enabled: true, path: "/metrics" },
          },
        },
      },
    });
    const ca = await createCa(lab.path("gw-pki"));
    const cert = await issueServerCert(ca, "gw");
    const dir = lab.path("gw");
    await mkdir(dir, { recursive: true });
    const config = join(dir, "gateway.yaml");
    await writeGatewayConfig(config, {
      mode: "local",
      listen: { address: "127.0.0.1:0", tls: { certificate: cert.cert, key: cert.key } },
      monitoring: { address: "127.0.0.1:0" },
      users: [{ name: "ro", passwordHash: bcrypt.hashSync("pw", 4), role: "ro" }],
      distribution: {
        url: distribution.url,
        metricsUrl: `http://127.0.0.1:${debugPort}/metrics`,
      },
    });
    const gw = await startGatewayFromFile(config);
    try {
      const res = await fetch(
        `http://127.0.0.1:${gw.addresses.monitoring.port}/metrics/distribution`,
      );
      const text = await res.text();
      expect(res.status).toBe(200);
      expect(text).toMatch(/^go_goroutines \d+/m);
      expect(text).toMatch(/^# TYPE registry_/m);
      // the gateway's own page stays its own
      const own = await (
        await fetch(`http://127.0.0.1:${gw.addresses.monitoring.port}/metrics`)
      ).text();
      expect(own).toContain("registry_gateway_requests_total");
      expect(own).not.toContain("go_goroutines");

      await distribution.stop();
      const down = await fetch(
        `http://127.0.0.1:${gw.addresses.monitoring.port}/metrics/distribution`,
      );
      expect(down.status).toBe(502);
    } finally {
      await gw.stop();
    }
  });
});

describe("hook metrics", () => {
  const metric = (
    list: { name: string; labels: Record<string, string>; value: number; group: string }[],
    name: string,
    labels: Record<string, string> = {},
  ) =>
    list.find(m => m.name === name && Object.entries(labels).every(([k, v]) => m.labels[k] === v));

  it("orchestrator: mode, switch progress and conditions in group registry_orchestrator, through a switch to Direct", async () => {
    const sim = await Simulation.start({
      objects: cluster({ nodes: 3, masters: 1, generation: 1 }),
      globalValues: globalValues(),
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    expect((await sim.converge(10)).converged).toBe(true);
    sim.apply([
      moduleConfig(
        {
          mode: "Direct",
          direct: {
            imagesRepo: "registry.example.com/deckhouse/ee",
            username: "u",
            password: "p4ss-word",
          },
        },
        2,
      ),
    ]);
    await sim.round();
    let m = sim.metrics("orchestrator");
    expect(m.every(x => x.group === "registry_orchestrator")).toBe(true);
    expect(metric(m, "d8_registry_mode", { mode: "Unmanaged", target_mode: "Direct" })?.value).toBe(
      1,
    );
    expect(metric(m, "d8_registry_switch_in_progress")?.value).toBe(1);
    expect(metric(m, "d8_registry_condition_status", { type: "Ready" })?.value).toBe(0);
    expect(
      metric(m, "d8_registry_condition_last_transition_timestamp_seconds", { type: "Ready" })
        ?.value,
    ).toBeGreaterThan(1_700_000_000);

    expect((await sim.converge(80)).converged).toBe(true);
    m = sim.metrics("orchestrator");
    expect(metric(m, "d8_registry_mode", { mode: "Direct", target_mode: "Direct" })?.value).toBe(1);
    // the group was replaced: the Unmanaged → Direct series is gone
    expect(metric(m, "d8_registry_mode", { mode: "Unmanaged" })).toBeUndefined();
    expect(metric(m, "d8_registry_switch_in_progress")?.value).toBe(0);
    expect(metric(m, "d8_registry_condition_status", { type: "Ready" })?.value).toBe(1);
    expect(metric(m, "d8_registry_condition_status", { type: "InClusterProxyReady" })?.value).toBe(
      1,
    );
  }, 120_000);

  it("checker: readiness and queue progress per registry in group registry_checker", async () => {
    // the registry is stubbed: what is under test is what the hook writes into its metrics file
    const missing = new Set(["v1.70.0"]);
    const session = (): RegistrySession => ({
      async check(image) {
        if ([...missing].some(t => image.endsWith(`:${t}`)))
          throw new Error("not found (HTTP 404)");
      },
      close: async () => undefined,
    });
    const clock = testClock();
    const f = await createHookTest({
      hook: createCheckerLoopHook({ deps: { now: clock.now, openRegistry: session } }),
      openapiDir: "openapi",
      globalValues: {
        modulesImages: {
          registry: { base: "registry.d8-system.svc:5001/system/deckhouse" },
          digests: { controlPlaneManager: { kubeApiserver: `sha256:${"a".repeat(64)}` } },
        },
      },
    });
    f.kubeStateSet([
      moduleObject("control-plane-manager", { critical: true, embedded: true }),
      deckhouseDeployment({ deckhouse: "dev.example.com/sys/deckhouse:v1.70.0" }),
    ]);
    f.valuesSet("registry.internal.checker.initialized", true);
    f.valuesSet("registry.internal.checker.params", {
      version: "v1",
      checkMode: "Default",
      registries: {
        "reg.example.com": { address: "reg.example.com/deckhouse/ee", scheme: "HTTPS" },
      },
    });
    for (let i = 0; i < 3; i++) {
      expect((await f.runHook(f.generateScheduleContext(SCHEDULE))).error).toBeUndefined();
      clock.advance(10_000);
    }
    const m = f.metrics();
    expect(m.every(x => x.group === "registry_checker")).toBe(true);
    expect(metric(m, "d8_registry_checker_ready")?.value).toBe(0);
    const reg = { registry: "reg.example.com" };
    expect(metric(m, "d8_registry_checker_items", { ...reg, state: "processed" })?.value).toBe(1);
    expect(metric(m, "d8_registry_checker_items", { ...reg, state: "remaining" })?.value).toBe(1);
    expect(metric(m, "d8_registry_checker_items", { ...reg, state: "failed" })?.value).toBe(1);
  });
});
