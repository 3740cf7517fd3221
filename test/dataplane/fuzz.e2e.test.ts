// The fuzz suite (issue 15, "make it permanent"): a bounded run of the adversarial generator
// (test/dataplane/support/fuzz.ts, fixed seed) against the running gateway of each mode, in front
// of real distribution. The gateway must stay up, answer every well-framed request with a status
// (and never leave any request hanging), and keep serving a legitimate client afterwards.
// `npm run fuzz -- --seed N --count N` runs the same generator longer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, type Lab, requireTools } from "../e2e-lab";
import { runFuzz } from "./support/fuzz";
import { https } from "./support/gateway";
import { type GatewayStack, stackFixtures, startStack, type StackFixtures } from "./support/stacks";

const SEED = 15;
const COUNT = 150;
let lab: Lab;
let f: StackFixtures;

beforeAll(async () => {
  requireTools("docker-registry", "skopeo", "openssl", "htpasswd");
  lab = await createLab("fuzz");
  f = await stackFixtures(lab);
}, 120_000);

afterAll(async () => {
  await lab?.close();
});

/** A legitimate pull of the manifest, with a deadline (no timed assertion: a bound on hanging). */
async function legitimatePull(s: GatewayStack): Promise<number> {
  const deadline = new Promise<number>(resolve => setTimeout(() => resolve(-1), 30_000).unref());
  const pull = https(`${s.base}/v2/system/deckhouse/manifests/v1`, {
    ca: s.ca,
    auth: `${s.ro.name}:${s.ro.password}`,
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  }).then(r => r.status);
  return Promise.race([pull, deadline]);
}

describe("fuzzing the running gateway (fixed seed, bounded count, loopback)", () => {
  for (const mode of ["local", "proxy", "direct"] as const) {
    it(`${mode}: ${COUNT} generated requests, then a legitimate pull`, async () => {
      const s = await startStack(f, mode);
      const creds = { ro: s.ro, rw: s.rw, digest: s.image.digest };
      const targets = [{ base: s.base, ca: s.ca }];
      if (s.upstreamListener) targets.push({ base: s.upstreamListener, ca: s.ca });
      targets.push({ base: s.monitoring, ca: s.ca });
      for (const [i, target] of targets.entries()) {
        const report = await runFuzz(target, creds, {
          seed: SEED + i,
          count: COUNT,
          parallel: 4,
        });
        expect(
          report.failures.map(o => JSON.stringify(o)),
          `${target.base} ${JSON.stringify(report.statuses)}`,
        ).toEqual([]);
        expect(s.proc.running, `gateway died:\n${s.proc.tail()}`).toBe(true);
        if (s.nginx) expect(s.nginx.proc.running, `nginx died:\n${s.nginx.proc.tail()}`).toBe(true);
        // every case was answered one way or another; most with a status
        expect(Object.values(report.statuses).reduce((a, b) => a + b, 0)).toBe(COUNT);
      }
      expect(await legitimatePull(s)).toBe(200);
      if (mode !== "direct") {
        const ready = await fetch(`${s.monitoring}/readyz`);
        expect(ready.status).toBe(200);
      }
      await s.proc.stop();
    }, 240_000);
  }
});
