// The sandbox engine end to end, short: legacy Unmanaged → Direct (EE upstream) → Proxy on five
// real nodes (network namespaces, containerd 1.6, the module's node steps run by bash), the
// masters' node services run by the real nodeservices-manager, the BUILT module under the real
// addon-operator, and the pull loop pulling by digest through every node's CRI during both
// switches, and the in-cluster client pulling through registry.d8-system.svc:5001 with the
// credentials of deckhouse-registry (docs/adr/0122). Every switch must converge with 0 failed
// pulls, in-cluster ones included; close() must leave nothing behind.
// Needs root (network namespaces, a bridge, containerd) and `npm run build` first.
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { criPullImage, criRemoveImage } from "../node/cri";
import { BRIDGE, NAME_PREFIX, STATE_FILE } from "./nodes";
import { type Sandbox, startSandbox } from "./sandbox";
import { loadScenario } from "./scenario";
import type { LiveSnapshot, PullRecord, SandboxReport, Scenario } from "./types";

const SVC = "registry.d8-system.svc:5001";

/** The scenario `npm run sandbox -- --scenario test/sandbox/scenarios/short.yaml` plays. */
const scenario: Scenario = loadScenario(join(import.meta.dirname, "scenarios/short.yaml"));

let sb: Sandbox | undefined;
let report: SandboxReport;
const pulls: PullRecord[] = [];
const snapshots: LiveSnapshot[] = [];

const ipCmd = (...args: string[]) => execFileSync("ip", args, { encoding: "utf8" });

/** Client addresses in an upstream's access log (combined log lines start with them). */
function upstreamClients(lines: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const l of lines) {
    const m = l.match(/^(\d+\.\d+\.\d+\.\d+) - \S+ \[[^\]]+\] "(GET|HEAD) \/v2\/\S+\/manifests\//);
    if (m) out.add(m[1] as string);
  }
  return out;
}

