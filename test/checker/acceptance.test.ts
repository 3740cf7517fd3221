// Issue 4 acceptance: the checker loop hook, driven through the harness, against real CNCF
// distribution on loopback — plain HTTP, HTTPS with an openssl CA + htpasswd, Bearer tokens from
// the lab's token server, and Local mode's per-master registries on 127.0.0.2/127.0.0.3 — with
// images skopeo pushed from generated OCI layouts (single manifest, multi-arch index, v2s2
// manifest and list). The clock is injected; the budget is shortened to keep the suite fast.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCheckerLoopHook } from "../../hooks/checker-loop";
import { createHookTest, type HookTest } from "../../lib/harness/index";
import { requireBuild, shellHook } from "../contract/built";
import {
  createCa,
  createLab,
  createTokenSigner,
  issueServerCert,
  pushImage,
  startBlackhole,
  startRegistry,
  startTokenServer,
  writeOciLayout,
  type Blackhole,
  type CertificateAuthority,
  type Lab,
  type OciLayout,
  type Registry,
} from "../e2e-lab";
import { deckhouseDeployment, moduleObject, SCHEDULE, testClock } from "./fixtures";

const user = { username: "checker", password: "Chk-pa55word" };
const ro = { username: "ro", password: "R0-pa55word" };
const UPSTREAM_REPO = "deckhouse/ee";
const LOCAL_REPO = "system/deckhouse";
const SOURCE = "dev-registry.deckhouse.io/sys/deckhouse-oss";
const BUDGET_MS = 1_500;

let lab: Lab;
let ca: CertificateAuthority;
let plain: Registry, secure: Registry, token: Registry, master0: Registry, master1: Registry;
let hole: Blackhole;
let layouts: Record<"a" | "b" | "e", OciLayout>;
/** Digests as the registries serve them: a (OCI manifest), b (OCI index), c (v2s2), d (v2s2 list). */
const digest = { a: "", b: "", c: "", d: "" };

async function pushAll(reg: Registry, repo: string, creds?: typeof user, skip: string[] = []) {
  const opts = creds ? { creds } : {};
  const jobs: Record<string, () => Promise<{ digest: string }>> = {
    a: () => pushImage(layouts.a, reg, repo, { tag: "v1.70.0", ...opts }),
    b: () => pushImage(layouts.b, reg, repo, { tag: "b", ...opts }),
    c: () => pushImage(layouts.a, reg, repo, { tag: "c", format: "v2s2", ...opts }),
    d: () => pushImage(layouts.b, reg, repo, { tag: "d", format: "v2s2", ...opts }),
    e: () => pushImage(layouts.e, reg, repo, { tag: "init-v1", ...opts }),
  };
  const out: Record<string, string> = {};
  for (const [name, job] of Object.entries(jobs))
    if (!skip.includes(name)) out[name] = (await job()).digest;
  return out;
}

beforeAll(async () => {
  lab = await createLab("checker");
  ca = await createCa(lab.path("pki"));
  const cert = await issueServerCert(ca, "registries", { ips: ["127.0.0.2", "127.0.0.3"] });
  const tokens = await startTokenServer({
    signer: await createTokenSigner(lab.path("pki")),
    users: { [user.username]: user.password },
  });
  [plain, secure, token, master0, master1, hole] = await Promise.all([
    startRegistry({ dir: lab.path("plain") }),
    startRegistry({
      dir: lab.path("secure"),
      tls: cert,
      htpasswd: { [user.username]: user.password },
    }),
    startRegistry({ dir: lab.path("token"), tokenAuth: tokens.registryAuth("checker-test") }),
    startRegistry({
      dir: lab.path("m0"),
      host: "127.0.0.2",
      tls: cert,
      htpasswd: { [ro.username]: ro.password },
    }),
    startRegistry({
      dir: lab.path("m1"),
      host: "127.0.0.3",
      tls: cert,
      htpasswd: { [ro.username]: ro.password },
    }),
    startBlackhole("127.0.0.4"),
  ]);
  layouts = {
    a: await writeOciLayout(lab.path("img-a"), { seed: "a", tags: ["v1"] }),
    b: await writeOciLayout(lab.path("img-b"), {
      seed: "b",
      tags: ["v1"],
      platforms: ["linux/amd64", "linux/arm64"],
    }),
    e: await writeOciLayout(lab.path("img-e"), { seed: "e", tags: ["v1"] }),
  };
  const pushed = await Promise.all([
    pushAll(plain, UPSTREAM_REPO),
    pushAll(secure, UPSTREAM_REPO, user),
    pushAll(token, UPSTREAM_REPO, user),
    pushAll(master0, LOCAL_REPO, ro),
    // master-1 lacks the v2s2 manifest and the init image until the test pushes them
    pushAll(master1, LOCAL_REPO, ro, ["c", "e"]),
  ]);
  for (const k of ["a", "b", "c", "d"] as const) digest[k] = pushed[0]![k]!;
  // conversions are deterministic: every registry serves the same digests
  for (const p of pushed)
    for (const k of ["a", "b", "c", "d"] as const) if (p[k]) expect(p[k]).toBe(digest[k]);
  expect(digest.a).toBe(layouts.a.digest);
  expect(digest.b).toBe(layouts.b.digest);
});

