// Soak (issue 15): the running gateway (bundled program, own process) in front of real distribution
// under mixed hostile load for minutes — stalled blob readers, wrong-password guessing, fuzz cases —
// while legitimate clients pull. Reports the gateway's RSS and open file descriptors sampled over
// time (does it plateau?) and the p50/p99 of legitimate requests, as a ratio against a quiet phase
// (legitimate clients alone) measured first in the same run.
//
//   node --import tsx bench/soak.ts [--minutes 10] [--mode local|proxy|direct] [--quiet-seconds 30]
import { readdirSync, readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { parseArgs } from "node:util";
import { createCa, createLab, requireTools } from "../test/e2e-lab";
import { runFuzz } from "../test/dataplane/support/fuzz";
import { bundles } from "../test/dataplane/support/masters";
import { basicAuth, openSocket } from "../test/dataplane/support/raw";
import { startStack } from "../test/dataplane/support/stacks";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "10" },
    mode: { type: "string", default: "local" },
    "quiet-seconds": { type: "string", default: "30" },
  },
  strict: true,
});
const minutes = Number(values.minutes);
const quietSeconds = Number(values["quiet-seconds"]);
const mode = values.mode as "local" | "proxy" | "direct";
if (!(minutes > 0) || !(quietSeconds > 0) || !["local", "proxy", "direct"].includes(mode)) {
  process.stderr.write(
    "usage: bench/soak.ts [--minutes N] [--mode local|proxy|direct] [--quiet-seconds N]\n",
  );
  process.exit(2);
}

const LEGIT_CLIENTS = 4;
const SLOW_READERS = 16;
const GUESSES_PER_SECOND = 20;

