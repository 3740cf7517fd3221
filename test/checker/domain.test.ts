// The checker's pure parts, table-driven (docs/architecture.md#checker; numbers are the original
// module's observed behaviours): params validation (item 37), required images and re-pointing (item
// 38, Relax item 43), queues and the message format (items 39–42), with an injected clock and fake
// registry sessions.
import { describe, expect, it } from "vitest";
import {
  buildMessage,
  buildQueueItems,
  CheckFailure,
  collectRequiredImages,
  EMPTY_STATE,
  kebab,
  lowerCamel,
  parseCheckerParams,
  parseCheckerState,
  prepareQueues,
  runTick,
  stateToValues,
  type CheckerDeps,
  type CheckerParams,
  type CheckerState,
  type RegistrySession,
  type RequiredImages,
} from "../../lib/checker";
import { parseRepository } from "../../lib/oci";

const d = (c: string) => `sha256:${c.repeat(64)}`;

describe("params (item 37)", () => {
  it("accepts a full registry and applies the defaults", () => {
    expect(
      parseCheckerParams({
        version: "v1",
        registries: {
          "reg.io": { address: "reg.io/deckhouse/ee", username: "u", password: "p", ca: "PEM" },
        },
      }),
    ).toEqual({
      version: "v1",
      checkMode: "Default",
      registries: {
        "reg.io": {
          address: "reg.io/deckhouse/ee",
          scheme: "HTTPS",
          username: "u",
          password: "p",
          ca: "PEM",
        },
      },
    });
    expect(parseCheckerParams(undefined)).toEqual({
      registries: {},
      version: "",
      checkMode: "Default",
    });
  });

  it.each([
    [{ registries: { r: {} } }, "params.registries.r.address: required"],
    [
      { registries: { r: { address: "r.io/x", scheme: "FTP" } } },
      'params.registries.r.scheme: must be one of HTTP, HTTPS (got "FTP")',
    ],
    [
      { registries: { r: { address: "r.io/x", username: "u" } } },
      "params.registries.r.password: required when username is set",
    ],
    [
      { registries: { r: { address: "r.io/x", password: "p" } } },
      "params.registries.r.username: required when password is set",
    ],
    [
      { registries: { r: { address: "https://r.io/x" } } },
      /params\.registries\.r\.address: repository "https:\/\/r\.io\/x": no scheme allowed/,
    ],
    [{ checkMode: "Strict" }, 'params.checkMode: must be one of Default, Relax (got "Strict")'],
    [{ registries: [] }, "params.registries: must be a mapping, got a list"],
  ])("%j is refused", (input, message) => {
    expect(() => parseCheckerParams(input)).toThrow(message);
  });
});

