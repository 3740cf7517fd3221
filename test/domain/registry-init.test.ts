// The bootstrap hand-over from dhctl (docs/architecture.md#bootstrap, #state-machine #60):
// `registry-init` `data.config`.
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ensurePki } from "../../lib/domain/pki";
import {
  initSeedUsers,
  InitConfigError,
  parseInitConfig,
  parseInitConfigYaml,
} from "../../lib/domain/registry-init";
import { ensureUsers } from "../../lib/domain/users";
import { countingFactory, depsAt, keyPool, seededRandom, T0 } from "./pki-helpers";

const USER = { name: "ro", password: "SeedPassword1234", password_hash: "" };

describe("parseInitConfig", () => {
  it("reads ca, ro_user and rw_user; ignores unknown keys", async () => {
    const text = stringify({
      ca: { cert: "CERT", key: "KEY" },
      ro_user: USER,
      rw_user: { name: "rw", password: "p", password_hash: "h" },
      future_field: { anything: 1 },
    });
    expect(await parseInitConfigYaml(text)).toEqual({
      ca: { cert: "CERT", key: "KEY" },
      ro_user: USER,
      rw_user: { name: "rw", password: "p", password_hash: "h" },
    });
  });

  it("treats empty sections and an empty document as absent", async () => {
    expect(await parseInitConfigYaml("")).toEqual({});
    expect(parseInitConfig({ ca: {}, ro_user: { name: "" }, rw_user: null })).toEqual({});
  });

  it("names the field and the rule, never the value", async () => {
    const cases: [unknown, string][] = [
      [[], "Secret registry-init data.config: must be a mapping, got a list"],
      [{ ca: "x" }, "Secret registry-init data.config.ca: must be a mapping, got string"],
      [{ ca: { cert: "C" } }, "Secret registry-init data.config.ca.key: required with ca.cert"],
      [{ ca: { key: "K" } }, "Secret registry-init data.config.ca.cert: required with ca.key"],
      [
        { ca: { cert: 1, key: "K" } },
        "Secret registry-init data.config.ca.cert: must be a string, got number",
      ],
      [{ ro_user: { password: "p" } }, "Secret registry-init data.config.ro_user.name: required"],
      [{ rw_user: { name: "rw" } }, "Secret registry-init data.config.rw_user.password: required"],
    ];
    for (const [document, message] of cases) {
      expect(() => parseInitConfig(document)).toThrow(InitConfigError);
      expect(() => parseInitConfig(document)).toThrow(message);
    }
  });

  it("a YAML error says where, without quoting the text (it holds keys)", async () => {
    const leaked = "SuperSecretPassw0rd";
    const err = await parseInitConfigYaml(`ro_user:\n  password: ${leaked}\n bad: [\n`).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(InitConfigError);
    expect(String(err)).toMatch(
      /^InitConfigError: Secret registry-init data\.config: not valid YAML \([A-Z_]+ at line \d+, column \d+\)$/,
    );
    expect(String(err)).not.toContain(leaked);
  });

  it("seed users go to state.users keys ro and rw", () => {
    expect(initSeedUsers({ ro_user: USER })).toEqual({ ro: USER });
    expect(initSeedUsers({})).toEqual({});
  });
});

describe("seeding from registry-init (docs/architecture.md#bootstrap)", () => {
  it("the CA and the ro user of the init secret become the module's", async () => {
    const { factory } = countingFactory(keyPool(2));
    const dhctlCa = (await ensurePki({}, depsAt(T0, factory))).pki.ca;
    const config = await parseInitConfigYaml(stringify({ ca: dhctlCa, ro_user: USER }));

    const previous = (await ensurePki({}, depsAt(T0, factory))).pki;
    const pki = await ensurePki({ state: previous, initCa: config.ca }, depsAt(T0, factory));
    expect(pki.pki.ca).toEqual(dhctlCa);
    expect(pki.sources).toEqual({ ca: "init", token: "generated" });

    const users = await ensureUsers(
      ["ro"],
      { seed: initSeedUsers(config), state: { ro: { ...USER, password: "Other" } } },
      seededRandom("seed"),
    );
    expect(users.users.ro?.password).toBe(USER.password);
    expect(users.outcomes.ro).toEqual({ source: "seed", rehashed: true });
  });
});
