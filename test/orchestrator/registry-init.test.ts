// Bootstrap hand-over (docs/architecture.md#bootstrap): dhctl leaves Secret registry-init with the
// CA and the ro/rw users the nodes were bootstrapped with. The first run takes all of them, not
// only the CA: a Local cluster keeps the seeded passwords in registry-user-ro / registry-user-rw.
import bcrypt from "bcryptjs";
import { stringify } from "yaml";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../lib/runtime/types";
import { Simulation } from "../../lib/simulate/simulate";
import { cluster } from "../fixtures/clusters/generate";
import { globalValues as exampleGlobalValues } from "../support/mode-states";
import { depsWithReusedKeys, hooksWithReusedKeys } from "../support/reused-keys";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const fromB64 = (s: unknown) => Buffer.from(String(s), "base64").toString("utf8");
const globalValues = exampleGlobalValues();

describe("registry-init at bootstrap", () => {
  it("seeds the CA and the ro and rw users", async () => {
    const seedPki = await depsWithReusedKeys().ensurePki({});
    const config = {
      ca: seedPki.ca,
      // a hash that does not match is recomputed; a matching one is kept
      ro_user: { name: "ro", password: "ro-from-dhctl-0123", password_hash: "not-a-hash" },
      rw_user: {
        name: "rw",
        password: "rw-from-dhctl-4567",
        password_hash: bcrypt.hashSync("rw-from-dhctl-4567", 4),
      },
    };
    const init: KubeObject = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "registry-init", namespace: "d8-system" },
      data: { config: b64(stringify(config)) },
    };
    const sim = await Simulation.start({
      objects: [...cluster({ nodes: 3, masters: 1, registry: { mode: "Local" } }), init],
      globalValues,
      hooks: hooksWithReusedKeys(),
      openapiDir: "openapi",
    });
    await sim.converge(30);
    const data = (name: string) =>
      [...sim.world.values()].find(o => o.metadata.name === name)?.data as Record<string, string>;

    expect(fromB64(data("registry-pki")["ca.crt"])).toBe(seedPki.ca.cert);
    expect(fromB64(data("registry-user-ro").password)).toBe(config.ro_user.password);
    const roHash = fromB64(data("registry-user-ro").passwordHash);
    expect(bcrypt.compareSync(config.ro_user.password, roHash)).toBe(true);
    expect(fromB64(data("registry-user-rw").password)).toBe(config.rw_user.password);
    expect(fromB64(data("registry-user-rw").passwordHash)).toBe(config.rw_user.password_hash);
    const applied = [...sim.world.values()].find(o => o.metadata.name === "registry-init");
    expect(applied?.metadata.annotations).toHaveProperty(["registry.deckhouse.io/is-applied"]);
  }, 60_000);
});
