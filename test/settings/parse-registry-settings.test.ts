import { describe, expect, it } from "vitest";
import {
  LICENSE_USERNAME,
  SettingsError,
  normalizeCheckMode,
  normalizeImagesRepo,
  parseRegistrySettings,
  pemCertificateProblem,
  type RegistryParams,
} from "../../lib/domain/settings";
import {
  applyRegistrySettingsDefaults,
  validateRegistrySettingsSchema,
} from "../../lib/openapi/registry-settings";
import { BROKEN_CA, TEST_CA, TEST_CA_2 } from "./fixtures";

const REPO = "registry.example.com/namespace/image";

function parseError(settings: unknown): SettingsError {
  try {
    parseRegistrySettings(settings, 1);
  } catch (err) {
    if (err instanceof SettingsError) return err;
    throw err;
  }
  throw new Error(`expected a SettingsError for ${JSON.stringify(settings)}`);
}

describe("parseRegistrySettings: valid settings", () => {
  it.each<[string, unknown, RegistryParams]>([
    ["absent settings are legacy Unmanaged", undefined, { mode: "Unmanaged", generation: 7 }],
    ["{} is legacy Unmanaged", {}, { mode: "Unmanaged", generation: 7 }],
    [
      "mode Unmanaged without a section",
      { mode: "Unmanaged" },
      { mode: "Unmanaged", generation: 7 },
    ],
    ["Local carries no upstream", { mode: "Local" }, { mode: "Local", generation: 7 }],
    [
      "configurable Unmanaged",
      { mode: "Unmanaged", unmanaged: { imagesRepo: REPO, scheme: "HTTPS" } },
      {
        mode: "Unmanaged",
        generation: 7,
        upstream: { imagesRepo: REPO, scheme: "HTTPS", checkMode: "Default" },
      },
    ],
    [
      "configurable Unmanaged with credentials",
      { mode: "Unmanaged", unmanaged: { imagesRepo: REPO, username: "user", password: "pass" } },
      {
        mode: "Unmanaged",
        generation: 7,
        upstream: {
          imagesRepo: REPO,
          scheme: "HTTPS",
          checkMode: "Default",
          username: "user",
          password: "pass",
        },
      },
    ],
    [
      "Direct with a licence → user license-token",
      {
        mode: "Direct",
        direct: { imagesRepo: "registry.deckhouse.io/deckhouse/ee", license: "LICENSE-KEY" },
      },
      {
        mode: "Direct",
        generation: 7,
        upstream: {
          imagesRepo: "registry.deckhouse.io/deckhouse/ee",
          scheme: "HTTPS",
          checkMode: "Default",
          username: "license-token",
          password: "LICENSE-KEY",
        },
      },
    ],
    [
      "Direct over HTTP",
      {
        mode: "Direct",
        direct: { imagesRepo: "10.0.0.5:5000/d8", scheme: "HTTP", checkMode: "relax" },
      },
      {
        mode: "Direct",
        generation: 7,
        upstream: { imagesRepo: "10.0.0.5:5000/d8", scheme: "HTTP", checkMode: "Relax" },
      },
    ],
    [
      "Direct with a CA",
      { mode: "Direct", direct: { imagesRepo: REPO, ca: TEST_CA } },
      {
        mode: "Direct",
        generation: 7,
        upstream: { imagesRepo: REPO, scheme: "HTTPS", checkMode: "Default", ca: TEST_CA },
      },
    ],
    [
      "Proxy with ttl",
      {
        mode: "Proxy",
        proxy: { imagesRepo: REPO, license: "K", ttl: "168h10m5s", checkMode: "Relax" },
      },
      {
        mode: "Proxy",
        generation: 7,
        upstream: {
          imagesRepo: REPO,
          scheme: "HTTPS",
          checkMode: "Relax",
          username: "license-token",
          password: "K",
          ttl: "168h10m5s",
        },
      },
    ],
    [
      "Proxy without ttl",
      { mode: "Proxy", proxy: { imagesRepo: REPO } },
      {
        mode: "Proxy",
        generation: 7,
        upstream: { imagesRepo: REPO, scheme: "HTTPS", checkMode: "Default" },
      },
    ],
  ])("%s", (_name, settings, expected) => {
    expect(parseRegistrySettings(settings, 7)).toEqual(expected);
  });

  it("uses license-token as the licence user name", () => {
    expect(LICENSE_USERNAME).toBe("license-token");
  });

  it("trims spaces and trailing slashes of imagesRepo", () => {
    for (const raw of [`  ${REPO}  `, `${REPO}/`, `${REPO}///`, ` ${REPO}/ `]) {
      expect(
        parseRegistrySettings({ mode: "Direct", direct: { imagesRepo: raw } }, 1).upstream
          ?.imagesRepo,
      ).toBe(REPO);
    }
    expect(normalizeImagesRepo(" a.example.com:5000/x/ ")).toBe("a.example.com:5000/x");
  });

  it("reads checkMode case-insensitively; anything but relax is Default", () => {
    expect(["relax", "Relax", "RELAX", "rElAx"].map(normalizeCheckMode)).toEqual([
      "Relax",
      "Relax",
      "Relax",
      "Relax",
    ]);
    expect(["Default", "", "strict", undefined, null].map(normalizeCheckMode)).toEqual([
      "Default",
      "Default",
      "Default",
      "Default",
      "Default",
    ]);
  });

  it("treats empty strings and null as not set (Go semantics)", () => {
    expect(
      parseRegistrySettings(
        {
          mode: "Direct",
          direct: {
            imagesRepo: REPO,
            scheme: "",
            username: "",
            password: "",
            license: "",
            ca: null,
          },
        },
        1,
      ).upstream,
    ).toEqual({ imagesRepo: REPO, scheme: "HTTPS", checkMode: "Default" });
    expect(
      parseRegistrySettings({ mode: "Proxy", proxy: { imagesRepo: REPO, ttl: "" } }, 1).upstream,
    ).not.toHaveProperty("ttl");
    expect(parseRegistrySettings({ mode: null, direct: null }, 1)).toEqual({
      mode: "Unmanaged",
      generation: 1,
    });
  });

  it("accepts a CA bundle", () => {
    const ca = `${TEST_CA}${TEST_CA_2}`;
    expect(
      parseRegistrySettings({ mode: "Direct", direct: { imagesRepo: REPO, ca } }, 1).upstream?.ca,
    ).toBe(ca);
  });

  it("ignores ttl outside the proxy section", () => {
    expect(
      parseRegistrySettings({ mode: "Direct", direct: { imagesRepo: REPO, ttl: "1h" } }, 1)
        .upstream,
    ).not.toHaveProperty("ttl");
  });

  it("gives the same result on settings with the schema defaults applied", () => {
    for (const settings of [
      {},
      { mode: "Direct", direct: { imagesRepo: REPO, license: "K" } },
      { mode: "Proxy", proxy: { imagesRepo: REPO, username: "u", password: "p", ttl: "1h" } },
      { mode: "Unmanaged", unmanaged: { imagesRepo: REPO } },
      { mode: "Local" },
    ]) {
      expect(validateRegistrySettingsSchema(settings)).toEqual([]);
      expect(parseRegistrySettings(applyRegistrySettingsDefaults(settings), 3)).toEqual(
        parseRegistrySettings(settings, 3),
      );
    }
  });
});