describe("required images", () => {
  const deckhouse = {
    containers: {
      deckhouse: "dev-registry.deckhouse.io/sys/deckhouse-oss:v1.70.1",
      kubeRbacProxy: `dev-registry.deckhouse.io/sys/deckhouse-oss@${d("e")}`,
    },
    initContainers: { init: "dev-registry.deckhouse.io/sys/deckhouse-oss/init:v1" },
  };

  it("names modules the way the digests are keyed, infos in kebab case", () => {
    expect(lowerCamel("node-manager")).toBe("nodeManager");
    expect(lowerCamel("NodeManager")).toBe("nodeManager");
    expect(kebab("nodeManagerAgent")).toBe("node-manager-agent");
    expect(kebab("cniCilium")).toBe("cni-cilium");
  });

  it("collects digests of the given modules, sorted, de-duplicated by digest", () => {
    const images = collectRequiredImages({
      modules: ["node-manager", "controlPlaneManager", "absentModule"],
      digests: {
        controlPlaneManager: { kubeApiserver: d("a"), etcd: d("b") },
        nodeManager: { nodeManagerAgent: d("a"), bashibleApiserver: d("c") },
        otherModule: { x: d("f") },
      },
      deckhouse,
    });
    expect([...images.moduleDigests]).toEqual([
      [d("b"), "module/control-plane-manager/etcd"],
      [d("a"), "module/control-plane-manager/kube-apiserver"],
      [d("c"), "module/node-manager/bashible-apiserver"],
    ]);
  });

  it.each([
    [{ modules: [], digests: {}, deckhouse }, "modules snapshot contains no entries"],
    [{ modules: ["a"], digests: { b: { x: d("a") } }, deckhouse }, "modules has no images"],
    [
      { modules: ["a"], digests: { a: { x: "latest" } }, deckhouse },
      "global.modulesImages.digests.a.x: must be a digest (sha256:<64 hex>)",
    ],
    [
      { modules: ["a"], digests: { a: { x: d("a") } }, deckhouse: undefined },
      "Deployment d8-system/deckhouse is missing from the snapshot",
    ],
  ])("refuses %j", (input, message) => {
    expect(() => collectRequiredImages(input)).toThrow(message);
  });

  const images: RequiredImages = { moduleDigests: new Map([[d("1"), "module/m/i"]]), deckhouse };
  const repo = parseRepository("registry.example.com:5000/deckhouse/ee");

  it("Default: module digests and every deckhouse image re-pointed, tag stays tag, digest stays digest", () => {
    expect(buildQueueItems(images, repo, "Default")).toEqual([
      { image: `registry.example.com:5000/deckhouse/ee:v1`, info: "deckhouse/initContainers/init" },
      {
        image: "registry.example.com:5000/deckhouse/ee:v1.70.1",
        info: "deckhouse/containers/deckhouse",
      },
      { image: `registry.example.com:5000/deckhouse/ee@${d("1")}`, info: "module/m/i" },
      {
        image: `registry.example.com:5000/deckhouse/ee@${d("e")}`,
        info: "deckhouse/containers/kubeRbacProxy",
      },
    ]);
  });

  it("Relax: only the deckhouse container, which must be a tag (item 43)", () => {
    expect(buildQueueItems(images, repo, "Relax")).toEqual([
      {
        image: "registry.example.com:5000/deckhouse/ee:v1.70.1",
        info: "deckhouse/containers/deckhouse",
      },
    ]);
    const byDigest = {
      ...images,
      deckhouse: { ...deckhouse, containers: { deckhouse: `r.io/x@${d("9")}` } },
    };
    expect(() => buildQueueItems(byDigest, repo, "Relax")).toThrow(
      `expected deckhouse image reference to be a tag, but got: registry.example.com:5000/deckhouse/ee@${d("9")}`,
    );
  });

  it("an image reference without tag or digest is refused (item 38)", () => {
    const bad = {
      ...images,
      deckhouse: { containers: { deckhouse: "invalid-image-ref" }, initContainers: {} },
    };
    expect(() => buildQueueItems(bad, repo, "Default")).toThrow(
      /failed to parse image reference "invalid-image-ref": .*needs a tag/,
    );
  });
});

// --- ticks with fake registries -------------------------------------------------------------

const REQUIRED: RequiredImages = {
  moduleDigests: new Map(
    Array.from({ length: 8 }, (_, i) => [d(String(i)), `module/m/image-${i}`] as const),
  ),
  deckhouse: { containers: { deckhouse: "reg.io/deckhouse:v1" }, initContainers: {} },
};
const params = (
  version: string,
  registries: CheckerParams["registries"],
  checkMode: "Default" | "Relax" = "Default",
): CheckerParams => ({ version, registries, checkMode });
const R1 = { address: "r1.example.com/deckhouse/ee", scheme: "HTTPS" as const };

/** A registry holding `present`; records every check and the peak concurrency. */
function fakeRegistry(present: Set<string>, delayMs = 1) {
  const stats = { checks: [] as string[], inFlight: 0, peak: 0, opened: 0, closed: 0 };
  const open = (): RegistrySession => {
    stats.opened++;
    return {
      async check(image, signal) {
        stats.checks.push(image);
        stats.inFlight++;
        stats.peak = Math.max(stats.peak, stats.inFlight);
        try {
          await new Promise<void>((resolve, reject) => {
            const t = setTimeout(resolve, delayMs);
            signal.addEventListener("abort", () => {
              clearTimeout(t);
              reject(new Error("aborted"));
            });
          });
        } finally {
          stats.inFlight--;
        }
        const digest = image.split("@")[1] ?? image.split(":").pop()!;
        if (!present.has(digest)) throw new CheckFailure("not found (HTTP 404)");
      },
      close: async () => {
        stats.closed++;
      },
    };
  };
  return { stats, open };
}

function clock(start = Date.parse("2026-01-01T00:00:00Z")) {
  let t = start;
  return { now: () => new Date(t), advance: (ms: number) => (t += ms) };
}

const all = new Set([...REQUIRED.moduleDigests.keys(), "v1"]);

