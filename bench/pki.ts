// PKI, secrets and users benchmark (issue 3): what a fresh switch costs (key generation, bcrypt)
// against what a steady-state run costs (checks only), in process and as a cold process.
//
//   node --import tsx bench/pki.ts        (BENCH_ROUNDS=n to change the number of rounds)
//
// In process: medians of each operation and their ratio to the steady-state run of the same
// inputs (the baseline, measured in the same run). Cold process: a bundled steady-state run
// against bare `node -e 0`, interleaved, and the same run with @peculiar/x509 loaded eagerly, to
// show what loading the X.509 builder lazily saves. A steady-state run must issue no certificate
// and compute no bcrypt hash; the benchmark fails if it does.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { createCertificateFactory } from "../lib/domain/certificate-factory";
import {
  ensurePki,
  ensureServiceCertificates,
  nodeServicesHosts,
  type CertificateFactory,
  type PkiDeps,
} from "../lib/domain/pki";
import { cryptoRandom, ensureSecrets } from "../lib/domain/secrets";
import { ensureUsers, usersForMode } from "../lib/domain/users";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const MASTERS = ["10.0.0.1", "10.0.0.2", "10.0.0.3"];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function timeIt(rounds: number, f: () => Promise<unknown>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    await f();
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(ms);
}

/** The default factory, counting what it issues. */
function countingFactory(): { factory: CertificateFactory; issued: () => number } {
  const inner = createCertificateFactory();
  let n = 0;
  return {
    factory: {
      createCa: r => (n++, inner.createCa(r)),
      createCertificate: (r, i) => (n++, inner.createCertificate(r, i)),
    },
    issued: () => n,
  };
}

async function inProcess() {
  const counting = countingFactory();
  const deps: PkiDeps = { now: () => new Date(), certificates: counting.factory };

  // one fresh switch to Local on 3 masters, kept as the steady state
  const { pki } = await ensurePki({}, deps);
  const nodes = await Promise.all(
    MASTERS.map(ip =>
      ensureServiceCertificates({ ca: pki.ca, hosts: nodeServicesHosts(ip) }, deps),
    ),
  );
  const { users } = await ensureUsers(usersForMode("Local"), {}, cryptoRandom);
  const { secrets } = ensureSecrets(undefined, cryptoRandom);

  const steady = async () => {
    await ensurePki({ state: pki, stateChecked: true }, deps);
    ensureSecrets(secrets, cryptoRandom);
    for (const [i, ip] of MASTERS.entries()) {
      const previous = nodes[i]?.certificates;
      await ensureServiceCertificates(
        { previous, ca: pki.ca, hosts: nodeServicesHosts(ip), checked: true },
        deps,
      );
    }
    await ensureUsers(usersForMode("Local"), { state: users, stateChecked: true }, cryptoRandom);
  };

  const before = counting.issued();
  await timeIt(ROUNDS, steady); // warm-up: JIT and OpenSSL's decoders
  const baseline = await timeIt(ROUNDS * 5, steady);
  if (counting.issued() !== before) throw new Error("steady state issued certificates");

  const master = nodes[0]?.certificates;
  const hosts = nodeServicesHosts(MASTERS[0] as string);
  const many = ROUNDS * 5;
  const few = Math.max(3, ROUNDS / 2);
  const rows: [string, number][] = [
    ["steady state: CA+token, 3 masters' certs, 4 users (all checked)", baseline],
    [
      "ensurePki fresh (P-256 CA + RSA 2048 token)",
      await timeIt(ROUNDS, () => ensurePki({}, deps)),
    ],
    ["ensurePki reuse, keys parsed", await timeIt(many, () => ensurePki({ state: pki }, deps))],
    [
      "ensurePki reuse, stateChecked",
      await timeIt(many, () => ensurePki({ state: pki, stateChecked: true }, deps)),
    ],
    [
      "ensureServiceCertificates fresh (2 × RSA 2048)",
      await timeIt(ROUNDS, () => ensureServiceCertificates({ ca: pki.ca, hosts }, deps)),
    ],
    [
      "ensureServiceCertificates reuse, keys parsed",
      await timeIt(many, () =>
        ensureServiceCertificates({ previous: master, ca: pki.ca, hosts }, deps),
      ),
    ],
    [
      "ensureServiceCertificates reuse, checked",
      await timeIt(many, () =>
        ensureServiceCertificates({ previous: master, ca: pki.ca, hosts, checked: true }, deps),
      ),
    ],
    [
      "ensureUsers Local fresh (4 bcrypt hashes)",
      await timeIt(few, () => ensureUsers(usersForMode("Local"), {}, cryptoRandom)),
    ],
    [
      "ensureUsers Local reuse, hashes checked (4 bcrypt checks)",
      await timeIt(few, () => ensureUsers(usersForMode("Local"), { state: users }, cryptoRandom)),
    ],
    [
      "ensureUsers Local reuse, stateChecked (no bcrypt)",
      await timeIt(many, () =>
        ensureUsers(usersForMode("Local"), { state: users, stateChecked: true }, cryptoRandom),
      ),
    ],
  ];
  console.log(`in process, medians (${ROUNDS}–${ROUNDS * 5} rounds):`);
  for (const [name, ms] of rows) {
    console.log(
      `  ${name.padEnd(62)} ${ms.toFixed(3).padStart(9)} ms  ${(ms / baseline).toFixed(2).padStart(7)}× steady`,
    );
  }
  return { pki, nodes: nodes.map(n => n.certificates), users, secrets };
}