describe("parseRegistrySettings: errors name the field", () => {
  it.each<[string, unknown, string]>([
    // the original's parameter validation (docs/architecture.md#settings)
    [
      "unknown mode",
      { mode: "UnknownMode" },
      'registry.mode: Unknown registry mode: "UnknownMode"; expected one of Unmanaged, Direct, Proxy, Local',
    ],
    [
      "empty mode",
      { mode: "" },
      'registry.mode: Unknown registry mode: ""; expected one of Unmanaged, Direct, Proxy, Local',
    ],
    [
      "wrong case mode",
      { mode: "direct", direct: { imagesRepo: REPO } },
      'registry.mode: Unknown registry mode: "direct"; expected one of Unmanaged, Direct, Proxy, Local',
    ],
    [
      "non-string mode",
      { mode: 5 },
      'registry.mode: Unknown registry mode: "5"; expected one of Unmanaged, Direct, Proxy, Local',
    ],
    // sections (Go-side mirror)
    [
      "Direct without section",
      { mode: "Direct" },
      "registry.direct: Section 'direct' is required when mode is 'Direct'",
    ],
    [
      "Proxy without section",
      { mode: "Proxy" },
      "registry.proxy: Section 'proxy' is required when mode is 'Proxy'",
    ],
    [
      "direct with Unmanaged",
      { mode: "Unmanaged", direct: { imagesRepo: REPO } },
      "registry.direct: Section 'direct' must be empty when mode is not 'Direct'",
    ],
    [
      "direct with explicit Unmanaged",
      { mode: "Unmanaged", direct: { imagesRepo: REPO } },
      "registry.direct: Section 'direct' must be empty when mode is not 'Direct'",
    ],
    [
      "unmanaged with Direct",
      { mode: "Direct", direct: { imagesRepo: REPO }, unmanaged: { imagesRepo: REPO } },
      "registry.unmanaged: Section 'unmanaged' must be empty when mode is not 'Unmanaged'",
    ],
    [
      "proxy with Local",
      { mode: "Local", proxy: { imagesRepo: REPO } },
      "registry.proxy: Section 'proxy' must be empty when mode is not 'Proxy'",
    ],
    [
      "unmanaged with Local",
      { mode: "Local", unmanaged: {} },
      "registry.unmanaged: Section 'unmanaged' must be empty when mode is not 'Unmanaged'",
    ],
    // imagesRepo
    [
      "Direct with no fields",
      { mode: "Direct", direct: {} },
      "registry.direct.imagesRepo: Field 'imagesRepo' is required",
    ],
    [
      "Direct without imagesRepo",
      { mode: "Direct", direct: { scheme: "HTTPS" } },
      "registry.direct.imagesRepo: Field 'imagesRepo' is required",
    ],
    [
      "Proxy without imagesRepo",
      { mode: "Proxy", proxy: { ttl: "1h" } },
      "registry.proxy.imagesRepo: Field 'imagesRepo' is required",
    ],
    [
      "configurable Unmanaged without imagesRepo",
      { mode: "Unmanaged", unmanaged: { license: "K" } },
      "registry.unmanaged.imagesRepo: Field 'imagesRepo' is required",
    ],
    [
      "imagesRepo of only slashes and spaces",
      { mode: "Direct", direct: { imagesRepo: " // " } },
      "registry.direct.imagesRepo: Field 'imagesRepo' is required",
    ],
    // scheme
    [
      "Direct scheme FTP",
      { mode: "Direct", direct: { imagesRepo: REPO, scheme: "FTP" } },
      "registry.direct.scheme: Invalid scheme 'FTP'; expected 'HTTP' or 'HTTPS'",
    ],
    [
      "Unmanaged scheme FTP",
      { mode: "Unmanaged", unmanaged: { imagesRepo: REPO, scheme: "FTP" } },
      "registry.unmanaged.scheme: Invalid scheme 'FTP'; expected 'HTTP' or 'HTTPS'",
    ],
    [
      "lower-case scheme",
      { mode: "Proxy", proxy: { imagesRepo: REPO, scheme: "https" } },
      "registry.proxy.scheme: Invalid scheme 'https'; expected 'HTTP' or 'HTTPS'",
    ],
    // credentials
    [
      "Direct only username",
      { mode: "Direct", direct: { imagesRepo: REPO, username: "u" } },
      "registry.direct.password: Password is required when username is provided",
    ],
    [
      "Unmanaged only password",
      { mode: "Unmanaged", unmanaged: { imagesRepo: REPO, password: "p" } },
      "registry.unmanaged.username: Username is required when password is provided",
    ],
    [
      "licence with credentials",
      { mode: "Direct", direct: { imagesRepo: REPO, license: "K", username: "u", password: "p" } },
      "registry.direct.license: License field must be empty when using credentials (username/password)",
    ],
    // CA
    [
      "CA with HTTP",
      { mode: "Direct", direct: { imagesRepo: REPO, scheme: "HTTP", ca: TEST_CA } },
      "registry.direct.ca: CA is not allowed when scheme is 'HTTP'",
    ],
    [
      "CA that is not PEM",
      { mode: "Direct", direct: { imagesRepo: REPO, ca: "not a certificate" } },
      "registry.direct.ca: Cannot decode CA certificate: no PEM CERTIFICATE block found; expected PEM (-----BEGIN CERTIFICATE----- …)",
    ],
    // ttl (Go-side validateTTL)
    [
      "ttl too short",
      { mode: "Proxy", proxy: { imagesRepo: REPO, ttl: "4m59s" } },
      'registry.proxy.ttl: invalid ttl format "4m59s": must be at least "5m0s"',
    ],
    [
      "ttl malformed",
      { mode: "Proxy", proxy: { imagesRepo: REPO, ttl: "1d" } },
      'registry.proxy.ttl: invalid ttl format "1d": does not match required pattern "^(?:(\\\\d+)h)?(?:(\\\\d+)m)?(?:(\\\\d+)s)?$"',
    ],
    // types
    ["settings not an object", "Direct", "registry: must be an object"],
    [
      "section not an object",
      { mode: "Direct", direct: "registry.example.com" },
      "registry.direct: must be an object",
    ],
    [
      "imagesRepo not a string",
      { mode: "Direct", direct: { imagesRepo: 42 } },
      "registry.direct.imagesRepo: must be a string, got number",
    ],
    [
      "checkMode not a string",
      { mode: "Direct", direct: { imagesRepo: REPO, checkMode: true } },
      "registry.direct.checkMode: must be a string, got boolean",
    ],
  ])("%s", (_name, settings, message) => {
    const err = parseError(settings);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("SettingsError");
    expect(err.message).toBe(message);
    expect(message.startsWith(`${err.field}: `)).toBe(true);
  });

  it("refuses a CA whose PEM armour holds no certificate", () => {
    const err = parseError({ mode: "Direct", direct: { imagesRepo: REPO, ca: BROKEN_CA } });
    expect(err.field).toBe("registry.direct.ca");
    expect(err.message).toMatch(
      /^registry\.direct\.ca: Cannot decode CA certificate: certificate does not decode: /,
    );
  });

  it("refuses a bundle with one broken certificate and says which", () => {
    const err = parseError({
      mode: "Proxy",
      proxy: { imagesRepo: REPO, ca: `${TEST_CA}${BROKEN_CA}` },
    });
    expect(err.message).toMatch(
      /^registry\.proxy\.ca: Cannot decode CA certificate: certificate #2 does not decode: /,
    );
  });

  it("reads settings without mode as legacy Unmanaged, as the original (docs/adr/0080)", () => {
    expect(parseRegistrySettings({ direct: { imagesRepo: REPO } }, 2)).toEqual({
      mode: "Unmanaged",
      generation: 2,
      ignoredSections: ["direct"],
    });
    expect(
      parseRegistrySettings({ proxy: { imagesRepo: REPO }, unmanaged: { imagesRepo: REPO } }, 2),
    ).toMatchObject({
      mode: "Unmanaged",
      upstream: { imagesRepo: REPO },
      ignoredSections: ["proxy"],
    });
  });

  it("does not validate Local or legacy Unmanaged beyond the sections", () => {
    expect(parseRegistrySettings({ mode: "Local" }, 2)).toEqual({ mode: "Local", generation: 2 });
    expect(parseRegistrySettings({ mode: "Unmanaged" }, 2).upstream).toBeUndefined();
  });
});

describe("pemCertificateProblem", () => {
  it("accepts certificates and bundles, with surrounding text", () => {
    expect(pemCertificateProblem(TEST_CA)).toBeUndefined();
    expect(pemCertificateProblem(`comment\n${TEST_CA}\n${TEST_CA_2}trailer`)).toBeUndefined();
  });
  it("explains what is wrong", () => {
    expect(pemCertificateProblem("")).toBe("no PEM CERTIFICATE block found");
    expect(
      pemCertificateProblem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
    ).toBe("no PEM CERTIFICATE block found");
    expect(pemCertificateProblem(BROKEN_CA)).toMatch(/^certificate does not decode: /);
  });
});
