// The hooks executable's snapshot carries the code cache only of Node's modules that runs compile
// (docs/adr/0166): scripts/build.mjs cuts the rest out of the preparation blob Node wrote. The
// layout is Node's, so these tests check the cut on a blob in that layout and on the real build,
// and that real Node still reads the code cache that stays.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
// @ts-expect-error -- plain ESM build script without type declarations
import * as seaCodeCache from "../../scripts/sea-code-cache.mjs";
import { HOOKS_EXE, requireBuild } from "./built";

const { codeCacheEntries, loadedModuleIds, withCodeCacheOnlyFor } = seaCodeCache as {
  codeCacheEntries(sea: Buffer): { id: string; size: number }[];
  loadedModuleIds(moduleLoadList: string[]): string[];
  withCodeCacheOnlyFor(
    sea: Buffer,
    keep: Set<string>,
  ): { blob: Buffer; dropped: number; droppedBytes: number; kept: number };
};

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const text = (s: string) => Buffer.concat([u64(s.length), Buffer.from(s, "latin1")]);
const entry = (id: string, size: number) =>
  Buffer.concat([text(id), u64(size), Buffer.alloc(size, id.length)]);

/** A preparation blob in Node 20's layout, with the given code cache entries at its end. */
function seaBlob(
  cache: [string, number][],
  { seaFlags = 3, snapshotFlags = 0, envData = Buffer.alloc(0) } = {},
): Buffer {
  const v8 = Buffer.alloc(64, 7);
  const v8Length = Buffer.alloc(4);
  v8Length.writeInt32LE(v8.length);
  const snapshot = Buffer.concat([
    u32(0x143da19),
    Buffer.from([1]),
    text("20.20.2"),
    text("x64"),
    text("linux"),
    u32(0x839dbe75),
    u32(snapshotFlags),
    v8Length,
    v8,
    // isolate and environment data: no length of their own
    envData,
    u64(cache.length),
    ...cache.map(([id, size]) => entry(id, size)),
  ]);
  return Buffer.concat([
    u32(0x143da20),
    u32(seaFlags),
    text("/build/hooks.cjs"),
    u64(snapshot.length),
    snapshot,
  ]);
}

const CACHE: [string, number][] = [
  ["zlib", 40],
  ["internal/bootstrap/realm", 30],
  ["https", 20],
  ["fs", 10],
];

