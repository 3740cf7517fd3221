// What the module puts into the cluster in each mode and stage, one reviewed file per snapshot
// (cdk8s style): a 3-master + 2-worker static cluster goes legacy Unmanaged → Direct → Proxy →
// Direct → Local → Direct →
// configurable Unmanaged → legacy Unmanaged through the simulator (the module's real
// hooks, Helm apply/prune, the other actors). For each switch two stages are written down:
// `switching` (the last module run before `mode` flips to the target: both sides' objects
// present, transition containerd config) and `converged`.
//
// These files are the behaviour a refactoring must keep: a diff in them is a behaviour change to
// review, never something to regenerate blindly (`npx vitest run test/snapshots -u` rewrites
// them). Randomness is seeded and the clock fixed; what still differs from process to process
// (key pairs, and so certificates and the checksums over them) is replaced by numbered
// placeholders, the same number for the same value, so reuse across objects stays visible.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { hooks } from "../../hooks/index";
import { createOrchestratorHook } from "../../hooks/orchestrator";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster, moduleConfig } from "../fixtures/clusters/generate";
import { reusedKeyPairs } from "../support/reused-keys";
import { createCertificateFactory } from "../../lib/domain/certificate-factory";
import { createDefaultDeps } from "../../lib/orchestrator/default-deps";

const globalValues = (
  parse(readFileSync("examples/values.yaml", "utf8")) as { global: Record<string, unknown> }
).global;

const UPSTREAM = "registry.example.com/deckhouse/ee";

/** xorshift32: the same bytes every run, so generated passwords and secrets are stable. */
function seededRandom(seed = 0x2545f491): (size: number) => Uint8Array {
  let x = seed;
  return size => {
    const out = new Uint8Array(size);
    for (let i = 0; i < size; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  };
}

const CLOCK = new Date("2026-01-01T00:00:00Z");

// Values that differ from process to process even with seeded randomness and a fixed clock.
const VARYING: [RegExp, string][] = [
  [/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----\\?n?/g, "PEM"],
  [/\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}/g, "bcrypt"],
  [/\b[0-9a-f]{64}\b/g, "sha256"],
  [/\b[0-9a-f]{16,40}\b/g, "hex"],
];

class Placeholders {
  #seen = new Map<string, string>();
  replace(text: string): string {
    let out = text;
    for (const [re, kind] of VARYING) {
      out = out.replace(re, (match: string) => {
        const key = `${kind}:${match}`;
        let name = this.#seen.get(key);
        if (!name) {
          name = `<${kind} #${[...this.#seen.keys()].filter(k => k.startsWith(`${kind}:`)).length + 1}>`;
          this.#seen.set(key, name);
        }
        return name;
      });
    }
    return out;
  }
}

/** Secret data decoded (a reviewer reads config files, not base64). */
function readable(o: KubeObject): KubeObject {
  if (o.kind !== "Secret" || !o.data) return o;
  const data = o.data as Record<string, string>;
  const decoded = Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]),
  );
  const { data: _data, ...rest } = o;
  return { ...rest, "data (decoded)": decoded } as KubeObject;
}

const order = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/** The objects the module rendered, plus what its hooks wrote to the cluster directly. */
function snapshotOf(sim: Simulation): string {
  const registry = sim.values().registry as { internal?: { manifests?: KubeObject[] } };
  const rendered = registry.internal?.manifests ?? [];
  const direct = [...sim.world.values()].filter(
    o => o.kind === "Secret" && o.metadata.name === "deckhouse-registry",
  );
  const objects = [...rendered, ...direct].sort((a, b) => order(a).localeCompare(order(b)));
  const placeholders = new Placeholders();
  return objects
    .map(o => placeholders.replace(stringify(readable(o), { lineWidth: 0, sortMapEntries: true })))
    .join("---\n");
}

const direct = (password: string) => ({
  mode: "Direct",
  direct: { imagesRepo: UPSTREAM, username: "puller", password },
});

// The switches the spec allows, in an order that reaches every mode (Proxy ↔ Local is refused
// with ErrTransitionNotSupported, so Local is entered and left through Direct).
const SWITCHES: { file: string; registry: Record<string, unknown> | undefined; flips?: false }[] = [
  { file: "1-direct", registry: direct("first-p4ss") },
  {
    file: "2-proxy",
    registry: { mode: "Proxy", proxy: { imagesRepo: UPSTREAM, license: "lic3nse" } },
  },
  { file: "3-direct-from-proxy", registry: direct("second-p4ss") },
  { file: "4-local", registry: { mode: "Local" } },
  { file: "5-direct-from-local", registry: direct("third-p4ss") },
  {
    file: "6-unmanaged-configurable",
    registry: {
      mode: "Unmanaged",
      unmanaged: { imagesRepo: UPSTREAM, username: "puller", password: "fourth-p4ss" },
    },
  },
  // `mode` stays Unmanaged, so this switch has no stage before a flip
  { file: "7-unmanaged-legacy", registry: { mode: "Unmanaged" }, flips: false },
];

const NAMES = [
  "0-unmanaged-legacy.converged",
  ...SWITCHES.flatMap(s =>
    s.flips === false ? [`${s.file}.converged`] : [`${s.file}.switching`, `${s.file}.converged`],
  ),
];

describe("rendered objects per mode and stage", () => {
  const snapshots = new Map<string, string>();

  beforeAll(async () => {
    let generation = 1;
    const random = seededRandom();
    const now = () => CLOCK;
    const deterministicDeps = createDefaultDeps({
      now,
      random,
      certificates: createCertificateFactory({ keyPairs: reusedKeyPairs, random }),
    });
    const sim = await Simulation.start({
      objects: cluster({ nodes: 5, masters: 3, generation }),
      globalValues,
      hooks: hooks.map(h =>
        h.name === "orchestrator" ? createOrchestratorHook(() => deterministicDeps) : h,
      ),
      openapiDir: "openapi",
    });
    expect((await sim.converge(10)).converged).toBe(true);
    snapshots.set("0-unmanaged-legacy.converged", snapshotOf(sim));
    for (const step of SWITCHES) {
      generation += 1;
      sim.apply([moduleConfig(step.registry, generation)]);
      const start = sim.runs.length;
      let switching: string | undefined;
      while (sim.runs.length - start < 60) {
        const before = snapshotOf(sim);
        const record = await sim.round();
        const last = sim.runs.at(-2);
        if (record.mode !== last?.mode && sim.runs.length - start > 1) switching = before;
        if (record.ready && record.mode === record.target_mode && sim.runs.length - start > 1)
          break;
      }
      const last = sim.runs.at(-1);
      expect(
        last?.ready && last.mode === last.target_mode,
        `${step.file}: did not converge: ${JSON.stringify(last)}`,
      ).toBe(true);
      if (switching) snapshots.set(`${step.file}.switching`, switching);
      snapshots.set(`${step.file}.converged`, snapshotOf(sim));
    }
  }, 240_000);

  it("takes every switch through a switching and a converged stage", () => {
    expect([...snapshots.keys()]).toEqual(NAMES);
  });

  it.each(NAMES)("%s", async name => {
    const text = snapshots.get(name);
    expect(text, `no snapshot taken for ${name}`).toEqual(expect.any(String));
    await expect(text).toMatchFileSnapshot(join(import.meta.dirname, "modes", `${name}.yaml`));
  });
});
