// The code cache of Node's built-in modules inside the hooks executable's snapshot, cut down to
// the modules hook runs compile (docs/adr/0166).
//
// `node --experimental-sea-config` with `useSnapshot` writes a preparation blob: a header, the path
// of the main script, then Node's snapshot blob. That snapshot ends with a code cache for every
// built-in module of Node (about 2.6 MB of the 4.6 MB), which every start of the executable reads
// out of the binary. Node reads a module's code cache only when it compiles that module: a module
// already loaded in the snapshot is never compiled again, and most of the others no hook run
// loads. Layouts (Node 20, src/node_sea.cc and src/node_snapshotable.cc), little-endian:
//   preparation blob: u32 magic 0x143da20, u32 flags, u64 length + main script path,
//                     u64 length + snapshot blob (the last field when only kUseSnapshot is set)
//   snapshot blob:    u32 magic 0x143da19, u8 type, 3 × (u64 length + text) (Node version, arch,
//                     platform), u32 V8 cache tag, u32 snapshot flags, i32 length + V8 startup data,
//                     isolate data, environment data, then the code cache:
//                     u64 count, count × (u64 length + module id, u64 length + cache bytes)
// Isolate and environment data have no length of their own, so the code cache is found as the
// first offset after the V8 data from which exactly `count` well-formed entries end at the blob's
// end; anything else is refused rather than guessed.

const SEA_MAGIC = 0x143da20;
const SNAPSHOT_MAGIC = 0x143da19;
/** SeaFlags: kUseSnapshot; kUseCodeCache and kIncludeAssets would add fields after the snapshot. */
const SEA_USE_SNAPSHOT = 1 << 1;
const SEA_FIELDS_AFTER_SNAPSHOT = (1 << 2) | (1 << 3);
/** SnapshotFlags::kWithoutCodeCache: such a snapshot has no code cache to take out. */
const SNAPSHOT_WITHOUT_CODE_CACHE = 1 << 0;
const MODULE_ID = /^[A-Za-z0-9_./-]+$/;

class Reader {
  constructor(buf, offset = 0) {
    this.buf = buf;
    this.offset = offset;
  }
  u8() {
    return this.buf.readUInt8(this.take(1));
  }
  u32() {
    return this.buf.readUInt32LE(this.take(4));
  }
  i32() {
    return this.buf.readInt32LE(this.take(4));
  }
  u64() {
    const value = this.buf.readBigUInt64LE(this.take(8));
    if (value > BigInt(this.buf.length)) throw new RangeError(`length ${value} beyond the blob`);
    return Number(value);
  }
  bytes(length) {
    const start = this.take(length);
    return this.buf.subarray(start, start + length);
  }
  take(length) {
    const start = this.offset;
    if (length < 0 || start + length > this.buf.length) {
      throw new RangeError(`read of ${length} bytes at ${start} beyond the blob`);
    }
    this.offset += length;
    return start;
  }
}

function fail(what) {
  throw new Error(`hooks snapshot: ${what}`);
}

/** The snapshot blob inside a preparation blob, and where it starts. */
function snapshotOf(sea) {
  const r = new Reader(sea);
  if (r.u32() !== SEA_MAGIC) fail("not a single executable preparation blob");
  const flags = r.u32();
  if (!(flags & SEA_USE_SNAPSHOT)) fail("the preparation blob holds no snapshot");
  if (flags & SEA_FIELDS_AFTER_SNAPSHOT) fail(`preparation blob flags ${flags}: unknown layout`);
  r.bytes(r.u64());
  const lengthAt = r.offset;
  const snapshot = r.bytes(r.u64());
  if (r.offset !== sea.length) fail("bytes after the snapshot in the preparation blob");
  return { snapshot, lengthAt };
}

/** The entries of a code cache that starts at `offset`, or undefined unless they end the blob. */
function codeCacheAt(snapshot, offset) {
  try {
    const r = new Reader(snapshot, offset);
    const count = r.u64();
    if (count === 0) return undefined;
    const entries = [];
    for (let i = 0; i < count; i++) {
      const start = r.offset;
      const id = r.bytes(r.u64()).toString("latin1");
      if (!MODULE_ID.test(id)) return undefined;
      const size = r.u64();
      r.bytes(size);
      entries.push({ id, size, bytes: snapshot.subarray(start, r.offset) });
    }
    return r.offset === snapshot.length ? entries : undefined;
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

/** Where the code cache starts in a snapshot blob, and its entries. */
function findCodeCache(snapshot) {
  const r = new Reader(snapshot);
  if (r.u32() !== SNAPSHOT_MAGIC) fail("not a Node.js snapshot blob");
  r.u8();
  for (let i = 0; i < 3; i++) r.bytes(r.u64());
  r.u32();
  if (r.u32() & SNAPSHOT_WITHOUT_CODE_CACHE) fail("the snapshot was built without code cache");
  r.bytes(r.i32());
  for (let offset = r.offset; offset + 8 <= snapshot.length; offset++) {
    const entries = codeCacheAt(snapshot, offset);
    if (entries) return { offset, entries };
  }
  return fail("no code cache found at the end of the snapshot");
}

function u64(value) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(value));
  return b;
}

/** The preparation blob `sea` with the code cache of the built-in modules `keep` names only. */
export function withCodeCacheOnlyFor(sea, keep) {
  const { snapshot, lengthAt } = snapshotOf(sea);
  const { offset, entries } = findCodeCache(snapshot);
  const kept = entries.filter(e => keep.has(e.id));
  const newSnapshot = Buffer.concat([
    snapshot.subarray(0, offset),
    u64(kept.length),
    ...kept.map(e => e.bytes),
  ]);
  return {
    blob: Buffer.concat([sea.subarray(0, lengthAt), u64(newSnapshot.length), newSnapshot]),
    dropped: entries.length - kept.length,
    droppedBytes: snapshot.length - newSnapshot.length,
    kept: kept.length,
  };
}

/** The ids of the built-in modules in `process.moduleLoadList` form ("NativeModule <id>"). */
export function loadedModuleIds(moduleLoadList) {
  const prefix = "NativeModule ";
  return moduleLoadList.filter(m => m.startsWith(prefix)).map(m => m.slice(prefix.length));
}

/** The module ids and sizes of the code cache in a preparation blob's snapshot. */
export function codeCacheEntries(sea) {
  return findCodeCache(snapshotOf(sea).snapshot).entries.map(({ id, size }) => ({ id, size }));
}