async function waitFor(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within 60 s`);
    await new Promise(r => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the sandbox test creates network namespaces and a bridge and runs containerd: run it " +
        "as root (CAP_NET_ADMIN, CAP_SYS_ADMIN)",
    );
  }
  // what a crashed run would leave: a namespace and the bridge of ours, and its state file
  ipCmd("netns", "add", `${NAME_PREFIX}-master-0`);
  ipCmd("link", "add", BRIDGE, "type", "bridge");
  writeFileSync(
    STATE_FILE,
    JSON.stringify({ pid: 2 ** 22 + 1, dir: "", netns: [], bridge: BRIDGE }),
  );
  // with the in-cluster client: it pulls through registry.d8-system.svc with deckhouse-registry's
  // credentials, resolved to what Service registry selects (docs/adr/0122)
  sb = await startSandbox({});
}, 600_000);

afterAll(async () => {
  await sb?.close();
});

describe("sandbox: legacy Unmanaged → Direct (EE) → Proxy under the pull loop", () => {
  it("every switch converges and no pull fails", async () => {
    const s = sb as Sandbox;
    report = await s.runScenario(scenario, {
      onSnapshot: snap => snapshots.push(snap),
      onPull: r => pulls.push(r),
    });
    for (const r of s.results) expect(r.error).toBeUndefined();
    expect(report.switches.map(x => [x.from, x.to, x.converged])).toEqual([
      ["legacy Unmanaged", "Direct (EE)", true],
      ["Direct (EE)", "Proxy (EE)", true],
    ]);
    expect(report.faults).toEqual([]);
    // the failed pulls themselves first: a failure names the node, mode, image and error
    const failed = pulls.filter(p => !p.ok);
    expect(failed.map(p => `${p.node} ${p.mode} ${p.image}: ${p.error}`)).toEqual([]);
    for (const sw of report.switches) {
      expect(sw.hookRuns).toBeGreaterThan(0);
      // every node pulls twice a second (two images) for the whole switch
      expect(sw.pulls.attempted).toBeGreaterThan(5 * 2 * 10);
      expect(sw.pulls.failed).toBe(0);
    }
    for (const sw of report.switches) {
      console.log(
        `${sw.from} → ${sw.to}: ${sw.seconds} s, ${sw.hookRuns} hook runs, ` +
          `pulls ${sw.pulls.attempted} attempted, ${sw.pulls.failed} failed`,
      );
    }
    // the in-cluster client pulled all through each switch, and every pull succeeded
    for (const step of scenario.steps) {
      const own = pulls.filter(p => p.node === "in-cluster" && p.step === step.name);
      console.log(
        `in-cluster pulls during ${step.name}: ${own.length} attempted, ` +
          `${own.filter(p => !p.ok).length} failed`,
      );
      expect(own.length, step.name).toBeGreaterThan(2 * 5);
      expect(own.filter(p => !p.ok)).toEqual([]);
    }
  }, 900_000);

  it("pulled on every node, by digest, through the names the cluster used at the time", () => {
    const nodes = new Set(pulls.map(p => p.node));
    expect([...nodes].sort()).toEqual([
      "in-cluster",
      "master-0",
      "master-1",
      "master-2",
      "worker-0",
      "worker-1",
    ]);
    for (const p of pulls) expect(p.image).toMatch(/@sha256:[0-9a-f]{64}$/);
    const s = sb as Sandbox;
    // legacy: the EE upstream's own name; after the switch: the fixed address
    expect(pulls.some(p => p.image.startsWith(s.upstreams.ee.imagesRepo))).toBe(true);
    expect(pulls.some(p => p.image.startsWith(`${SVC}/system/deckhouse@`))).toBe(true);
    expect(pulls.at(-1)?.image.startsWith(`${SVC}/system/deckhouse@`)).toBe(true);
    // the in-cluster client too: first the upstream, then the fixed address
    const client = pulls.filter(p => p.node === "in-cluster");
    expect(client.some(p => p.image.startsWith(s.upstreams.ee.imagesRepo))).toBe(true);
    expect(client.at(-1)?.image.startsWith(`${SVC}/system/deckhouse@`)).toBe(true);
  });

  it("in Proxy the nodes reach the upstream only through the masters' node services", async () => {
    const s = sb as Sandbox;
    for (const node of s.nodes.list) {
      const hosts = await readFile(
        join(node.root, "etc/containerd/registry.d", SVC, "hosts.toml"),
        "utf8",
      );
      // booleans: the file holds credentials, a diff would print them
      expect(hosts.includes('[host."https://127.0.0.1:5001"]'), `${node.name}: balancer`).toBe(
        true,
      );
      expect(hosts.includes(s.upstreams.ee.registry.hostPort), `${node.name}: upstream`).toBe(
        false,
      );
      expect(node.nginx?.running).toBe(true);
    }
    for (const m of s.masters.list) {
      await waitFor(`${m.node.name} node services`, () =>
        Boolean(m.pod && Object.values(m.pod.containers).every(c => c.running)),
      );
    }
    const masterIps = s.nodes.list.filter(n => n.role === "master").map(n => n.ip);
    const log = s.upstreams.ee.registry.process.lines;
    // during Direct every node's containerd asked the upstream itself
    const seen = upstreamClients(log);
    for (const n of s.nodes.list) expect(seen.has(n.ip)).toBe(true);
    // now a pull on each worker: only the masters' gateways may reach the upstream
    const before = log.length;
    const [image] = await s.currentImages();
    for (const w of s.nodes.list.filter(n => n.role === "worker")) {
      await criRemoveImage(w.socket, image as string);
      expect(await criPullImage(w.socket, image as string)).toMatch(/^sha256:/);
    }
    const clients = [...upstreamClients(log.slice(before))];
    for (const c of clients) expect(masterIps).toContain(c);
  });

  it("the live view saw every node's version annotation and the pull counts", () => {
    const last = snapshots.at(-1) as LiveSnapshot;
    expect(last.mode).toBe("Proxy");
    expect(Object.keys(last.nodeVersions).sort()).toEqual([
      "master-0",
      "master-1",
      "master-2",
      "worker-0",
      "worker-1",
    ]);
    const versions = new Set(Object.values(last.nodeVersions));
    expect(versions.size).toBe(1);
    expect([...versions][0]).toMatch(/^[0-9a-f]{64}$/);
    expect(last.pulls.attempted).toBeGreaterThan(0);
  });

  it("close() leaves no namespace, bridge, process, state file or temp dir", async () => {
    const s = sb as Sandbox;
    const pids = [
      ...s.nodes.list.flatMap(n => [n.containerd.child.pid, n.nginx?.child.pid]),
      ...s.masters.list.flatMap(m => Object.values(m.pod?.containers ?? {}).map(c => c.child.pid)),
      s.upstreams.ee.registry.process.child.pid,
    ].filter((p): p is number => p !== undefined);
    expect(pids.length).toBeGreaterThan(10);
    await s.close();
    sb = undefined;
    expect(
      ipCmd("netns", "list")
        .split("\n")
        .filter(l => l.startsWith(`${NAME_PREFIX}-`)),
    ).toEqual([]);
    expect(ipCmd("-o", "link", "show")).not.toMatch(new RegExp(`\\d+: ${NAME_PREFIX}`));
    const alive = pids.filter(pid => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
    expect(existsSync(STATE_FILE)).toBe(false);
    expect(existsSync(s.dir)).toBe(false);
  });
});