describe("ticks", () => {
  it("a new version: first tick only Initializing, no requests (item 39); then all checked (item 41)", async () => {
    const reg = fakeRegistry(all);
    const c = clock();
    const deps: CheckerDeps = { now: c.now, openRegistry: reg.open };
    const p = params("v1", { "r1.example.com": R1 });
    const first = await runTick(EMPTY_STATE, p, () => REQUIRED, deps);
    expect(first.state).toMatchObject({ version: "v1", ready: false, message: "Initializing" });
    expect(first.state.queues["r1.example.com"]?.items).toHaveLength(9);
    expect(reg.stats.checks).toEqual([]);
    c.advance(10_000);
    const second = await runTick(first.state, p, () => REQUIRED, deps);
    expect(second.state.ready).toBe(true);
    expect(second.state.message).toBe("Mode: Default\nr1.example.com: all 9 items are checked");
    expect(second.checked).toBe(9);
    expect(reg.stats.peak).toBe(3);
    expect(reg.stats.closed).toBe(reg.stats.opened);
    // nothing pending: no session at all
    const third = await runTick(second.state, p, () => REQUIRED, deps);
    expect(third.state.ready).toBe(true);
    expect(reg.stats.opened).toBe(1);
  });

  it("no registries → Stopped, ready (item 40), without needing the required images", async () => {
    const r = await runTick(
      { ...EMPTY_STATE, version: "v0" },
      params("v0", {}),
      () => {
        throw new Error("not needed");
      },
      { now: () => new Date(), openRegistry: fakeRegistry(all).open },
    );
    expect(r.state).toMatchObject({ ready: true, message: "Stopped", queues: {} });
  });

  it("failures go to retry with their error, are retried 10 s after being moved back (item 42)", async () => {
    const present = new Set(["v1", d("0"), d("1")]);
    const reg = fakeRegistry(present);
    const c = clock();
    const deps: CheckerDeps = { now: c.now, openRegistry: reg.open };
    const p = params("v1", { "r1.example.com": R1 });
    let s = (await runTick(EMPTY_STATE, p, () => REQUIRED, deps)).state;
    s = (await runTick(s, p, () => REQUIRED, deps)).state;
    expect(s.ready).toBe(false);
    const q = s.queues["r1.example.com"]!;
    expect(q).toMatchObject({ processed: 3, items: [] });
    expect(q.retry).toHaveLength(6);
    expect(s.message).toBe(
      [
        "Mode: Default",
        "r1.example.com: 3 of 9 items processed, 6 items with errors:",
        ...[2, 3, 4, 5, 6].flatMap(i => [
          `- source: module/m/image-${i}`,
          `  image: r1.example.com/deckhouse/ee@${d(String(i))}`,
          "  error: not found (HTTP 404)",
        ]),
        "",
        "  ...and more",
      ].join("\n"),
    );
    // next tick: retry moved back, last_attempt = now, and nothing is requested for 10 s
    const before = reg.stats.checks.length;
    c.advance(1_000);
    s = (await runTick(s, p, () => REQUIRED, deps)).state;
    expect(s.queues["r1.example.com"]).toMatchObject({
      retry: [],
      last_attempt: "2026-01-01T00:00:01.000Z",
    });
    expect(s.queues["r1.example.com"]!.items).toHaveLength(6);
    expect(s.message).toContain("6 items with errors:"); // still visible while waiting
    c.advance(9_999);
    s = (await runTick(s, p, () => REQUIRED, deps)).state;
    expect(reg.stats.checks.length).toBe(before);
    // the images appear; after the delay they are checked and the queue completes
    for (const digest of REQUIRED.moduleDigests.keys()) present.add(digest);
    c.advance(1);
    s = (await runTick(s, p, () => REQUIRED, deps)).state;
    expect(reg.stats.checks.length).toBe(before + 6);
    expect(s.ready).toBe(true);
    expect(s.message).toBe("Mode: Default\nr1.example.com: all 9 items are checked");
    expect(s.queues["r1.example.com"]!.last_attempt).toBeUndefined();
  });

  it("the budget stops the tick: in-flight items fail with Request timeout, the rest wait", async () => {
    const reg = fakeRegistry(all, 10_000);
    const c = clock();
    const p = params("v1", { "r1.example.com": R1 });
    const deps: CheckerDeps = { now: c.now, openRegistry: reg.open };
    let s = (await runTick(EMPTY_STATE, p, () => REQUIRED, deps)).state;
    const started = Date.now();
    s = (await runTick(s, p, () => REQUIRED, { ...deps, budgetMs: 50, workersPerRegistry: 2 }))
      .state;
    expect(Date.now() - started).toBeLessThan(2_000);
    const q = s.queues["r1.example.com"]!;
    expect(q.retry.map(i => i.error)).toEqual(["Request timeout", "Request timeout"]);
    expect(q.items).toHaveLength(7);
    expect(q.items.every(i => i.error === undefined)).toBe(true);
    expect(s.message.split("\n").slice(0, 5)).toEqual([
      "Mode: Default",
      "r1.example.com: 0 of 9 items processed, 2 items with errors:",
      `- source: ${q.retry[0]!.info}`,
      `  image: ${q.retry[0]!.image}`,
      "  error: Request timeout",
    ]);
  });

  it("queues follow params: per registry, rebuilt on a params change, dropped when removed", async () => {
    const c = clock();
    const reg = fakeRegistry(all);
    const deps: CheckerDeps = { now: c.now, openRegistry: reg.open };
    const R2 = {
      address: "10.0.0.2:5001/system/deckhouse",
      scheme: "HTTPS" as const,
      username: "ro",
      password: "x",
    };
    const two = params("v2", { "master-0": R1, "master-1": R2 });
    let s = (await runTick(EMPTY_STATE, two, () => REQUIRED, deps)).state;
    s = (await runTick(s, two, () => REQUIRED, deps)).state;
    expect(s.message).toBe(
      "Mode: Default\nmaster-0: all 9 items are checked\nmaster-1: all 9 items are checked",
    );
    // same version, master-1's password changes: only its queue is rebuilt and rechecked
    const changed = params("v2", { "master-0": R1, "master-1": { ...R2, password: "y" } });
    const prep = prepareQueues(s, changed, () => REQUIRED, c.now());
    expect(prep.events).toEqual([{ event: "queue-added", queue: "master-1", items: 9 }]);
    expect(prep.state.queues["master-0"]!.processed).toBe(9);
    const one = params("v2", { "master-0": R1 });
    expect(Object.keys(prepareQueues(s, one, () => REQUIRED, c.now()).state.queues)).toEqual([
      "master-0",
    ]);
  });

  it("Relax mode checks one tagged image", async () => {
    const reg = fakeRegistry(new Set(["v1"]));
    const c = clock();
    const p = params("v3", { r: R1 }, "Relax");
    const deps: CheckerDeps = { now: c.now, openRegistry: reg.open };
    let s = (await runTick(EMPTY_STATE, p, () => REQUIRED, deps)).state;
    s = (await runTick(s, p, () => REQUIRED, deps)).state;
    expect(reg.stats.checks).toEqual(["r1.example.com/deckhouse/ee:v1"]);
    expect(s.message).toBe("Mode: Relax\nr: all 1 items are checked");
  });

  it("message: pending items without errors", () => {
    const s: CheckerState = {
      ...EMPTY_STATE,
      queues: {
        b: { processed: 2, items: [{ image: "x", info: "i" }], retry: [], params_hash: "" },
        a: { processed: 0, items: [], retry: [], params_hash: "" },
      },
    };
    expect(buildMessage(s, "Default")).toBe(
      "Mode: Default\na: all 0 items are checked\nb: 2 of 3 items processed",
    );
  });
});