afterAll(async () => {
  await lab?.close();
});

const cluster = () => [
  moduleObject("control-plane-manager", { critical: true, embedded: true }),
  moduleObject("node-manager", { critical: true, embedded: true }),
  moduleObject("registry", { critical: true, embedded: true }),
  moduleObject("prometheus", { critical: false, embedded: true }),
  deckhouseDeployment(
    { deckhouse: `${SOURCE}:v1.70.0`, "kube-rbac-proxy": `${SOURCE}@${digest.b}` },
    { init: `${SOURCE}:init-v1` },
  ),
];

interface Scenario {
  registries: Record<string, Record<string, string>>;
  checkMode?: "Default" | "Relax";
  version?: string;
}

/** A harness for the loop hook with the scenario's params; `tick()` runs one schedule tick. */
async function checker(s: Scenario, deckhouse?: ReturnType<typeof deckhouseDeployment>) {
  const clock = testClock();
  const hook = createCheckerLoopHook({ budgetMs: BUDGET_MS, deps: { now: clock.now } });
  const f: HookTest = await createHookTest({
    hook,
    openapiDir: "openapi",
    globalValues: {
      modulesImages: {
        registry: { base: "registry.d8-system.svc:5001/system/deckhouse" },
        digests: {
          controlPlaneManager: { kubeApiserver: digest.a, etcd: digest.b },
          nodeManager: { nodeManagerAgent: digest.c },
          registry: { gateway: digest.d },
          prometheus: { notRequired: `sha256:${"f".repeat(64)}` },
        },
      },
    },
  });
  f.kubeStateSet(deckhouse ? [...cluster().slice(0, 4), deckhouse] : cluster());
  f.valuesSet("registry.internal.checker.initialized", true);
  f.valuesSet("registry.internal.checker.params", {
    version: s.version ?? "v1",
    checkMode: s.checkMode ?? "Default",
    registries: s.registries,
  });
  const tick = async () => {
    const started = Date.now();
    const r = await f.runHook(f.generateScheduleContext(SCHEDULE));
    f.observeCluster();
    return { ...r, ms: Date.now() - started };
  };
  const state = () =>
    f.valuesGet("registry.internal.checker.state") as {
      version?: string;
      ready: boolean;
      message?: string;
    };
  return { f, clock, tick, state };
}

const upstream = (reg: Registry, extra: Record<string, string> = {}) => ({
  address: `${reg.hostPort}/${UPSTREAM_REPO}`,
  scheme: reg.scheme.toUpperCase(),
  ...extra,
});

