// Switch legacy Unmanaged → Direct end to end (issue 10): the BUILT module under the real
// addon-operator against the lab API server (test/lab), the actors playing against the API and
// the checker asking a real loopback registry; side by side with the in-memory simulator
// (lib/simulate) on the same cluster and settings, in the same run. Per round: a fresh control
// plane and operator, settled in legacy Unmanaged first; then the switch is timed from the
// `kubectl patch` of ModuleConfig/deckhouse until registry-state says Direct is done. Hook runs:
// addon-operator's "Module hook start" lines during the switch; the simulator's rounds × its
// beforeHelm hooks. The real switch waits on the checker's 10 s schedule by design: the ratio is
// the price of real time, not of our code.
//
//   node --import tsx bench/lab-switch.ts            (BENCH_ROUNDS, default 3; needs npm run build
//                                                    and npm run lab -- tools)
import { hooks } from "../hooks/index";
import { quantile } from "./lib";
import {
  settingsFor,
  simulateSwitch,
  startSimulation,
  startSwitchLab,
} from "../test/lab/switch-scenario";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BEFORE_HELM_HOOKS = hooks.filter(h => h.beforeHelm !== undefined).length;

interface Sample {
  realMs: number;
  realHookRuns: number;
  simMs: number;
  simHookRuns: number;
  startMs: number;
}

async function round(i: number): Promise<Sample> {
  const startedAt = Date.now();
  const lab = await startSwitchLab(`bench-${i}`);
  try {
    const startMs = lab.cp.timings?.totalMs ?? Date.now() - startedAt;
    const sim = await startSimulation(lab);
    await sim.converge(10);
    const settings = settingsFor("Direct", lab.registry, lab.ca);
    const simStart = process.hrtime.bigint();
    const before = sim.runs.length;
    await simulateSwitch(sim, settings, "Direct", 2);
    const simMs = Number(process.hrtime.bigint() - simStart) / 1e6;
    const simHookRuns = (sim.runs.length - before) * BEFORE_HELM_HOOKS;

    await lab.startOperator();
    lab.startActors();
    await lab.waitFinished("Unmanaged", 240_000, "legacy Unmanaged at start");
    const runsBefore = lab.operator.hookRuns();
    const realStart = process.hrtime.bigint();
    await lab.switchTo("Direct", 300_000);
    const realMs = Number(process.hrtime.bigint() - realStart) / 1e6;
    return {
      realMs,
      realHookRuns: lab.operator.hookRuns() - runsBefore,
      simMs,
      simHookRuns,
      startMs,
    };
  } finally {
    await lab.close();
  }
}

const samples: Sample[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const s = await round(i);
  samples.push(s);
  process.stderr.write(`round ${i + 1}/${ROUNDS}: ${JSON.stringify(s)}\n`);
}

const stat = (xs: number[]) => {
  const med = quantile(xs, 0.5);
  return `median ${med.toFixed(0)}  min ${Math.min(...xs).toFixed(0)}  max ${Math.max(...xs).toFixed(0)}`;
};
const col = (k: keyof Sample) => samples.map(s => s[k]);
console.log(`lab switch legacy Unmanaged → Direct, ${ROUNDS} rounds`);
console.log(`  control plane start (etcd + kube-apiserver ready), ms: ${stat(col("startMs"))}`);
console.log(`  real (addon-operator + kube-apiserver), wall ms:       ${stat(col("realMs"))}`);
console.log(
  `  real hook runs:                                        ${stat(col("realHookRuns"))}`,
);
console.log(`  simulator, wall ms:                                    ${stat(col("simMs"))}`);
console.log(`  simulator hook runs:                                   ${stat(col("simHookRuns"))}`);
const ratio = samples.map(s => s.realMs / s.simMs);
console.log(`  wall time real / simulator:                            ${stat(ratio)}`);