describe("the code cache in a snapshot", () => {
  it("keeps the entries of the given modules byte for byte and takes out the rest", () => {
    // environment data that itself reads like the start of a code cache must not be taken for it
    const decoy = Buffer.concat([u64(1), text("fs"), u64(3), Buffer.from("abc")]);
    const sea = seaBlob(CACHE, { envData: decoy });
    const out = withCodeCacheOnlyFor(sea, new Set(["zlib", "https", "tls"]));
    expect(out).toMatchObject({ dropped: 2, kept: 2 });
    expect(codeCacheEntries(out.blob)).toEqual([
      { id: "zlib", size: 40 },
      { id: "https", size: 20 },
    ]);
    const expected = seaBlob(
      [
        ["zlib", 40],
        ["https", 20],
      ],
      { envData: decoy },
    );
    expect(out.blob.equals(expected)).toBe(true);
    expect(out.droppedBytes).toBe(sea.length - expected.length);
  });

  it("leaves a blob as it was when every module is kept, and empties the cache when none is", () => {
    const sea = seaBlob(CACHE);
    const all = withCodeCacheOnlyFor(sea, new Set(CACHE.map(([id]) => id)));
    expect(all).toMatchObject({ dropped: 0, kept: 4, droppedBytes: 0 });
    expect(all.blob.equals(sea)).toBe(true);
    const none = withCodeCacheOnlyFor(sea, new Set());
    expect(none).toMatchObject({ dropped: 4, kept: 0 });
    expect(none.blob.equals(seaBlob([]))).toBe(true);
  });

  it("refuses what is not the layout it knows", () => {
    const none = new Set<string>();
    const notSea = Buffer.from(seaBlob(CACHE));
    notSea.writeUInt32LE(0x1234, 0);
    expect(() => withCodeCacheOnlyFor(notSea, none)).toThrow(
      "hooks snapshot: not a single executable preparation blob",
    );
    expect(() => withCodeCacheOnlyFor(seaBlob(CACHE, { seaFlags: 1 }), none)).toThrow(
      "hooks snapshot: the preparation blob holds no snapshot",
    );
    expect(() => withCodeCacheOnlyFor(seaBlob(CACHE, { seaFlags: 7 }), none)).toThrow(
      "hooks snapshot: preparation blob flags 7: unknown layout",
    );
    expect(() => withCodeCacheOnlyFor(seaBlob(CACHE, { snapshotFlags: 1 }), none)).toThrow(
      "hooks snapshot: the snapshot was built without code cache",
    );
    const tail = Buffer.concat([seaBlob(CACHE), Buffer.from("x")]);
    expect(() => withCodeCacheOnlyFor(tail, none)).toThrow(
      "hooks snapshot: bytes after the snapshot in the preparation blob",
    );
    // a code cache that does not end the snapshot exactly is not found, never guessed
    const sea = seaBlob(CACHE);
    const lengthAt = 4 + 4 + 8 + "/build/hooks.cjs".length;
    const cut = Buffer.concat([sea.subarray(0, sea.length - 1)]);
    cut.writeBigUInt64LE(BigInt(sea.length - 1 - lengthAt - 8), lengthAt);
    expect(() => withCodeCacheOnlyFor(cut, none)).toThrow(
      "hooks snapshot: no code cache found at the end of the snapshot",
    );
  });

  it("reads module ids from process.moduleLoadList", () => {
    expect(
      loadedModuleIds([
        "Internal Binding fs",
        "NativeModule internal/errors",
        "NativeModule fs",
        "Internal Binding crypto",
      ]),
    ).toEqual(["internal/errors", "fs"]);
  });
});

describe("the built executable's snapshot", () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach(d => rmSync(d, { recursive: true, force: true })));

  it("holds code cache only for Node modules runs load after start, not for those it holds", () => {
    requireBuild();
    const loaded = loadedModuleIds(
      JSON.parse(readFileSync(resolve("dist/build/loaded-modules.json"), "utf8")) as string[],
    );
    // what every run uses is in the snapshot
    expect(loaded).toEqual(expect.arrayContaining(["fs", "crypto", "internal/errors"]));
    const entries = codeCacheEntries(readFileSync(resolve("dist/build/hooks.blob")));
    const ids = entries.map(e => e.id);
    expect(ids.filter(id => loaded.includes(id))).toEqual([]);
    // the OCI client's https and tls, the chunk loader's module stay; zlib, which no run loads, not
    expect(ids).toEqual(expect.arrayContaining(["https", "tls", "module"]));
    expect(ids).not.toContain("zlib");
    // Node's whole code cache is about 2.6 MB; what stays is a small part of it
    expect(entries.reduce((sum, e) => sum + e.size, 0)).toBeLessThan(500_000);
  });

  it("is read by Node when a run compiles a module the snapshot does not hold", () => {
    requireBuild();
    const dir = mkdtempSync(join(tmpdir(), "code-cache-"));
    dirs.push(dir);
    const settings = join(dir, "settings.json");
    writeFileSync(settings, "{}");
    // `hook check` loads hooks/lib/openapi.cjs through node:module, not in the snapshot
    const r = spawnSync(HOOKS_EXE, ["hook", "check"], {
      encoding: "utf8",
      env: { PATH: "/nonexistent", SETTINGS_PATH: settings, NODE_DEBUG_NATIVE: "CODE_CACHE" },
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("Compiling module with code cache");
    expect(r.stderr).not.toMatch(/Compiling \S+ without code cache/);
  });
});
