// The registry-bashible-config gate: every config the orchestrator produces passes unchanged,
// every broken one is refused with the field and the rule.
import { describe, expect, it } from "vitest";
import YAML from "yaml";
import {
  BashibleConfigError,
  parseBashibleConfig,
  parseBashibleConfigYaml,
  usesNodeIpPlaceholder,
} from "../../lib/domain/bashible-config";
import { ALL_CONFIGS, directTransition, localBootstrap, proxyFinal, SVC } from "./fixtures";

const clone = <T>(v: T): T => structuredClone(v);

describe("parseBashibleConfig", () => {
  it.each(Object.entries(ALL_CONFIGS))("accepts %s unchanged", (_name, config) => {
    expect(parseBashibleConfig(clone(config))).toEqual(config);
  });

  it("reads the Secret's YAML, treating an absent proxyEndpoints as empty (Go omitempty)", () => {
    const { proxyEndpoints: _drop, ...rest } = clone(directTransition);
    const parsed = parseBashibleConfigYaml(YAML.stringify(rest));
    expect(parsed.proxyEndpoints).toEqual([]);
    expect(parsed.hosts).toEqual(directTransition.hosts);
  });

  it("drops empty optional fields instead of carrying them", () => {
    const raw = clone(proxyFinal) as unknown as {
      hosts: Record<string, { mirrors: Record<string, unknown>[] }>;
    };
    Object.assign(raw.hosts[SVC]!.mirrors[0]!, { ca: "", rewrites: [], auth: { username: "" } });
    const mirror = parseBashibleConfig(raw).hosts[SVC]!.mirrors[0]!;
    expect(mirror).toEqual({ host: "127.0.0.1:5001", scheme: "https" });
  });

  it("knows when the node IP placeholder is used", () => {
    expect(usesNodeIpPlaceholder(localBootstrap)).toBe(true);
    expect(usesNodeIpPlaceholder(proxyFinal)).toBe(false);
  });

  const broken: [string, (c: Record<string, unknown>) => void, string, RegExp][] = [
    ["missing mode", c => delete c.mode, "mode", /required/],
    ["unknown mode", c => (c.mode = "Managed"), "mode", /must be one of/],
    ["missing version", c => delete c.version, "version", /required/],
    ["version with spaces", c => (c.version = "a b"), "version", /letters, digits/],
    ["missing imagesBase", c => delete c.imagesBase, "imagesBase", /required/],
    ["imagesBase with scheme", c => (c.imagesBase = "https://x/y"), "imagesBase", /host\[:port\]/],
    ["missing hosts", c => delete c.hosts, "hosts", /required/],
    ["empty hosts", c => (c.hosts = {}), "hosts", /at least one host/],
    ["unknown top-level field", c => (c.prepullHosts = []), "prepullHosts", /unknown/],
    [
      "host key with a path",
      c => (c.hosts = { "../../etc": { mirrors: [{ host: "a", scheme: "http" }] } }),
      'hosts["../../etc"]',
      /host key must be host\[:port\]/,
    ],
    [
      "blank host key",
      c => (c.hosts = { " ": { mirrors: [{ host: "a", scheme: "http" }] } }),
      'hosts[" "]',
      /must not be blank/,
    ],
    [
      "no mirrors",
      c => (c.hosts = { a: { mirrors: [] } }),
      'hosts["a"].mirrors',
      /at least one mirror/,
    ],
    [
      "mirror without host",
      c => (c.hosts = { a: { mirrors: [{ scheme: "http" }] } }),
      'hosts["a"].mirrors[0].host',
      /required/,
    ],
    [
      "mirror without scheme",
      c => (c.hosts = { a: { mirrors: [{ host: "a" }] } }),
      'hosts["a"].mirrors[0].scheme',
      /required/,
    ],
    [
      "upper-case scheme",
      c => (c.hosts = { a: { mirrors: [{ host: "a", scheme: "HTTPS" }] } }),
      'hosts["a"].mirrors[0].scheme',
      /lower case/,
    ],
    [
      "mirror host with quote (would break TOML)",
      c => (c.hosts = { a: { mirrors: [{ host: 'a"b', scheme: "http" }] } }),
      'hosts["a"].mirrors[0].host',
      /host\[:port\]/,
    ],
    [
      "port out of range",
      c => (c.hosts = { a: { mirrors: [{ host: "a:70000", scheme: "http" }] } }),
      'hosts["a"].mirrors[0].host',
      /1\.\.65535/,
    ],
    [
      "duplicate mirror",
      c =>
        (c.hosts = {
          a: {
            mirrors: [
              { host: "m", scheme: "https" },
              { host: "m", scheme: "https" },
            ],
          },
        }),
      'hosts["a"].mirrors[1]',
      /unique by host\|scheme/,
    ],
    [
      "CA that is not a certificate",
      c => (c.hosts = { a: { mirrors: [{ host: "a", scheme: "https", ca: "hello" }] } }),
      'hosts["a"].mirrors[0].ca',
      /no PEM CERTIFICATE/,
    ],
    [
      "auth that is not base64",
      c => (c.hosts = { a: { mirrors: [{ host: "a", scheme: "https", auth: { auth: "a b" } }] } }),
      'hosts["a"].mirrors[0].auth.auth',
      /base64/,
    ],
    [
      "password without user",
      c =>
        (c.hosts = { a: { mirrors: [{ host: "a", scheme: "https", auth: { password: "x" } }] } }),
      'hosts["a"].mirrors[0].auth.username',
      /required when password/,
    ],
    [
      "rewrite that is not a regex",
      c =>
        (c.hosts = {
          a: { mirrors: [{ host: "a", scheme: "https", rewrites: [{ from: "(", to: "x" }] }] },
        }),
      'hosts["a"].mirrors[0].rewrites[0].from',
      /regular expression/,
    ],
    [
      "endpoint without port",
      c => (c.proxyEndpoints = ["10.0.0.1"]),
      "proxyEndpoints[0]",
      /must have a port/,
    ],
    [
      "endpoint with a newline (would inject nginx directives)",
      c => (c.proxyEndpoints = ["10.0.0.1:5001;\nserver evil:1"]),
      "proxyEndpoints[0]",
      /control characters/,
    ],
  ];

  it.each(broken)("refuses %s, naming %s", (_name, mutate, field, rule) => {
    const raw = clone(directTransition) as unknown as Record<string, unknown>;
    mutate(raw);
    let error: unknown;
    try {
      parseBashibleConfig(raw);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(BashibleConfigError);
    expect((error as BashibleConfigError).field).toBe(field);
    expect((error as BashibleConfigError).rule).toMatch(rule);
    expect((error as Error).message).toContain(field);
  });

  it("refuses YAML that does not parse", () => {
    expect(() => parseBashibleConfigYaml("mode: [")).toThrow(/config: not valid YAML/);
  });

  it("never echoes a password in its errors", () => {
    const raw = clone(directTransition) as unknown as Record<string, unknown>;
    raw.hosts = {
      a: {
        mirrors: [{ host: "a", scheme: "https", auth: { username: "u:x", password: "s3cr3t" } }],
      },
    };
    expect(() => parseBashibleConfig(raw)).toThrow(/username: must not contain ':'/);
    expect(() => parseBashibleConfig(raw)).not.toThrow(/s3cr3t/);
  });
});