requireTools("docker-registry", "skopeo", "openssl", "htpasswd");
const lab = await createLab("soak");
try {
  const { gateway } = await bundles(lab.path("bundles"));
  const s = await startStack(
    {
      lab,
      gatewayBundle: gateway,
      moduleCa: await createCa(lab.path("module-pki"), "registry-ca"),
      upstreamCa: await createCa(lab.path("upstream-pki"), "upstream-ca"),
    },
    mode,
    { payloadBytes: 32 * 1024 * 1024 },
  );
  const pid = s.proc.child.pid as number;
  const layer = ([...s.image.blobs].sort((a, b) => b[1] - a[1])[0] as [string, number])[0];
  const small = ([...s.image.blobs].sort((a, b) => a[1] - b[1])[0] as [string, number])[0];
  const url = new URL(s.base);

  const sample = () => {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return { t: Date.now(), rssMb: rssKb / 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
  };

  // legitimate clients: kept-alive connections from 127.0.0.2, manifest then a small blob
  const agent = new Agent({
    keepAlive: true,
    maxSockets: LEGIT_CLIENTS,
    ca: s.ca,
    localAddress: "127.0.0.2",
  });
  const auth = basicAuth(s.ro.name, s.ro.password);
  const get = (path: string, accept?: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          agent,
          headers: { authorization: auth, ...(accept ? { accept } : {}) },
        },
        res => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        },
      );
      req.setTimeout(60_000, () => req.destroy(new Error("no answer in 60 s")));
      req.on("error", reject);
      req.end();
    });
  type Phase = { latencies: number[]; errors: number };
  const phases: Record<"quiet" | "load", Phase> = {
    quiet: { latencies: [], errors: 0 },
    load: { latencies: [], errors: 0 },
  };
  let phase: Phase = phases.quiet;
  let running = true;
  const legit = async () => {
    while (running) {
      for (const [path, accept] of [
        ["/v2/system/deckhouse/manifests/v1", "application/vnd.oci.image.manifest.v1+json"],
        [`/v2/system/deckhouse/blobs/${small}`, undefined],
      ] as const) {
        const p = phase;
        const t0 = performance.now();
        try {
          const code = await get(path, accept);
          if (code === 200) p.latencies.push(performance.now() - t0);
          else p.errors++;
        } catch {
          p.errors++;
        }
      }
    }
  };
  const legitDone = Promise.all(Array.from({ length: LEGIT_CLIENTS }, legit));

  const samples = [sample()];
  const sampler = setInterval(() => samples.push(sample()), 10_000);
  process.stdout.write(`soak ${mode}: quiet phase ${quietSeconds} s (legitimate clients alone)\n`);
  await new Promise(r => setTimeout(r, quietSeconds * 1000));
  phase = phases.load;
  const loadStart = samples.length;
  samples.push(sample());
  process.stdout.write(`soak ${mode}: load phase ${minutes} min\n`);
  const until = Date.now() + minutes * 60_000;

  // stalled readers from 127.0.0.1: ask for the large blob, read nothing, hang up after 90 s
  let stalled = 0;
  const stalledLoop = async () => {
    while (Date.now() < until) {
      if (stalled < SLOW_READERS) {
        stalled++;
        const sock = await openSocket({ base: s.base, ca: s.ca }, "127.0.0.1").catch(
          () => undefined,
        );
        if (!sock) {
          stalled--;
          continue;
        }
        sock.on("error", () => undefined);
        sock.write(
          `GET /v2/system/deckhouse/blobs/${layer} HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\n\r\n`,
        );
        sock.pause();
        setTimeout(() => {
          sock.destroy();
          stalled--;
        }, 90_000).unref();
      }
      await new Promise(r => setTimeout(r, 2_000));
    }
  };
  // password guessing from 127.0.0.3 and (one guess each) many other addresses
  let guesses = 0;
  const guessLoop = async () => {
    while (Date.now() < until) {
      const from =
        guesses % 2 === 0
          ? "127.0.0.3"
          : `127.0.${10 + ((guesses >> 8) & 63)}.${guesses & 255 || 1}`;
      const sock = await openSocket({ base: s.base, ca: s.ca }, from).catch(() => undefined);
      guesses++;
      if (sock) {
        sock.on("error", () => undefined);
        sock.on("data", () => sock.destroy());
        sock.write(
          `GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: ${basicAuth("rw", `guess-${guesses}`)}\r\n\r\n`,
        );
        setTimeout(() => sock.destroy(), 10_000).unref();
      }
      await new Promise(r => setTimeout(r, 1000 / GUESSES_PER_SECOND));
    }
  };
  // fuzz cases in batches
  let fuzzed = 0;
  const fuzzLoop = async () => {
    for (let seed = 1000; Date.now() < until; seed++) {
      await runFuzz(
        { base: s.base, ca: s.ca },
        { ro: s.ro, rw: s.rw, digest: s.image.digest },
        { seed, count: 50, parallel: 2 },
      );
      fuzzed += 50;
    }
  };
  const progress = setInterval(() => {
    const last = samples.at(-1);
    process.stdout.write(
      `  ${((Date.now() - (until - minutes * 60_000)) / 60_000).toFixed(1)} min: rss ${last?.rssMb.toFixed(1)} MB, fds ${last?.fds}, ` +
        `legit ${phases.load.latencies.length} ok / ${phases.load.errors} failed, guesses ${guesses}, fuzz ${fuzzed}, stalled ${stalled}\n`,
    );
  }, 60_000);
  await Promise.all([stalledLoop(), guessLoop(), fuzzLoop()]);
  clearInterval(progress);
  running = false;
  await legitDone;
  clearInterval(sampler);
  samples.push(sample());
  agent.destroy();

  const q = (xs: number[], p: number) => {
    const sorted = [...xs].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
  };
  const load = samples.slice(loadStart);
  const third = Math.max(1, Math.floor(load.length / 3));
  const maxOf = (xs: typeof load, k: "rssMb" | "fds") => Math.max(...xs.map(x => x[k]));
  const early = load.slice(0, third);
  const late = load.slice(-third);
  const fmt = (n: number) => n.toFixed(1);
  process.stdout.write(
    [
      `soak ${mode}: ${minutes} min of load after ${quietSeconds} s quiet; gateway alive: ${s.proc.running}`,
      `  RSS MB: quiet start ${fmt(samples[0]?.rssMb ?? NaN)}, load start ${fmt(load[0]?.rssMb ?? NaN)}, end ${fmt(load.at(-1)?.rssMb ?? NaN)}; ` +
        `max first third ${fmt(maxOf(early, "rssMb"))}, max last third ${fmt(maxOf(late, "rssMb"))} (ratio ${(maxOf(late, "rssMb") / maxOf(early, "rssMb")).toFixed(2)})`,
      `  open fds: quiet start ${samples[0]?.fds}, load start ${load[0]?.fds}, end ${load.at(-1)?.fds}; ` +
        `max first third ${maxOf(early, "fds")}, max last third ${maxOf(late, "fds")}`,
      `  legitimate requests: quiet ${phases.quiet.latencies.length} ok (${phases.quiet.errors} failed) p50 ${fmt(q(phases.quiet.latencies, 0.5))} ms p99 ${fmt(q(phases.quiet.latencies, 0.99))} ms; ` +
        `load ${phases.load.latencies.length} ok (${phases.load.errors} failed) p50 ${fmt(q(phases.load.latencies, 0.5))} ms p99 ${fmt(q(phases.load.latencies, 0.99))} ms`,
      `  p99 under load / quiet p99: ${(q(phases.load.latencies, 0.99) / q(phases.quiet.latencies, 0.99)).toFixed(2)}x`,
      `  hostile: ${guesses} password guesses, ${fuzzed} fuzz cases, up to ${SLOW_READERS} stalled readers at a time`,
      `  samples (min: rss MB/fds): ${load.map(x => `${((x.t - (load[0]?.t ?? 0)) / 60_000).toFixed(1)}:${fmt(x.rssMb)}/${x.fds}`).join(" ")}`,
      "",
    ].join("\n"),
  );
  await s.proc.stop();
} finally {
  await lab.close();
}
process.exit(0);
