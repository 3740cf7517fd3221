// What the PKI, secrets and users code produces fits `registry.internal.orchestrator.state` of
// openapi/values.yaml (docs/architecture.md#values: keys pki, secrets, users exactly), as the
// runtime validates every values patch against it.
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ensurePki } from "../../lib/domain/pki";
import { ensureSecrets } from "../../lib/domain/secrets";
import { ensureUsers, usersForMode } from "../../lib/domain/users";
import { loadModuleSchemas } from "../../lib/openapi/schemas";
import { countingFactory, depsAt, keyPool, seededRandom, T0 } from "./pki-helpers";

const schemas = loadModuleSchemas(resolve(import.meta.dirname, "../../openapi"));

describe("state.pki, state.secrets, state.users against openapi/values.yaml", () => {
  it("validate, with the values keys of docs/architecture.md#values", async () => {
    const random = seededRandom("layout");
    const { pki } = await ensurePki({}, depsAt(T0, countingFactory(keyPool(1)).factory));
    const { secrets } = ensureSecrets(undefined, random);
    const { users } = await ensureUsers(usersForMode("Local"), {}, random);
    const state = { mode: "Local", target_mode: "Local", pki, secrets, users };
    expect(Object.keys(users)).toEqual(["ro", "rw", "mirror_puller", "mirror_pusher"]);
    expect(schemas.validateValues({ internal: { orchestrator: { state } } })).toEqual([]);

    // the schema does refuse what does not fit (the check can fail)
    const extra = { ...state, users: { ...users, ro: { ...users.ro, passwordHash: "x" } } };
    expect(schemas.validateValues({ internal: { orchestrator: { state: extra } } })).not.toEqual(
      [],
    );
  });
});
