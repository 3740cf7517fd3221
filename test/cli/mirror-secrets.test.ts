// `mirror` never echoes credentials (issue 15, defect 5): an address with userinfo — the way some
// people pass a licence — is refused with a usage error that names the flag and the way to pass
// credentials, and never repeats the secret. The README shows the licence in the environment, not
// on the command line (where the process list shows it).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const SECRET = "S3cr3t-licence-0123456789";
const work = mkdtempSync(join(tmpdir(), "mirror-secrets-"));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function mirror(...args: string[]) {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(ROOT, "test/mirror/run-cli.ts"), ...args],
    { cwd: ROOT, encoding: "utf8", env: { ...process.env, MIRROR_LICENSE: "", MIRROR_CREDS: "" } },
  );
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stderr: r.stderr };
}

describe("mirror usage errors never carry credentials", () => {
  const cases: [string, string[]][] = [
    [
      "pull --source USER:SECRET@host/…",
      [
        "pull",
        "--source",
        `license-token:${SECRET}@registry.example.com/deckhouse/ee`,
        "--tag",
        "v1",
        "b",
      ],
    ],
    [
      "pull --source https://USER:SECRET@host/…",
      [
        "pull",
        "--source",
        `https://license-token:${SECRET}@registry.example.com/deckhouse/ee`,
        "--tag",
        "v1",
        "b",
      ],
    ],
    [
      "pull --source SECRET@host/…",
      [
        "pull",
        "--source",
        `${SECRET}@registry.example.com/deckhouse/ee`,
        "--tag",
        "v1",
        join(work, "b"),
      ],
    ],
    [
      "push destination USER:SECRET@host/…",
      ["push", join(work, "b"), `rw:${SECRET}@registry.example.com/system/deckhouse`],
    ],
    [
      "push destination https://USER:SECRET@host/…",
      ["push", join(work, "b"), `https://rw:${SECRET}@registry.example.com/system/deckhouse`],
    ],
  ];
  for (const [name, args] of cases) {
    it(name, () => {
      const r = mirror(...args);
      expect(r.status, r.out).toBe(2);
      expect(r.out).not.toContain(SECRET);
      expect(r.stderr).toMatch(/credentials/i);
      expect(r.stderr).toMatch(/--creds|MIRROR_CREDS|MIRROR_LICENSE/);
    });
  }
});

describe("README", () => {
  it("passes the licence in MIRROR_LICENSE, never as --license on the command line", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme).not.toMatch(/--license\s+["']?\$/);
    expect(readme).toMatch(/MIRROR_LICENSE=/);
  });
});