describe("checker against real registries", () => {
  it("HTTP, HTTPS with the test CA + htpasswd, Bearer token: every media type present → all checked, ready", async () => {
    const c = await checker({
      registries: {
        [plain.hostPort]: upstream(plain),
        [secure.hostPort]: upstream(secure, { ca: ca.certPem, ...user }),
        [token.hostPort]: upstream(token, { ...user }),
      },
    });
    let r = await c.tick();
    expect(r.error).toBeUndefined();
    expect(c.state()).toMatchObject({ version: "v1", ready: false, message: "Initializing" });
    c.clock.advance(10_000);
    const logBefore = plain.accessLog().length;
    r = await c.tick();
    expect(r.error).toBeUndefined();
    expect(c.state().ready).toBe(true);
    expect(c.state().message).toBe(
      [
        "Mode: Default",
        ...[plain, secure, token]
          .map(reg => reg.hostPort)
          .sort()
          .map(n => `${n}: all 6 items are checked`),
      ].join("\n"),
    );
    // one request per item, every manifest type accepted (an index or a v2s2 list would not
    // be served as pushed otherwise): HEAD until distribution shows it closes the connection
    // after HEAD, GET over kept-alive connections from then on (one per worker in flight)
    const requests = plain
      .accessLog()
      .slice(logBefore)
      .filter(e => e.path.startsWith(`/v2/${UPSTREAM_REPO}/manifests/`));
    expect(requests.map(e => e.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const heads = requests.filter(e => e.method === "HEAD").length;
    expect(heads).toBeGreaterThanOrEqual(1);
    expect(heads).toBeLessThanOrEqual(3);
    // workers run concurrently, so a HEAD still in flight may be logged after another worker's
    // first GET: count, do not order
    expect(requests.filter(e => e.method === "GET")).toHaveLength(requests.length - heads);
    expect(JSON.stringify(c.f.logs())).not.toContain(user.password);
  });

  it("Local mode: each master's own registry, queue per node; missing images are listed, retried after 10 s, checked once pushed", async () => {
    const local = (reg: Registry) => ({
      address: `${reg.hostPort}/${LOCAL_REPO}`,
      scheme: "HTTPS",
      ca: ca.certPem,
      ...ro,
    });
    const c = await checker({
      registries: { "master-0": local(master0), "master-1": local(master1) },
    });
    await c.tick();
    c.clock.advance(10_000);
    await c.tick();
    expect(c.state().ready).toBe(false);
    const lines = c.state().message!.split("\n");
    expect(lines.slice(0, 3)).toEqual([
      "Mode: Default",
      "master-0: all 6 items are checked",
      "master-1: 4 of 6 items processed, 2 items with errors:",
    ]);
    expect(
      lines
        .slice(3)
        .filter(l => l.startsWith("  image: "))
        .sort(),
    ).toEqual(
      [
        `  image: ${master1.hostPort}/${LOCAL_REPO}:init-v1`,
        `  image: ${master1.hostPort}/${LOCAL_REPO}@${digest.c}`,
      ].sort(),
    );
    expect(lines.filter(l => l.startsWith("  error: "))).toEqual([
      expect.stringMatching(/^ {2}error: not found \(HTTP 404/),
      expect.stringMatching(/^ {2}error: not found \(HTTP 404/),
    ]);

    await pushAll(master1, LOCAL_REPO, ro, ["a", "b", "d"]);
    const headsBefore = master1.accessLog().filter(e => e.method === "HEAD").length;
    c.clock.advance(10_000);
    await c.tick(); // retry items move back and wait out the delay: no request
    expect(master1.accessLog().filter(e => e.method === "HEAD").length).toBe(headsBefore);
    expect(c.state().ready).toBe(false);
    c.clock.advance(10_000);
    await c.tick();
    expect(c.state()).toMatchObject({
      ready: true,
      message:
        "Mode: Default\nmaster-0: all 6 items are checked\nmaster-1: all 6 items are checked",
    });
  });

  it("a wrong password: readable error blocks (five, then ...and more), no password anywhere", async () => {
    const wrong = { username: user.username, password: "Wr0ng-pa55word" };
    const c = await checker({
      registries: {
        basic: upstream(secure, { ca: ca.certPem, ...wrong }),
        bearer: upstream(token, { ...wrong }),
      },
    });
    await c.tick();
    c.clock.advance(10_000);
    const r = await c.tick();
    expect(r.error).toBeUndefined();
    const message = c.state().message!;
    const lines = message.split("\n");
    const basicAt = lines.indexOf("basic: 0 of 6 items processed, 6 items with errors:");
    const bearerAt = lines.indexOf("bearer: 0 of 6 items processed, 6 items with errors:");
    expect(basicAt).toBe(1);
    expect(bearerAt).toBeGreaterThan(basicAt);
    const basicErrors = lines.slice(basicAt, bearerAt).filter(l => l.startsWith("  error: "));
    expect(basicErrors).toEqual(
      Array(5).fill("  error: authentication failed: credentials rejected (HTTP 401)"),
    );
    expect(lines.slice(basicAt, bearerAt)).toContain("  ...and more");
    const bearerErrors = lines.slice(bearerAt).filter(l => l.startsWith("  error: "));
    expect(bearerErrors).toHaveLength(5);
    expect(bearerErrors[0]).toMatch(
      /^ {2}error: authentication failed: the token server refused the credentials \(401/,
    );
    expect(lines.at(-1)).toBe("  ...and more");
    expect(c.state().ready).toBe(false);
    // params carry it (and the state Secret stores them); state, message and logs do not
    expect(JSON.stringify([c.state(), c.f.logs()])).not.toContain(wrong.password);
  });

  it("an unknown CA: a TLS error block, no crash", async () => {
    const c = await checker({ registries: { secure: upstream(secure, { ...user }) } });
    await c.tick();
    c.clock.advance(10_000);
    const r = await c.tick();
    expect(r.error).toBeUndefined();
    const errors = c
      .state()
      .message!.split("\n")
      .filter(l => l.startsWith("  error: "));
    expect(errors).toHaveLength(5);
    expect(errors[0]).toMatch(/^ {2}error: TLS: .*(certificate|verify).* \(\w+\)$/i);
  });

  it("an unreachable host: Request timeout within the budget, the rest waits", async () => {
    const c = await checker({
      registries: { gone: { address: `${hole.hostPort}/${UPSTREAM_REPO}`, scheme: "HTTP" } },
    });
    await c.tick();
    c.clock.advance(10_000);
    const r = await c.tick();
    expect(r.error).toBeUndefined();
    expect(r.ms).toBeLessThan(BUDGET_MS + 1_500);
    const lines = c.state().message!.split("\n");
    expect(lines[1]).toBe("gone: 0 of 6 items processed, 3 items with errors:");
    expect(lines.filter(l => l.startsWith("  error: "))).toEqual(
      Array(3).fill("  error: Request timeout"),
    );
    expect(hole.connections).toBeGreaterThanOrEqual(1);
  });

  it("Relax: only the deckhouse tag; a digest-referenced deckhouse image is the spec's error", async () => {
    const relax = await checker({
      checkMode: "Relax",
      registries: { [plain.hostPort]: upstream(plain) },
    });
    await relax.tick();
    relax.clock.advance(10_000);
    await relax.tick();
    expect(relax.state()).toMatchObject({
      ready: true,
      message: `Mode: Relax\n${plain.hostPort}: all 1 items are checked`,
    });

    const byDigest = await checker(
      { checkMode: "Relax", registries: { [plain.hostPort]: upstream(plain) } },
      deckhouseDeployment({ deckhouse: `${SOURCE}@${digest.a}` }),
    );
    const r = await byDigest.tick();
    expect(r.ok).toBe(false);
    expect(r.error).toContain(
      `cannot build registry "${plain.hostPort}" queue: expected deckhouse image reference to be a tag, but got: ${plain.hostPort}/${UPSTREAM_REPO}@${digest.a}`,
    );
  });
});

describe("the built hook", () => {
  it("the per-hook launcher checks a real registry (undici and TLS inside the single executable)", async () => {
    requireBuild();
    const f = await createHookTest({
      hook: { command: [shellHook("checker-loop")] },
      openapiDir: "openapi",
      globalValues: { modulesImages: { digests: { registry: { gateway: digest.d } } } },
    });
    f.kubeStateSet([
      moduleObject("registry", { critical: true, embedded: true }),
      deckhouseDeployment({ deckhouse: `${SOURCE}:v1.70.0` }),
    ]);
    f.valuesSet("registry.internal.checker.initialized", true);
    f.valuesSet("registry.internal.checker.params", {
      version: "built",
      registries: { secure: upstream(secure, { ca: ca.certPem, ...user }) },
    });
    expect((await f.runHook(f.generateScheduleContext(SCHEDULE))).error).toBeUndefined();
    const r = await f.runHook(f.generateScheduleContext(SCHEDULE));
    expect(r.error).toBeUndefined();
    expect(f.valuesGet("registry.internal.checker.state")).toMatchObject({
      version: "built",
      ready: true,
      message: "Mode: Default\nsecure: all 2 items are checked",
    });
    expect(
      Object.keys(
        f.kubernetesResource("Secret", "d8-system", "registry-checker-state")?.data ?? {},
      ),
    ).toEqual(["state", "params"]);
  });
});
