// What an operator reads when mirror pull/push meets the usual trouble, against real peers:
// distribution on loopback (plain HTTP, and TLS with htpasswd), a closed port, a network namespace
// with no DNS, a damaged bundle, and Ctrl-C typed into a real terminal (a pty from util-linux
// `script`) while the progress bars are drawn.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INTERRUPTED } from "../../cli/mirror";
import {
  closedPort,
  createCa,
  createLab,
  issueServerCert,
  pushImage,
  requireTools,
  startLatencyProxy,
  startRegistry,
  writeOciLayout,
  type CertificateAuthority,
  type Lab,
  type OciLayout,
  type Registry,
} from "../e2e-lab";
import { MIRROR_CLI, mirrorCli as cli, pullArgs, pushArgs, REPO_ROOT } from "./cli";

const rw = { username: "rw", password: "rw-pass-123" };
const creds = `${rw.username}:${rw.password}`;

let lab: Lab;
let ca: CertificateAuthority;
let caFile: string;
let plain: Registry;
let secure: Registry;
let image: OciLayout;

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl", "unshare", "script");
  lab = await createLab("mirror-messages");
  ca = await createCa(lab.path("pki"));
  caFile = ca.cert;
  [plain, secure] = await Promise.all([
    startRegistry({ dir: lab.path("plain") }),
    startRegistry({
      dir: lab.path("secure"),
      tls: await issueServerCert(ca, "secure"),
      htpasswd: { [rw.username]: rw.password },
    }),
  ]);
  image = await writeOciLayout(lab.path("img"), {
    seed: "messages",
    tags: ["v1"],
    payloadBytes: 3 << 20,
  });
  await pushImage(image, plain, "deckhouse/ee", { tag: "v1" });
}, 120_000);

afterAll(async () => {
  await plain?.stop();
  await secure?.stop();
  await lab?.close();
});

/** `mirror pull` of tag v1 */
const pullFrom = (source: string, bundle: string, flags: Parameters<typeof pullArgs>[2] = {}) =>
  pullArgs(source, bundle, { tags: ["v1"], ...flags });
/** `mirror pull` of tag v1 from the plain-HTTP registry */
const pullPlain = (bundle: string) =>
  pullFrom(`${plain.hostPort}/deckhouse/ee`, bundle, { plainHttp: true });
/** `mirror push` to the TLS registry */
const pushSecure = (bundle: string, repository: string, flags: Parameters<typeof pushArgs>[2]) =>
  pushArgs(bundle, `${secure.hostPort}/${repository}`, { ca: caFile, ...flags });

describe("mirror: causes told apart", () => {
  it("connection refused: says nothing listens there, not that a re-run continues", async () => {
    const port = await closedPort();
    const r = await cli(pullFrom(`127.0.0.1:${port}/deckhouse/ee`, lab.path("b-refused")));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/connection refused: nothing listens at 127\.0\.0\.1:\d+/);
    expect(r.stderr).not.toMatch(/run the same command again|interrupt/);
  }, 30_000);

  it("DNS failure (a network namespace with no network): says the name cannot be resolved", async () => {
    const r = await cli(pullFrom("registry.example.invalid/deckhouse/ee", lab.path("b-dns")), {
      netns: true,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/registry\.example\.invalid cannot be resolved \(DNS\)/);
    expect(r.stderr).not.toMatch(/run the same command again|interrupt/);
  }, 30_000);

  it("HTTPS to a plain-HTTP registry: says it answers plain HTTP and names --plain-http", async () => {
    const r = await cli(pullFrom(`${plain.hostPort}/deckhouse/ee`, lab.path("b-https")));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${plain.hostPort} answers plain HTTP, not HTTPS: add --plain-http`);
    expect(r.stderr).not.toMatch(/--ca FILE/);
  }, 30_000);

  it("--plain-http to an HTTPS registry: says it speaks HTTPS", async () => {
    const r = await cli(
      pullFrom(`${secure.hostPort}/deckhouse/ee`, lab.path("b-http"), { plainHttp: true, creds }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${secure.hostPort} speaks HTTPS: drop --plain-http`);
  }, 30_000);

  it("push with a wrong password: an authentication error about the user, no licence advice", async () => {
    const bundle = lab.path("b-auth");
    const pulled = await cli(pullPlain(bundle));
    expect(pulled.code, pulled.stderr).toBe(0);
    const r = await cli(pushSecure(bundle, "system/deckhouse", { creds: "rw:wrong-password" }));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/authentication failed: check the user and password/);
    expect(r.stderr).not.toMatch(/licen[cs]e/i);
    expect(r.stderr).not.toContain("wrong-password");
  }, 60_000);

  it("a corrupt bundle blob: push says `mirror pull` again repairs it, and it does", async () => {
    const bundle = lab.path("b-corrupt");
    const args = pullPlain(bundle);
    expect((await cli(args)).code).toBe(0);
    const [layer] = [...image.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number];
    const file = join(bundle, "blobs", "sha256", layer.slice(7));
    const bytes = await readFile(file);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await writeFile(file, bytes);
    const push = pushSecure(bundle, "system/deckhouse", { creds });
    const r = await cli(push);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`bundle blob ${layer} is corrupt`);
    expect(r.stderr).toContain("run the same `registry-module mirror pull` into this bundle again");
    expect((await cli(args)).code).toBe(0);
    const again = await cli(push);
    expect(again.code, again.stderr).toBe(0);
  }, 90_000);

  it("a damaged manifest of the same size is written anew by the next pull", async () => {
    const bundle = lab.path("b-manifest");
    const args = pullPlain(bundle);
    expect((await cli(args)).code).toBe(0);
    const file = join(bundle, "blobs", "sha256", image.digest.slice(7));
    const good = await readFile(file);
    const bad = Buffer.from(good);
    bad[10] = (bad[10] ?? 0) ^ 0x01;
    await writeFile(file, bad);
    expect((await cli(args)).code).toBe(0);
    expect((await readFile(file)).equals(good)).toBe(true);
  }, 60_000);
});

