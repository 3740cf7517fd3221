// `npm run bench [-- name...]`: runs the benchmarks (all by default). Each prints its figures as
// ratios against a baseline measured in the same run; none is part of `npm test`.
import { benchHooks } from "./hooks";
import { benchOrchestrator } from "./orchestrator";

const BENCHES: Record<string, () => Promise<void>> = {
  hooks: benchHooks,
  orchestrator: benchOrchestrator,
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length > 0 ? wanted : Object.keys(BENCHES);
  for (const name of names) {
    const bench = BENCHES[name];
    if (!bench)
      throw new Error(`unknown benchmark ${name}; have ${Object.keys(BENCHES).join(", ")}`);
    console.log(`\n== ${name}`);
    await bench();
  }
  console.log(
    "\nOther benchmarks (node --import tsx bench/<name>.ts): pki, checker, node, dataplane, mirror",
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
