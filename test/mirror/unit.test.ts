// Pure parts of the mirror: images-file grammar, bundle index round trip and validation, failure
// descriptions (cause, next step, no secrets), the bounded pool, plain-line progress.
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseImagesFile } from "../../cli/mirror";
import {
  blobPath,
  CorruptBlobError,
  hasVerifiedBlob,
  initBundle,
  readIndex,
  writeIndex,
  type BundleImage,
} from "../../lib/mirror/bundle";
import { describeFailure, MirrorError } from "../../lib/mirror/errors";
import { runPool } from "../../lib/mirror/pool";
import { parseImagesDigests, scanTar } from "../../lib/mirror/release";
import { count, formatEta, lineProgress, RESTORE_TERMINAL } from "../../lib/mirror/progress";
import { terminalProgress } from "../../lib/mirror/terminal-progress";
import { PassThrough } from "node:stream";
import { OciError } from "../../lib/oci/errors";

const D1 = `sha256:${"a".repeat(64)}`;
const D2 = `sha256:${"b".repeat(64)}`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mirror-unit-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("parseImagesFile", () => {
  it("reads tags, digests and sub-repositories; skips comments and blank lines", () => {
    expect(
      parseImagesFile(
        `# release\nv1.70.0\n\n@${D1}\nmodules/foo:v1 # a module\nmodules/bar@${D2}\n`,
        "f",
      ),
    ).toEqual([
      { repository: "", tag: "v1.70.0" },
      { repository: "", digest: D1 },
      { repository: "modules/foo", tag: "v1" },
      { repository: "modules/bar", digest: D2 },
    ]);
  });

  it("names the file, line and rule of a bad entry", () => {
    expect(() => parseImagesFile("v1\nBad/Repo:v1\n", "list.txt")).toThrow(
      /--images-file list.txt line 2 "Bad\/Repo:v1": repository path must be lowercase/,
    );
    expect(() => parseImagesFile("@sha256:123\n", "l")).toThrow(/line 1 .*digest must be sha256/);
    expect(() => parseImagesFile("foo:-x\n", "l")).toThrow(/tag must match/);
  });
});

describe("bundle index", () => {
  const image = (repository: string, tag: string | undefined, digest: string): BundleImage => ({
    repository,
    ...(tag === undefined ? {} : { tag }),
    descriptor: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest, size: 10 },
  });

  it("round-trips and merges: same repository and tag is replaced, others kept", async () => {
    const b = join(dir, "b1");
    await initBundle(b);
    await writeIndex(b, [image("", "v1", D1), image("modules/foo", "v1", D1)]);
    await writeIndex(b, [image("", "v1", D2), image("", undefined, D1)]);
    const got = await readIndex(b);
    expect(got).toEqual([
      image("", "v1", D2),
      image("modules/foo", "v1", D1),
      image("", undefined, D1),
    ]);
  });

  it("refuses what is not a complete layout, naming the file and the field", async () => {
    const b = join(dir, "b2");
    await expect(readIndex(b)).rejects.toThrow(/oci-layout missing/);
    await initBundle(b);
    await expect(readIndex(b)).rejects.toThrow(/index.json missing .*run the pull again/);
    await writeFile(
      join(b, "index.json"),
      JSON.stringify({ manifests: [{ mediaType: "x", digest: "sha256:zz", size: 1 }] }),
    );
    await expect(readIndex(b)).rejects.toThrow(/index.json.manifests\[0\].digest: expected sha256/);
  });

  it("a blob counts only when its content hashes to its name", async () => {
    const b = join(dir, "b3");
    await initBundle(b);
    const content = Buffer.from("hello");
    const digest = "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
    await writeFile(blobPath(b, digest), content);
    expect(await hasVerifiedBlob(b, digest, 5)).toBe(true);
    await writeFile(blobPath(b, digest), "hellO");
    expect(await hasVerifiedBlob(b, digest, 5)).toBe(false);
    expect(await hasVerifiedBlob(b, D1, 5)).toBe(false);
  });
});

