// Lab control plane benchmark (issue 10): how long the lab takes to be usable with a cached build.
//
//   node --import tsx bench/lab.ts        (BENCH_ROUNDS=n to change the number of rounds, default 5)
//
// Per round, in this order: the tool check of a cached build (version stamps; baseline: Go's own
// up-to-date check, `go build` of the cached kube-apiserver, measured once), etcd + kube-apiserver
// from nothing to /readyz (PKI, etcd healthy, apiserver ready; baseline: etcd alone to healthy,
// in the same round), stop(), and the whole `lab up` (tools, control plane, CRDs, static cluster)
// followed by `lab down`. Medians with min..max over the rounds; ratios against the baselines.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../test/e2e-lab/network";
import { labDown, labUp } from "../test/lab/cli";
import { startControlPlane } from "../test/lab/control-plane";
import { buildLabTools, KUBERNETES_MODULE_DIR } from "../test/lab/tools";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const since = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b);
  return {
    median: s[Math.floor(s.length / 2)] as number,
    min: s[0] as number,
    max: s.at(-1) as number,
  };
}

const fmt = (xs: number[]) => {
  const { median, min, max } = stats(xs);
  return `${median.toFixed(0)} ms (${min.toFixed(0)}..${max.toFixed(0)})`;
};

/** etcd alone, as the control plane starts it, to /health: the floor under a control plane. */
async function etcdAlone(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "registry-lab-bench-etcd-"));
  const start = process.hrtime.bigint();
  const [port, peer] = await Promise.all([freePort(), freePort()]);
  const etcd = spawn(
    "etcd",
    [
      "--name=lab",
      `--data-dir=${join(dir, "data")}`,
      `--listen-client-urls=http://127.0.0.1:${port}`,
      `--advertise-client-urls=http://127.0.0.1:${port}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=lab=http://127.0.0.1:${peer}`,
      "--heartbeat-interval=10",
      "--election-timeout=100",
      "--log-level=warn",
      "--logger=zap",
    ],
    { stdio: "ignore" },
  );
  try {
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/health`)
        .then(r => r.ok)
        .catch(() => false);
      if (ok) return since(start);
      if (etcd.exitCode !== null) throw new Error("etcd exited");
      await new Promise(r => setTimeout(r, 20));
    }
  } finally {
    etcd.kill("SIGKILL");
    await new Promise(r => etcd.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const columns = {
    toolCheck: [] as number[],
    etcdAlone: [] as number[],
    pki: [] as number[],
    etcd: [] as number[],
    apiserver: [] as number[],
    ready: [] as number[],
    stop: [] as number[],
    labUp: [] as number[],
    labDown: [] as number[],
  };
  // Go's own up-to-date check of the cached kube-apiserver (links again): once, it is slow
  const goStart = process.hrtime.bigint();
  const out = join(mkdtempSync(join(tmpdir(), "registry-lab-bench-go-")), "kube-apiserver");
  const go = spawnSync("go", ["build", "-o", out, "k8s.io/kubernetes/cmd/kube-apiserver"], {
    cwd: KUBERNETES_MODULE_DIR,
    env: { ...process.env, GOTOOLCHAIN: "local" },
    stdio: "ignore",
  });
  const goMs = since(goStart);
  rmSync(join(out, ".."), { recursive: true, force: true });
  if (go.status !== 0) throw new Error("go build of the cached kube-apiserver failed");

  for (let round = 0; round < ROUNDS; round++) {
    let t = process.hrtime.bigint();
    const reports = await buildLabTools();
    columns.toolCheck.push(since(t));
    if (reports.some(r => r.built))
      throw new Error("a tool was (re)built: run `npm run lab -- tools` before benchmarking");

    columns.etcdAlone.push(await etcdAlone());

    const cp = await startControlPlane();
    const timings = cp.timings;
    if (!timings) throw new Error("no timings");
    columns.pki.push(timings.pkiMs);
    columns.etcd.push(timings.etcdMs);
    columns.apiserver.push(timings.apiserverMs);
    columns.ready.push(timings.totalMs);
    t = process.hrtime.bigint();
    await cp.stop();
    columns.stop.push(since(t));

    const state = mkdtempSync(join(tmpdir(), "registry-lab-bench-up-"));
    t = process.hrtime.bigint();
    const labCp = await labUp(state);
    columns.labUp.push(since(t));
    t = process.hrtime.bigint();
    await labDown(labCp.dir);
    columns.labDown.push(since(t));
    rmSync(state, { recursive: true, force: true });
    process.stderr.write(`round ${round + 1}/${ROUNDS}: ready in ${timings.totalMs} ms\n`);
  }

  const ready = stats(columns.ready).median;
  console.log(`\nlab control plane, ${ROUNDS} rounds (median (min..max))`);
  console.table({
    "tool check, cached build (version stamps)": {
      time: fmt(columns.toolCheck),
      ratio: `${(stats(columns.toolCheck).median / goMs).toFixed(4)} × go's up-to-date build (${goMs.toFixed(0)} ms, once)`,
    },
    "PKI + kubeconfig (openssl)": { time: fmt(columns.pki), ratio: "" },
    "etcd to /health": { time: fmt(columns.etcd), ratio: "" },
    "kube-apiserver to /readyz": { time: fmt(columns.apiserver), ratio: "" },
    "etcd + kube-apiserver ready (start → /readyz)": {
      time: fmt(columns.ready),
      ratio: `${(ready / stats(columns.etcdAlone).median).toFixed(1)} × etcd alone (${fmt(columns.etcdAlone)})`,
    },
    "stop (both processes, dirs removed)": { time: fmt(columns.stop), ratio: "" },
    "lab up (tools, control plane, CRDs, static cluster)": {
      time: fmt(columns.labUp),
      ratio: `${(stats(columns.labUp).median / ready).toFixed(2)} × control plane ready`,
    },
    "lab down": { time: fmt(columns.labDown), ratio: "" },
  });
  console.log(`target: control plane ready ≤ 10000 ms; median ${ready.toFixed(0)} ms`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
