// The mirrorer's sync pass against real stock registries (plain HTTP, no gateway): what it copies,
// that it copies nothing twice, that it resumes after an interruption without fetching whole blobs
// again, and how it decides when a tag differs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../lib/oci";
import { createLog } from "../../images/common/src/log";
import { Mirror } from "../../images/mirrorer/src/sync";
import {
  createLab,
  type Lab,
  pushImage,
  type Registry,
  startRegistry,
  writeOciLayout,
} from "../e2e-lab";
import {
  type BundleImage,
  contentOf,
  expectedContent,
  pushBundle,
  writeBundle,
} from "./support/bundle";

let lab: Lab;
let source: Registry;
let bundle: BundleImage[];
const clients: RegistryClient[] = [];
const logs: string[] = [];
const log = createLog("mirrorer", l => logs.push(l), "debug");

const clientOf = (r: Registry) => {
  const c = new RegistryClient({ registry: r.hostPort, scheme: "http" });
  clients.push(c);
  return c;
};

beforeAll(async () => {
  lab = await createLab("mirrorer");
  source = await startRegistry({ dir: lab.path("source") });
  bundle = await writeBundle(lab.path("bundle"), {
    count: 7,
    payloadBytes: 400_000,
    withIndex: true,
  });
  await pushBundle(bundle, source);
});

afterAll(async () => {
  await Promise.all(clients.map(c => c.close()));
  await lab?.close();
});

describe("sync pass", () => {
  it("copies repositories, tags, manifests (an index too) and blobs; a second pass copies nothing", async () => {
    const target = await startRegistry({ dir: lab.path("target-1") });
    const mirror = new Mirror(clientOf(target), [{ name: "source", client: clientOf(source) }], {
      concurrency: 3,
      log,
    });
    const first = await mirror.pass();
    expect(first.errors).toEqual([]);
    expect(first.tagsCopied).toBe(bundle.length);
    // the base layer shared by every image is streamed once, then mounted into the other repositories
    expect(first.blobsMounted).toBeGreaterThanOrEqual(2);
    expect(await contentOf(clientOf(target))).toEqual(expectedContent(bundle));

    const blobGetsBefore = source
      .accessLog()
      .filter(e => e.method === "GET" && e.path.includes("/blobs/")).length;
    const second = await mirror.pass();
    expect(second).toMatchObject({
      tagsCopied: 0,
      manifestsCopied: 0,
      blobsCopied: 0,
      blobsMounted: 0,
      conflicts: [],
      errors: [],
    });
    expect(second.tagsChecked).toBe(bundle.length);
    expect(
      source.accessLog().filter(e => e.method === "GET" && e.path.includes("/blobs/")).length,
    ).toBe(blobGetsBefore);
  });

  it("resumes after an interruption: blobs already copied are not fetched again", async () => {
    const target = await startRegistry({ dir: lab.path("target-2") });
    const local = clientOf(target);
    const abort = new AbortController();
    let uploads = 0;
    // stop the pass as soon as the second blob has been stored
    const interrupting = new Proxy(local, {
      get(t, prop) {
        const v = Reflect.get(t, prop) as unknown;
        if (typeof v !== "function") return v;
        if (prop !== "uploadBlobChunked") return (v as (...a: unknown[]) => unknown).bind(t);
        return async (...args: unknown[]) => {
          const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
          if (++uploads === 2) abort.abort();
          return r;
        };
      },
    });
    const remote = { name: "source", client: clientOf(source) };
    const firstGets = source.accessLog().length;
    const interrupted = new Mirror(interrupting, [remote], { concurrency: 1, log });
    await expect(interrupted.pass(abort.signal)).rejects.toThrow();
    const fetchedBefore = blobDigestsFetched(source.accessLog().slice(firstGets));
    expect(fetchedBefore.size).toBeGreaterThanOrEqual(2);

    // a new process: no memory of the interrupted one
    const mark = source.accessLog().length;
    const resumed = await new Mirror(local, [remote], { concurrency: 1, log }).pass();
    expect(resumed.errors).toEqual([]);
    expect(resumed.blobsPresent).toBeGreaterThanOrEqual(2);
    const fetchedAfter = blobDigestsFetched(source.accessLog().slice(mark));
    // every blob whose upload finished before the interruption stays where it is
    const stored = [...fetchedBefore].filter(d => !fetchedAfter.has(d));
    expect(stored.length).toBeGreaterThanOrEqual(2);
    expect(await contentOf(local)).toEqual(expectedContent(bundle));
  });

  it("follows a tag the remote moved; keeps a tag both sides moved, and any difference it has no history for", async () => {
    const remoteReg = await startRegistry({ dir: lab.path("moving-remote") });
    const localReg = await startRegistry({ dir: lab.path("moving-local") });
    const img = async (seed: string) =>
      writeOciLayout(lab.path("moving", seed), { seed, tags: ["t"] });
    const [a, b, c, d] = (await Promise.all(["a", "b", "c", "d"].map(img))) as [
      Awaited<ReturnType<typeof img>>,
      Awaited<ReturnType<typeof img>>,
      Awaited<ReturnType<typeof img>>,
      Awaited<ReturnType<typeof img>>,
    ];
    const remote = { name: "remote", client: clientOf(remoteReg) };
    const local = clientOf(localReg);
    const mirror = new Mirror(local, [remote], { concurrency: 2, log });
    await pushImage(a, remoteReg, "system/deckhouse", { tag: "release" });
    await mirror.pass();
    expect((await local.headManifest("system/deckhouse", "release")).digest).toBe(a.digest);

    await pushImage(b, remoteReg, "system/deckhouse", { tag: "release" }); // remote moves
    const followed = await mirror.pass();
    expect(followed.tagsCopied).toBe(1);
    expect((await local.headManifest("system/deckhouse", "release")).digest).toBe(b.digest);

    await pushImage(c, remoteReg, "system/deckhouse", { tag: "release" }); // both move
    await pushImage(d, localReg, "system/deckhouse", { tag: "release" });
    const conflict = await mirror.pass();
    expect(conflict.tagsCopied).toBe(0);
    expect(conflict.conflicts).toEqual([
      expect.stringMatching(/^system\/deckhouse:release: local sha256:.*keeping local$/),
    ]);
    expect((await local.headManifest("system/deckhouse", "release")).digest).toBe(d.digest);

    // a mirrorer that just started has no previous view: it keeps the local tag
    const fresh = await new Mirror(local, [remote], { concurrency: 2, log }).pass();
    expect(fresh.conflicts).toHaveLength(1);
    expect((await local.headManifest("system/deckhouse", "release")).digest).toBe(d.digest);
  });

  it("a remote that is down is reported and the others still sync", async () => {
    const target = await startRegistry({ dir: lab.path("target-3") });
    const down = await startRegistry({ dir: lab.path("down") });
    const downClient = clientOf(down);
    await down.stop();
    const report = await new Mirror(
      clientOf(target),
      [
        { name: "down", client: downClient },
        { name: "source", client: clientOf(source) },
      ],
      { concurrency: 2, log },
    ).pass();
    expect(report.errors).toEqual([expect.stringMatching(/^down: catalog: /)]);
    expect(report.tagsCopied).toBe(bundle.length);
  });
});

function blobDigestsFetched(
  entries: { method: string; path: string; status: number }[],
): Set<string> {
  return new Set(
    entries
      .filter(e => e.method === "GET" && e.status === 200)
      .map(e => /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(e.path)?.[1])
      .filter((d): d is string => d !== undefined),
  );
}
