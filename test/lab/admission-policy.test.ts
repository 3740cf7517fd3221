// The ValidatingAdmissionPolicy the module renders for ModuleConfig/deckhouse, enforced by the
// REAL kube-apiserver: changes a user makes with `kubectl patch` are refused with the policy's
// message (and nothing is stored), allowed ones are stored. The policy reads the cluster facts
// baked into it at render time (static or cloud, bootstrapped or not, the mode the cluster is in)
// and ModuleConfig/registry as the parameter of its second policy (module disabled); each variant
// is rendered and applied in turn.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderManifests } from "../../lib/render/manifests";
import { CommandError } from "../e2e-lab/process";
import { seedObjects } from "./cluster";
import { startControlPlane, type ControlPlane } from "./control-plane";
import { installLabCrds } from "./crds";
import * as settings from "../support/settings";

type Registry = Record<string, unknown> | undefined;

const { staticCluster, cloudCluster, bootstrapping } = settings.CLUSTER_FACTS;
const anonymous = { imagesRepo: settings.UPSTREAM_REPO };
const direct = settings.direct(anonymous);
const proxy = settings.proxy(anonymous);
const local = settings.LOCAL;
const configurableUnmanaged = settings.unmanaged(anonymous);
const directNewCredentials = settings.direct(settings.withPassword("x"));

const settingsOf = (registry: Registry, extra: Record<string, unknown> = {}) =>
  registry === undefined ? { ...extra } : { ...extra, registry };

const POLICY = "deckhouse-module-registry-validation";
const DISABLED_POLICY = "deckhouse-module-registry-disabled";
const PROXY_TO_LOCAL =
  "Mode transition from Proxy to Local is not supported. Switch to Direct or Unmanaged first.";
const LOCAL_TO_PROXY =
  "Mode transition from Local to Proxy is not supported. Switch to Direct or Unmanaged first.";

let cp: ControlPlane;

/** ModuleConfig/deckhouse with these settings, created anew: CREATE is not what the policy checks. */
async function startFrom(registry: Registry, extra: Record<string, unknown> = {}) {
  await cp.kubectl(["delete", "moduleconfig", "deckhouse", "--ignore-not-found", "--wait=true"]);
  await cp.kubectl(["create", "-f", "-"], {
    input: JSON.stringify({
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "ModuleConfig",
      metadata: { name: "deckhouse" },
      spec: { version: 1, enabled: true, settings: settingsOf(registry, extra) },
    }),
  });
}

/** What a user does: replace spec.settings of ModuleConfig/deckhouse with kubectl. */
function change(
  registry: Registry,
  opts: { extra?: Record<string, unknown>; dryRun?: boolean } = {},
) {
  const patch = [
    { op: "replace", path: "/spec/settings", value: settingsOf(registry, opts.extra) },
  ];
  return cp.kubectl([
    "patch",
    "moduleconfig",
    "deckhouse",
    "--type=json",
    "-p",
    JSON.stringify(patch),
    ...(opts.dryRun ? ["--dry-run=server"] : []),
  ]);
}

async function storedSettings(): Promise<unknown> {
  const { stdout } = await cp.kubectl(["get", "moduleconfig", "deckhouse", "-o", "json"]);
  return (JSON.parse(stdout) as { spec: { settings: unknown } }).spec.settings;
}

/** The refusal message of a change, or undefined when it was admitted. */
async function refusal(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    if (e instanceof CommandError) return e.stderr;
    throw e;
  }
}

/**
 * Renders the policies for these cluster facts and the mode the cluster is in (the orchestrator's
 * state), applies them, and waits until the API server enforces this version: policies reach the
 * admission plugin through an informer, a moment after the write. `probe` is a change, dry-run,
 * from `probeFrom`, that this version answers differently from the one before it: refused with
 * `probeAnswer`, or allowed when `probeAnswer` is "allowed".
 */
async function usePolicy(
  global: Record<string, unknown>,
  actualMode: string,
  probeFrom: Registry,
  probe: Registry,
  probeAnswer: string,
) {
  const orchestrator = { hash: "lab", state: { mode: actualMode } };
  const objects = renderManifests({ global, registry: { internal: { orchestrator } } }).filter(o =>
    o.kind.startsWith("ValidatingAdmissionPolicy"),
  );
  expect(objects.map(o => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
    `ValidatingAdmissionPolicy/${DISABLED_POLICY}`,
    `ValidatingAdmissionPolicy/${POLICY}`,
    `ValidatingAdmissionPolicyBinding/${DISABLED_POLICY}`,
    `ValidatingAdmissionPolicyBinding/${POLICY}`,
  ]);
  await cp.apply(objects, { fieldManager: "registry-module" });
  await startFrom(probeFrom);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const message = await refusal(change(probe, { dryRun: true }));
    if (probeAnswer === "allowed" ? message === undefined : message?.includes(probeAnswer)) return;
    if (Date.now() > deadline)
      throw new Error(`policy not in effect after 60 s: probe answered ${message ?? "allowed"}`);
    await new Promise(r => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  cp = await startControlPlane();
  await installLabCrds(cp);
}, 120_000);
afterAll(async () => cp?.stop());

async function expectAllowed(before: Registry, after: Registry, extra?: Record<string, unknown>) {
  await startFrom(before, extra);
  expect(await refusal(change(after, { extra }))).toBeUndefined();
  expect(await storedSettings()).toEqual(settingsOf(after, extra));
}