async function coldProcess(state: Awaited<ReturnType<typeof inProcess>>) {
  const dir = mkdtempSync(join(tmpdir(), "bench-pki-"));
  try {
    const stateFile = join(dir, "state.json");
    writeFileSync(stateFile, JSON.stringify(state));
    const script = (eager: boolean, checked: boolean) => `
      import { readFileSync } from "node:fs";
      import { ensurePki, ensureServiceCertificates, nodeServicesHosts } from "./lib/domain/pki";
      import { cryptoRandom, ensureSecrets } from "./lib/domain/secrets";
      import { ensureUsers, usersForMode } from "./lib/domain/users";
      const state = JSON.parse(readFileSync(${JSON.stringify(stateFile)}, "utf8"));
      const refuse = () => { throw new Error("steady state must not issue certificates"); };
      const deps = { now: () => new Date(), certificates: { createCa: refuse, createCertificate: refuse } };
      async function main() {
      ${eager ? 'await import("@peculiar/x509");' : ""}
      await ensurePki({ state: state.pki, stateChecked: ${checked} }, deps);
      ensureSecrets(state.secrets, cryptoRandom);
      const ips = ${JSON.stringify(MASTERS)};
      for (const [i, ip] of ips.entries())
        await ensureServiceCertificates({ previous: state.nodes[i], ca: state.pki.ca, hosts: nodeServicesHosts(ip), checked: ${checked} }, deps);
      await ensureUsers(usersForMode("Local"), { state: state.users, stateChecked: true }, cryptoRandom);
      }
      main().catch(e => { console.error(e); process.exit(1); });
    `;
    const bundle = async (name: string, eager: boolean, checked = true) => {
      const outfile = join(dir, `${name}.cjs`);
      await build({
        stdin: { contents: script(eager, checked), resolveDir: resolve("."), loader: "ts" },
        outfile,
        bundle: true,
        platform: "node",
        target: "node20",
        format: "cjs",
        minify: true,
        logLevel: "warning",
      });
      return outfile;
    };
    const subjects: [string, string[]][] = [
      ["node -e 0", [process.execPath, "-e", "0"]],
      [
        "steady state, checked (x509/bcrypt not loaded)",
        [process.execPath, await bundle("lazy", false)],
      ],
      [
        "steady state, private keys parsed again",
        [process.execPath, await bundle("parsed", false, false)],
      ],
      [
        "steady state, checked, @peculiar/x509 loaded",
        [process.execPath, await bundle("eager", true)],
      ],
    ];
    const times = new Map<string, number[]>(subjects.map(([n]) => [n, []]));
    for (let round = 0; round < ROUNDS * 2; round++) {
      for (const [name, argv] of subjects) {
        const start = process.hrtime.bigint();
        const r = spawnSync(argv[0] as string, argv.slice(1), {
          stdio: ["ignore", "ignore", "pipe"],
        });
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr.toString()}`);
        times.get(name)?.push(ms);
      }
    }
    const base = median(times.get("node -e 0") ?? []);
    console.log(`cold process, medians of ${ROUNDS * 2} interleaved runs:`);
    for (const [name] of subjects) {
      const ms = median(times.get(name) ?? []);
      console.log(
        `  ${name.padEnd(62)} ${ms.toFixed(1).padStart(9)} ms  ${(ms / base).toFixed(2).padStart(7)}× node -e 0`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const state = await inProcess();
await coldProcess(state);