describe("mirror: summaries", () => {
  it("push --dry-run: singular for one image, and no duration or transfer rate", async () => {
    const bundle = lab.path("b-dry");
    expect((await cli(pullPlain(bundle))).code).toBe(0);
    const r = await cli(pushSecure(bundle, "dry/system/deckhouse", { creds, dryRun: true }));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^would push 1 image \(1 tag\) to /);
    expect(r.stdout).not.toMatch(/\/s\b|\d s\b/);
  }, 60_000);
});

describe("mirror: Ctrl-C on a terminal", () => {
  it("gives the terminal back (cursor, line wrapping) and says to run the same command again", async () => {
    // far away enough that the pull is still drawing bars when the key is typed
    const relay = await startLatencyProxy({ target: plain.hostPort, oneWayMs: 40 });
    const bundle = lab.path("b-ctrl-c");
    const command = [
      process.execPath,
      ...MIRROR_CLI,
      ...pullFrom(`${relay.hostPort}/deckhouse/ee`, bundle, { plainHttp: true, parallel: 1 }),
    ]
      .map(a => `'${a.replace(/'/g, "'\\''")}'`)
      .join(" ");
    // script gives the command a pty; what we write to script's stdin is typed on it, so "\x03"
    // is a real Ctrl-C: the terminal's line discipline sends SIGINT to the foreground group.
    // (spawned here rather than with spawnProcess, which gives no stdin)
    const term = spawn("script", ["-q", "-f", "-e", "-c", `exec ${command}`, "/dev/null"], {
      cwd: REPO_ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const exited = new Promise<number | null>(resolve => term.once("exit", code => resolve(code)));
    try {
      let output = "";
      term.stdout.on("data", (c: Buffer) => (output += c.toString("latin1")));
      const deadline = Date.now() + 60_000;
      // bars are drawn once the cursor is hidden and line wrapping is off: cli-progress writes
      // the two separately, and the pty may hand them over in two reads
      const drawing = () => output.includes("\x1b[?25l") && output.includes("\x1b[?7l");
      while (!drawing()) {
        if (term.exitCode !== null || Date.now() > deadline)
          throw new Error(`no progress bars drawn (cursor hidden, line wrapping off):\n${output}`);
        await new Promise(r => setTimeout(r, 20));
      }
      term.stdin.write("\x03");
      expect(await exited).toBe(130);
      expect(output).toContain(INTERRUPTED);
      // the last word on each mode is "restore"
      expect(output.lastIndexOf("\x1b[?25h")).toBeGreaterThan(output.lastIndexOf("\x1b[?25l"));
      expect(output.lastIndexOf("\x1b[?7h")).toBeGreaterThan(output.lastIndexOf("\x1b[?7l"));
      expect(existsSync(join(bundle, "index.json"))).toBe(false);
    } finally {
      // script and the command it runs are one process group (detached): stop both
      if (term.exitCode === null && term.pid !== undefined) {
        process.kill(-term.pid, "SIGKILL");
        await exited;
      }
      await relay.stop();
    }
  }, 90_000);
});
