// The settings rules of schemas/deckhouse-registry-settings.yaml, installed in the lab's
// ModuleConfig CRD (test/lab/crds.ts), enforced by the REAL kube-apiserver: each bad setting of
// the settings tests (test/settings/registry-settings-schema.test.ts) is refused at kubectl time
// with its exact message — the same messages the module's own validator gives — and nothing is
// stored; the good ones are stored as written.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectRules } from "../../lib/openapi/cel-rules";
import {
  loadRegistrySettingsValidator,
  validateRegistrySettingsSchema,
} from "../../lib/openapi/registry-settings";
import { CommandError } from "../e2e-lab/process";
import { TEST_CA } from "../settings/fixtures";
import { startControlPlane, type ControlPlane } from "./control-plane";
import { installLabCrds, labCrds, registrySettingsCrdSchema } from "./crds";
import { VALID_SETTINGS } from "../support/settings";

let cp: ControlPlane;
let created = 0;
const stored = new Set<string>();

/** Every CEL rule message of the schema: what the API server may answer with. */
const RULE_MESSAGES = collectRules(loadRegistrySettingsValidator().schema).map(r => r.rule.message);

/** Creates a ModuleConfig with these registry settings; resolves to the refusal, or undefined. */
async function create(registry: unknown): Promise<string | undefined> {
  created += 1;
  const name = `settings-${created}`;
  try {
    await cp.kubectl(["create", "-f", "-"], {
      input: JSON.stringify({
        apiVersion: "deckhouse.io/v1alpha1",
        kind: "ModuleConfig",
        metadata: { name },
        spec: { version: 1, enabled: true, settings: { registry } },
      }),
    });
    stored.add(name);
    return undefined;
  } catch (e) {
    if (e instanceof CommandError) return e.stderr;
    throw e;
  }
}

beforeAll(async () => {
  cp = await startControlPlane();
  await installLabCrds(cp);
}, 120_000);
afterAll(async () => cp?.stop());

const repo = { imagesRepo: "r.example.com/d8" };

/** Bad settings whose refusal is a CEL rule: the message list is the module validator's. */
const celCases: [string, unknown, string[]][] = [
  ...(["direct", "unmanaged", "proxy"] as const).flatMap(section => {
    const mode = { direct: "Direct", unmanaged: "Unmanaged", proxy: "Proxy" }[section];
    const s = (body: object) => ({ mode, [section]: body });
    const m = (text: string) => `registry.${section}: ${text}`;
    return [
      [`${section}: no imagesRepo`, s({ license: "KEY" }), [m("'imagesRepo' is required.")]],
      [`${section}: empty section`, s({}), [m("'imagesRepo' is required.")]],
      [
        `${section}: username without password`,
        s({ ...repo, username: "u" }),
        [m("'password' is required when 'username' is provided.")],
      ],
      [
        `${section}: password without username`,
        s({ ...repo, password: "p" }),
        [m("'username' is required when 'password' is provided.")],
      ],
      [
        `${section}: license with credentials`,
        s({ ...repo, license: "KEY", username: "u", password: "p" }),
        [m("'license' and 'username'/'password' are mutually exclusive.")],
      ],
      [
        `${section}: license with username only`,
        s({ ...repo, license: "KEY", username: "u" }),
        [
          m("'password' is required when 'username' is provided."),
          m("'license' and 'username'/'password' are mutually exclusive."),
        ],
      ],
    ] as [string, unknown, string[]][];
  }),
  ...["4m59s", "1m", "299s", "0s", "1s"].map(
    ttl =>
      [
        `proxy ttl ${ttl}`,
        { mode: "Proxy", proxy: { ...repo, ttl } },
        ["registry.proxy: 'ttl' should be at least 5 minutes."],
      ] as [string, unknown, string[]],
  ),
  ...(["direct", "proxy"] as const).map(
    section =>
      [
        `a ${section} section without mode`,
        { [section]: repo },
        [
          "registry: 'mode' is required with a 'direct' or 'proxy' section; without 'mode' the settings mean legacy Unmanaged and the section would be ignored.",
        ],
      ] as [string, unknown, string[]],
  ),
  [
    "Direct without direct",
    { mode: "Direct" },
    ["registry: when mode is 'Direct', 'direct' section must be specified."],
  ],
  [
    "Proxy without proxy",
    { mode: "Proxy" },
    ["registry: when mode is 'Proxy', 'proxy' section must be specified."],
  ],
  [
    "Unmanaged with direct",
    { mode: "Unmanaged", direct: repo },
    ["registry: when mode is not 'Direct', 'direct' section must be omitted."],
  ],
  [
    "Local with proxy",
    { mode: "Local", proxy: repo },
    ["registry: when mode is not 'Proxy', 'proxy' section must be omitted."],
  ],
  [
    "Direct with unmanaged",
    { mode: "Direct", direct: repo, unmanaged: repo },
    ["registry: when mode is not 'Unmanaged', 'unmanaged' section must be omitted."],
  ],
  [
    "Proxy with direct",
    { mode: "Proxy", direct: repo },
    [
      "registry: when mode is not 'Direct', 'direct' section must be omitted.",
      "registry: when mode is 'Proxy', 'proxy' section must be specified.",
    ],
  ],
  [
    "Local with an empty direct",
    { mode: "Local", direct: {} },
    [
      "registry.direct: 'imagesRepo' is required.",
      "registry: when mode is not 'Direct', 'direct' section must be omitted.",
    ],
  ],
];