describe("describeFailure", () => {
  it("says what to do for each cause and never shows the credentials", () => {
    const target = { registry: "reg.example.com", repository: "deckhouse/ee", reference: "v1" };
    expect(
      describeFailure(
        new OciError(
          "auth",
          "GET manifest reg.example.com/deckhouse/ee:v1: credentials rejected (HTTP 401)",
          target,
        ),
      ),
    ).toMatch(
      /authentication failed: check the credentials \(--creds USER:PASSWORD or MIRROR_CREDS\) or the licence key \(MIRROR_LICENSE\)/,
    );
    expect(
      describeFailure(new OciError("tls", "ping reg.example.com: unknown CA", target)),
    ).toMatch(/--ca FILE/);
    expect(describeFailure(new OciError("network", "GET blob: ECONNRESET", target))).toMatch(
      /run the same command again/,
    );
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), {
      code: "ENOSPC",
      path: "/bundle/x",
    });
    expect(describeFailure(enospc)).toBe(
      "disk full writing /bundle/x: free space and run the same command again (finished blobs are kept)",
    );
    expect(
      describeFailure(new MirrorError("network", "echo s3cr3t-pass back"), ["s3cr3t-pass"]),
    ).not.toContain("s3cr3t-pass");
  });
});

describe("runPool", () => {
  it("never runs more than the limit at once and runs every item", async () => {
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    await runPool([1, 2, 3, 4, 5, 6, 7], 3, async n => {
      running++;
      peak = Math.max(peak, running);
      await new Promise(r => setTimeout(r, 5));
      done.push(n);
      running--;
    });
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("stops starting tasks after the first failure, which it throws", async () => {
    const started: number[] = [];
    await expect(
      runPool([1, 2, 3, 4, 5], 1, async n => {
        started.push(n);
        if (n === 2) throw new Error("boom 2");
      }),
    ).rejects.toThrow("boom 2");
    expect(started).toEqual([1, 2]);
  });
});

describe("lineProgress", () => {
  it("prints the plan, one line per finished image with the share done", () => {
    const lines: string[] = [];
    const p = lineProgress(l => lines.push(l));
    p.begin(
      "pull",
      [
        { name: ".:v1", bytes: 3072 },
        { name: ".:v2", bytes: 1024 },
      ],
      4096,
    );
    p.advance(".:v1", 3072);
    p.imageDone(".:v1");
    p.advance(".:v2", 1024);
    p.imageDone(".:v2");
    p.end();
    expect(lines).toEqual([
      "pull: 2 images, 4.0 KiB to transfer",
      "pull 1/2 .:v1 (3.0 KiB, 75%)",
      "pull 2/2 .:v2 (4.0 KiB, 100%)",
    ]);
  });
});

describe("release metadata", () => {
  it("images_digests.json: sorted unique digests; a bad entry names module and image", () => {
    expect(parseImagesDigests(JSON.stringify({ A: { x: D2, y: D1 }, B: { z: D1 } }), "l")).toEqual([
      D1,
      D2,
    ]);
    expect(() => parseImagesDigests(JSON.stringify({ A: { x: "latest" } }), "layer")).toThrow(
      "images_digests.json in layer: .A.x must be sha256:<64 hex>",
    );
    expect(() => parseImagesDigests("[1]", "layer")).toThrow(/expected an object of modules/);
  });

  it("finds the file in a GNU tar archive, also behind a long path and other entries", async () => {
    const root = join(dir, "tarroot");
    const deep = join(root, "a".repeat(60), "b".repeat(60));
    await mkdir(deep, { recursive: true });
    await writeFile(join(root, "other.bin"), Buffer.alloc(70_000, 7));
    await writeFile(join(deep, "images_digests.json"), '{"M":{"i":"' + D1 + '"}}');
    const tarFile = join(dir, "layer.tar");
    execFileSync("tar", ["-cf", tarFile, "-C", root, "other.bin", "a".repeat(60)]);
    const text = await scanTar(
      createReadStream(tarFile, { highWaterMark: 1000 }),
      /(^|\/)images_digests\.json$/,
    );
    expect(text).toBe('{"M":{"i":"' + D1 + '"}}');
    expect(await scanTar(createReadStream(tarFile), /nothing-here$/)).toBeUndefined();
  });
});

describe("terminalProgress", () => {
  it("draws an overall bar with rate and ETA and a bar per image in flight, logs finished images", async () => {
    const out = new PassThrough();
    let text = "";
    out.on("data", (c: Buffer) => (text += c.toString()));
    const tty = Object.assign(out, {
      isTTY: true,
      columns: 160,
      rows: 40,
      cursorTo: () => true,
      moveCursor: () => true,
      clearLine: () => true,
      clearScreenDown: () => true,
    });
    const p = terminalProgress(tty as unknown as NodeJS.WriteStream);
    p.begin("push", [{ name: "system/deckhouse:v1", bytes: 2 << 20 }], 2 << 20);
    p.advance("system/deckhouse:v1", 1 << 20);
    // bars redraw at 10 fps: let one redraw happen while the image is in flight
    await new Promise(r => setTimeout(r, 250));
    expect(text).toMatch(/system\/deckhouse:v1 +\|[^\n]*50% 1\.0 MiB\/2\.0 MiB/);
    p.advance("system/deckhouse:v1", 1 << 20);
    p.imageDone("system/deckhouse:v1");
    p.end();
    await new Promise(r => setImmediate(r));
    expect(text).toContain("push (1 image)");
    expect(text).toMatch(/push \(1 image\) +\|[^\n]*100% 2\.0 MiB\/2\.0 MiB .*\/s ETA 0s/);
    expect(text).toContain("system/deckhouse:v1");
    expect(text).toContain("done system/deckhouse:v1");
  });
});

describe("progress wording", () => {
  it("ETA never shows 60 minutes or seconds, and rounds up", () => {
    expect(formatEta(4 * 3600 + 59 * 60 + 50)).toBe("5h00m");
    expect(formatEta(4 * 3600 + 59 * 60 + 31)).toBe("5h00m");
    expect(formatEta(3599.5)).toBe("1h00m");
    expect(formatEta(3540)).toBe("59m00s");
    expect(formatEta(119.2)).toBe("2m00s");
    expect(formatEta(59.2)).toBe("1m00s");
    expect(formatEta(7)).toBe("7s");
    expect(formatEta(Number.NaN)).toBe("--");
    expect(formatEta(Number.POSITIVE_INFINITY)).toBe("--");
  });

  it("one image, two images", () => {
    expect(count(1, "image")).toBe("1 image");
    expect(count(0, "image")).toBe("0 images");
    expect(count(2, "tag")).toBe("2 tags");
  });

  it("an interrupted terminal display shows the cursor and turns line wrapping back on", () => {
    let text = "";
    const tty = Object.assign(new PassThrough(), {
      isTTY: true,
      columns: 120,
      rows: 40,
      cursorTo: () => true,
      moveCursor: () => true,
      clearLine: () => true,
      clearScreenDown: () => true,
    });
    tty.on("data", (c: Buffer) => (text += c.toString()));
    const p = terminalProgress(tty as unknown as NodeJS.WriteStream);
    p.begin("pull", [{ name: "a", bytes: 10 }], 10);
    p.advance("a", 1);
    p.interrupt();
    tty.end();
    expect(text.endsWith(RESTORE_TERMINAL)).toBe(true);
  });
});

describe("describeFailure in context", () => {
  const target = { registry: "reg.example.com", repository: "system/deckhouse", reference: "v1" };
  it("push: authentication advice names the user, never the licence", () => {
    const msg = describeFailure(
      new OciError("auth", "HEAD blob: credentials rejected (HTTP 401)", target),
      [],
      { command: "push" },
    );
    expect(msg).toMatch(/write access/);
    expect(msg).not.toMatch(/licen[cs]e/i);
  });

  it("a corrupt bundle blob: says a new pull repairs it", () => {
    expect(describeFailure(new CorruptBlobError(D1, "content digest is x"))).toMatch(
      /registry-module mirror pull` into this bundle again/,
    );
  });

  it("network causes: refused and DNS are not interruptions; a reset is", () => {
    const net = (code: string) =>
      describeFailure(new OciError("network", `GET /v2/: connect failed (${code})`, target));
    expect(net("ECONNREFUSED")).toMatch(/connection refused/);
    expect(net("ENOTFOUND")).toMatch(/cannot be resolved \(DNS\)/);
    expect(net("EAI_AGAIN")).toMatch(/cannot be resolved \(DNS\)/);
    for (const code of ["ECONNREFUSED", "ENOTFOUND"])
      expect(net(code)).not.toMatch(/run the same command again/);
    expect(net("ECONNRESET")).toMatch(/network interrupted; run the same command again/);
    // the same refusal once blobs were moving: the registry went away, a re-run continues
    expect(
      describeFailure(
        new OciError("network", "GET blob: connect failed (ECONNREFUSED)", target),
        [],
        { transferStarted: true },
      ),
    ).toMatch(/broke off during the transfer; run the same command again/);
  });
});