describe("state forms", () => {
  it("values form round-trips and leaves empty parts out", () => {
    const s: CheckerState = {
      version: "v",
      ready: false,
      message: "m",
      queues: {
        q: {
          processed: 1,
          items: [],
          retry: [{ image: "a", info: "b", error: "c" }],
          last_attempt: "2026-01-01T00:00:00.000Z",
          params_hash: "h",
        },
      },
    };
    expect(stateToValues(s)).toEqual({
      version: "v",
      ready: false,
      message: "m",
      queues: {
        q: {
          processed: 1,
          retry: [{ image: "a", info: "b", error: "c" }],
          last_attempt: "2026-01-01T00:00:00.000Z",
          params_hash: "h",
        },
      },
    });
    expect(parseCheckerState(stateToValues(s))).toEqual(s);
    expect(stateToValues(EMPTY_STATE)).toEqual({ ready: false });
  });

  it.each([
    [{ ready: "yes" }, "state.ready: must be true or false, got string"],
    [
      { queues: { q: { processed: -1 } } },
      "state.queues.q.processed: must be a non-negative integer",
    ],
    [{ queues: { q: { items: [{ info: "x" }] } } }, "state.queues.q.items[0].image: required"],
    [
      { queues: { q: { last_attempt: "yesterday" } } },
      "state.queues.q.last_attempt: must be an RFC 3339 date-time",
    ],
  ])("refuses %j", (input, message) => {
    expect(() => parseCheckerState(input)).toThrow(message);
  });
});