/** Bad settings refused by the schema's types, enums, patterns and closed objects. */
const structuralCases: [string, unknown, RegExp][] = [
  [
    "unknown mode",
    { mode: "Managed" },
    /spec\.settings\.registry\.mode: Unsupported value: "Managed"/,
  ],
  [
    "scheme in lower case",
    { mode: "Direct", direct: { ...repo, scheme: "https" } },
    /spec\.settings\.registry\.direct\.scheme: Unsupported value: "https"/,
  ],
  [
    "unknown checkMode",
    { mode: "Direct", direct: { ...repo, checkMode: "Strict" } },
    /spec\.settings\.registry\.direct\.checkMode: Unsupported value: "Strict"/,
  ],
  [
    "imagesRepo with a scheme",
    { mode: "Direct", direct: { imagesRepo: "https://r.example.com/d8" } },
    /spec\.settings\.registry\.direct\.imagesRepo: Invalid value: "https:\/\/r\.example\.com\/d8": .* should match/,
  ],
  [
    "imagesRepo with a six-digit port",
    { mode: "Direct", direct: { imagesRepo: "r.example.com:123456/d8" } },
    /spec\.settings\.registry\.direct\.imagesRepo: Invalid value: "r\.example\.com:123456\/d8": .* should match/,
  ],
  [
    "empty imagesRepo",
    { mode: "Direct", direct: { imagesRepo: "" } },
    /spec\.settings\.registry\.direct\.imagesRepo: Invalid value: "": spec\.settings\.registry\.direct\.imagesRepo in body should be at least 1 chars long/,
  ],
  [
    "ttl in direct",
    { mode: "Direct", direct: { ...repo, ttl: "1h" } },
    /unknown field "spec\.settings\.registry\.direct\.ttl"/,
  ],
  [
    "a local section",
    { mode: "Local", local: {} },
    /unknown field "spec\.settings\.registry\.local"/,
  ],
  [
    "password as a number",
    { mode: "Unmanaged", unmanaged: { imagesRepo: "r.example.com", password: 5, username: "u" } },
    /spec\.settings\.registry\.unmanaged\.password: Invalid value: "integer": spec\.settings\.registry\.unmanaged\.password in body must be of type string/,
  ],
  [
    "malformed ttl",
    { mode: "Proxy", proxy: { ...repo, ttl: "5 minutes" } },
    /spec\.settings\.registry\.proxy\.ttl: Invalid value: "5 minutes": .* should match/,
  ],
  [
    "ttl beyond what a duration holds",
    { mode: "Proxy", proxy: { ...repo, ttl: "9999999999999h" } },
    /spec\.settings\.registry\.proxy: Invalid value: "object": type conversion error from 'string' to 'google\.protobuf\.Duration' evaluating rule: registry\.proxy: 'ttl' should be at least 5 minutes\./,
  ],
  [
    "registry not an object",
    "Direct",
    /spec\.settings\.registry: Invalid value: "string": spec\.settings\.registry in body must be of type object/,
  ],
];