async function expectRefused(before: Registry, after: Registry, message: string, policy = POLICY) {
  await startFrom(before);
  const stderr = await refusal(change(after));
  expect(stderr, "refused").toBeDefined();
  expect(stderr).toContain(
    `ValidatingAdmissionPolicy '${policy}' with binding '${policy}' denied request`,
  );
  expect(stderr).toContain(message);
  // nothing stored
  expect(await storedSettings()).toEqual(settingsOf(before));
}

// Transitions are judged from the mode the cluster is in, which the policy carries as rendered
// for the orchestrator's state; each block renders the policy for one such mode. The blocks run in
// an order where each version answers its probe differently from the version before it.
describe("on a bootstrapped static cluster in Proxy", () => {
  beforeAll(() => usePolicy(staticCluster, "Proxy", proxy, local, PROXY_TO_LOCAL), 120_000);

  it("allows Proxy → Direct", () => expectAllowed(proxy, direct));

  it("refuses Proxy → Local at kubectl time with the policy's message", () =>
    expectRefused(proxy, local, PROXY_TO_LOCAL));

  it("refuses Local even when the settings already say Direct (the switch to Direct is not done)", () =>
    expectRefused(direct, local, PROXY_TO_LOCAL));
});

describe("on a bootstrapped static cluster in Direct", () => {
  beforeAll(() => usePolicy(staticCluster, "Direct", proxy, local, "allowed"), 120_000);

  it.each([
    ["Direct → Proxy", direct, proxy],
    ["Direct → Local", direct, local],
    ["Proxy → Local while the switch to Proxy has not happened yet", proxy, local],
  ])("allows %s", (_, before, after) => expectAllowed(before, after));
});

describe("on a bootstrapped static cluster in Local", () => {
  beforeAll(() => usePolicy(staticCluster, "Local", local, proxy, LOCAL_TO_PROXY), 120_000);

  it.each([
    ["Local → Direct", local, direct],
    ["Local → configurable Unmanaged", local, configurableUnmanaged],
  ])("allows %s", (_, before, after) => expectAllowed(before, after));

  it.each([
    ["Local → Proxy", local, proxy, LOCAL_TO_PROXY],
    [
      "Local → legacy Unmanaged",
      local,
      undefined,
      "Mode transition from Local to Unmanaged without the `unmanaged` section is not supported. Switch to Direct or to Unmanaged with an `unmanaged` section first.",
    ],
  ])("refuses %s at kubectl time with the policy's message", (_, before, after, message) =>
    expectRefused(before, after, message),
  );
});

describe("on a bootstrapped static cluster in legacy Unmanaged", () => {
  beforeAll(() => usePolicy(staticCluster, "Unmanaged", local, proxy, "allowed"), 120_000);

  it("allows legacy → Direct", () => expectAllowed(undefined, direct));

  it("refuses any registry change while ModuleConfig/registry disables the module; allows others", async () => {
    await seedObjects(cp, [
      {
        apiVersion: "deckhouse.io/v1alpha1",
        kind: "ModuleConfig",
        metadata: { name: "registry" },
        spec: { version: 1, enabled: false },
      },
    ]);
    const message =
      "Changing, adding, or removing `spec.settings.registry` is forbidden when the registry module is disabled. Please enable the module to make changes.";
    try {
      // the parameter reaches the policy through an informer too
      await startFrom(undefined);
      const deadline = Date.now() + 60_000;
      while (!(await refusal(change(direct, { dryRun: true })))?.includes(message)) {
        if (Date.now() > deadline) throw new Error("ModuleConfig/registry not seen by the policy");
        await new Promise(r => setTimeout(r, 200));
      }
      await expectRefused(undefined, direct, message, DISABLED_POLICY);
      // a change outside spec.settings.registry is not the registry module's business
      await expectAllowed(direct, direct, { logLevel: "Debug" });
    } finally {
      await cp.kubectl(["delete", "moduleconfig", "registry"]);
    }
  });
});

describe("on a cloud cluster", () => {
  beforeAll(
    () =>
      usePolicy(
        cloudCluster,
        "Direct",
        direct,
        proxy,
        "Proxy and Local are unsupported for non-static clusters",
      ),
    120_000,
  );

  it("allows Direct → Direct with new credentials", () =>
    expectAllowed(direct, directNewCredentials));

  it.each([
    ["Direct → Proxy", direct, proxy],
    ["legacy → Local", undefined, local],
  ])("refuses %s at kubectl time with the policy's message", (_, before, after) =>
    expectRefused(
      before,
      after,
      "The field `spec.settings.registry.mode` cannot be set to Proxy or Local. Proxy and Local are unsupported for non-static clusters. Please use other available modes.",
    ),
  );
});

describe("while the cluster is bootstrapping", () => {
  const message =
    "Changing, adding, or removing `spec.settings.registry` is forbidden during cluster bootstrap. Please wait until bootstrap is complete.";
  beforeAll(() => usePolicy(bootstrapping, "Unmanaged", undefined, direct, message), 120_000);

  it.each([
    ["legacy → Direct", undefined, direct],
    ["Direct → legacy", direct, undefined],
    ["Direct → Direct with new credentials", direct, directNewCredentials],
  ])("refuses %s", (_, before, after) => expectRefused(before, after, message));

  it("allows a change that leaves the registry settings alone", () =>
    expectAllowed(direct, direct, { logLevel: "Debug" }));
});
