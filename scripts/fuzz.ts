// `npm run fuzz -- [--seed N] [--count N] [--mode local|proxy|direct] [--parallel N]`: the fuzz
// suite's generator (test/dataplane/support/fuzz.ts) run longer against the running gateway of
// each mode, on loopback, with real distribution behind it. Prints the statuses per listener and
// every case that hung or got no answer (reproducible from seed and index); exits 1 if any did,
// or if the gateway died or stopped serving a legitimate pull.
import { parseArgs } from "node:util";
import { createCa, createLab, requireTools } from "../test/e2e-lab";
import { runFuzz } from "../test/dataplane/support/fuzz";
import { https } from "../test/dataplane/support/gateway";
import { bundles } from "../test/dataplane/support/masters";
import { startStack } from "../test/dataplane/support/stacks";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    count: { type: "string", default: "5000" },
    mode: { type: "string", multiple: true },
    parallel: { type: "string", default: "8" },
  },
  strict: true,
});
const seed = Number(values.seed);
const count = Number(values.count);
const parallel = Number(values.parallel);
const modes = (values.mode ?? ["local", "proxy", "direct"]) as ("local" | "proxy" | "direct")[];
for (const [flag, n] of [
  ["--seed", seed],
  ["--count", count],
  ["--parallel", parallel],
] as const) {
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`${flag}: expected a non-negative integer\n`);
    process.exit(2);
  }
}
for (const m of modes) {
  if (!["local", "proxy", "direct"].includes(m)) {
    process.stderr.write(`--mode "${m}": expected local, proxy or direct\n`);
    process.exit(2);
  }
}

requireTools("docker-registry", "skopeo", "openssl", "htpasswd");
const lab = await createLab("fuzz-long");
let failed = false;
try {
  const { gateway } = await bundles(lab.path("bundles"));
  const f = {
    lab,
    gatewayBundle: gateway,
    moduleCa: await createCa(lab.path("module-pki"), "registry-ca"),
    upstreamCa: await createCa(lab.path("upstream-pki"), "upstream-ca"),
  };
  process.stdout.write(
    `fuzz: seed ${seed}, ${count} cases per listener, modes ${modes.join(", ")}\n`,
  );
  for (const mode of modes) {
    const s = await startStack(f, mode);
    const creds = { ro: s.ro, rw: s.rw, digest: s.image.digest };
    const targets = [s.base, ...(s.upstreamListener ? [s.upstreamListener] : []), s.monitoring];
    for (const [i, base] of targets.entries()) {
      const started = Date.now();
      const report = await runFuzz({ base, ca: s.ca }, creds, { seed: seed + i, count, parallel });
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `${mode} ${base} (seed ${seed + i}): ${JSON.stringify(report.statuses)} in ${secs} s\n`,
      );
      for (const o of report.failures) {
        failed = true;
        process.stdout.write(
          `  FAIL #${o.index} ${o.timedOut ? "hung" : "no status"}: ${o.label}\n`,
        );
      }
      if (!s.proc.running) {
        failed = true;
        process.stdout.write(`  FAIL gateway died:\n${s.proc.tail()}\n`);
        break;
      }
    }
    const pull = await https(`${s.base}/v2/system/deckhouse/manifests/v1`, {
      ca: s.ca,
      auth: `${s.ro.name}:${s.ro.password}`,
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    }).catch((e: unknown) => ({ status: String(e) }));
    process.stdout.write(`${mode}: legitimate pull afterwards: ${pull.status}\n`);
    if (pull.status !== 200) failed = true;
    await s.proc.stop();
  }
} finally {
  await lab.close();
}
process.exit(failed ? 1 : 0);