const goodCases: [string, unknown][] = [
  ...VALID_SETTINGS,
  ["Direct with credentials", { mode: "Direct", direct: { imagesRepo: "r.example.com:5000/d8/ee", username: "u", password: "p" } }],
  ["Direct with a CA", { mode: "Direct", direct: { ...repo, scheme: "HTTPS", ca: TEST_CA, checkMode: "Relax" } }],
  ...["5m", "300s", "1h", "168h10m5s", "4m60s", "0h5m"].map(
    ttl => [`proxy ttl ${ttl}`, { mode: "Proxy", proxy: { ...repo, ttl } }] as [string, unknown],
  ),
  // rules that read an absent mode do not apply, as in Deckhouse: an unmanaged section alone is
  // stored (and read as legacy Unmanaged); direct/proxy without mode are refused (docs/adr/0080)
  ["an unmanaged section without mode", { unmanaged: repo }],
]; // prettier-ignore

describe("the ModuleConfig CRD carries the registry settings schema", () => {
  it("is generated from schemas/deckhouse-registry-settings.yaml, every rule included", () => {
    const schema = registrySettingsCrdSchema();
    const rules = JSON.stringify(schema).match(/"rule":/g) ?? [];
    expect(rules).toHaveLength(RULE_MESSAGES.length);
    expect(JSON.stringify(schema)).not.toContain("x-deckhouse-validations");
    expect(JSON.stringify(schema)).not.toMatch(/"default":/);
    const crd = labCrds().find(
      c => (c as { metadata: { name: string } }).metadata.name === "moduleconfigs.deckhouse.io",
    );
    expect(JSON.stringify(crd)).toContain(JSON.stringify(schema));
  });
});

describe("the real API server enforces the settings rules", () => {
  it.each(celCases)("refuses %s with the rule's message", async (_, registry, messages) => {
    // the same messages as the module's own validator
    expect(validateRegistrySettingsSchema(registry)).toEqual(messages);
    const stderr = await create(registry);
    expect(stderr, "refused").toBeDefined();
    expect(RULE_MESSAGES.filter(m => stderr?.includes(m)).sort()).toEqual([...messages].sort());
  });

  it.each(structuralCases)("refuses %s", async (_, registry, pattern) => {
    expect(validateRegistrySettingsSchema(registry)).not.toEqual([]);
    const stderr = await create(registry);
    expect(stderr, "refused").toMatch(pattern);
  });

  it.each(goodCases)("stores %s as written", async (_, registry) => {
    expect(validateRegistrySettingsSchema(registry)).toEqual([]);
    expect(await create(registry)).toBeUndefined();
    const { stdout } = await cp.kubectl([
      "get",
      "moduleconfig",
      `settings-${created}`,
      "-o",
      "json",
    ]);
    expect((JSON.parse(stdout) as { spec: { settings: unknown } }).spec.settings).toEqual({
      registry,
    });
  });

  it("refuses a bad change to a stored ModuleConfig and keeps the stored settings", async () => {
    const good = { mode: "Direct", direct: { ...repo, license: "KEY" } };
    expect(await create(good)).toBeUndefined();
    const name = `settings-${created}`;
    const patch = JSON.stringify({
      spec: { settings: { registry: { direct: { username: "u" } } } },
    });
    await expect(
      cp.kubectl(["patch", "moduleconfig", name, "--type=merge", "-p", patch]),
    ).rejects.toThrow(/registry\.direct: 'password' is required when 'username' is provided\./);
    const { stdout } = await cp.kubectl(["get", "moduleconfig", name, "-o", "json"]);
    expect((JSON.parse(stdout) as { spec: { settings: unknown } }).spec.settings).toEqual({
      registry: good,
    });
  });

  it("stored nothing it refused", async () => {
    const { stdout } = await cp.kubectl(["get", "moduleconfigs", "-o", "name"]);
    const names = stdout
      .split("\n")
      .filter(Boolean)
      .map(n => n.replace(/^moduleconfig\.deckhouse\.io\//, ""))
      .sort();
    expect(names).toEqual([...stored].sort());
    expect(created - stored.size).toBe(celCases.length + structuralCases.length);
  });
});
