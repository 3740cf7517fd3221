// The gateway's pure parts: config validation (every field named), routes, the ACL table, the
// path alias, Basic parsing and the verdict cache.
import bcrypt from "bcryptjs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError } from "../../lib/validation/reader";
import { allows, modeSupports } from "../../images/gateway/src/acl";
import { CredentialVerifier, parseBasic } from "../../images/gateway/src/authn";
import {
  formatGatewayConfig,
  type GatewayConfig,
  parseGatewayConfig,
  ROLES,
} from "../../lib/dataplane/gateway-config";
import {
  PathAlias,
  parseRoute,
  requiredAction,
  toUpstreamRoute,
} from "../../images/gateway/src/routes";
import { parseRange, tagsPage } from "../../images/gateway/src/upstream";
import { formatMirrorerConfig, parseMirrorerConfig } from "../../images/mirrorer/src/config";

const HASH = bcrypt.hashSync("pw", 4);
const proxyDoc = () => ({
  mode: "proxy",
  listen: { address: "10.0.0.1:5001", tls: { certificate: "/pki/d.crt", key: "/pki/d.key" } },
  monitoring: { address: "127.0.0.1:5003" },
  users: [{ name: "ro", passwordHash: HASH, role: "ro" }],
  distribution: { url: "http://127.0.0.1:5000" },
  upstream: {
    url: "https://registry.example.com",
    path: "deckhouse/ee",
    username: "license-token",
    password: "secret-licence",
    ca: "/pki/upstream-registry-ca.crt",
  },
  upstreamListener: { address: "127.0.0.1:5004", username: "distribution", password: "x" },
});

function problemsOf(doc: unknown): string[] {
  try {
    parseGatewayConfig(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems.map(p => `${p.field}: ${p.rule}`);
  }
  throw new Error("config accepted");
}

describe("gateway config", () => {
  it("accepts every mode and round-trips through its file form", () => {
    const proxy = parseGatewayConfig(proxyDoc());
    expect(parseGatewayConfig(parse(JSON.stringify(formatGatewayConfig(proxy))))).toEqual(proxy);
    expect(proxy).toMatchObject({ realm: "Deckhouse registry", localPath: "system/deckhouse" });
    const { upstream, upstreamListener: _l, ...rest } = proxyDoc();
    const local = parseGatewayConfig({ ...rest, mode: "local" });
    expect(parseGatewayConfig(formatGatewayConfig(local))).toEqual(local);
    const { distribution: _d, ...noDist } = rest;
    const direct = parseGatewayConfig({ ...noDist, mode: "direct", upstream });
    expect(parseGatewayConfig(formatGatewayConfig(direct))).toEqual(direct);
  });

  it("tlsFrontend (behind nginx): Local and Proxy only, a listener address, round-trips", () => {
    const proxy = parseGatewayConfig({ ...proxyDoc(), tlsFrontend: { address: "127.0.0.1:5006" } });
    expect(proxy.mode === "proxy" && proxy.tlsFrontend).toEqual({
      address: { host: "127.0.0.1", port: 5006 },
    });
    expect(parseGatewayConfig(formatGatewayConfig(proxy))).toEqual(proxy);
    const { upstream, upstreamListener: _l, distribution: _d, ...rest } = proxyDoc();
    expect(
      problemsOf({ ...rest, mode: "direct", upstream, tlsFrontend: { address: "127.0.0.1:5006" } }),
    ).toEqual(["tlsFrontend: not used in mode direct (no distribution to serve blobs)"]);
    expect(problemsOf({ ...proxyDoc(), tlsFrontend: { address: "nowhere", extra: 1 } })).toEqual([
      expect.stringMatching(/^tlsFrontend\.address: /),
      "tlsFrontend.extra: unknown key",
    ]);
  });

  const without = (path: string) => {
    const doc = proxyDoc() as Record<string, unknown>;
    const keys = path.split(".");
    let at = doc;
    for (const k of keys.slice(0, -1)) at = at[k] as Record<string, unknown>;
    delete at[keys.at(-1) as string];
    return doc;
  };

  it.each([
    "mode",
    "listen",
    "listen.address",
    "listen.tls",
    "listen.tls.certificate",
    "listen.tls.key",
    "monitoring",
    "monitoring.address",
    "users",
    "distribution",
    "distribution.url",
    "upstream",
    "upstream.url",
    "upstream.path",
    "upstreamListener",
    "upstreamListener.address",
    "upstreamListener.username",
    "upstreamListener.password",
  ])("missing %s is named", field => {
    expect(problemsOf(without(field))).toContain(`${field}: required`);
  });

  it.each([
    [{ mode: "cache" }, 'mode: must be one of direct, proxy, local, got "cache"'],
    [
      { listen: { address: "10.0.0.1", tls: { certificate: "/a", key: "/b" } } },
      'listen.address: must be host:port (port 0-65535), got "10.0.0.1"',
    ],
    [
      { listen: { address: ":5001", tls: { certificate: "a.crt", key: "/b" } } },
      "listen.tls.certificate: must be an absolute path",
    ],
    [{ users: [] }, "users: must have at least 1 item(s)"],
    [
      { users: [{ name: "ro", passwordHash: "plain", role: "ro" }] },
      "users[0].passwordHash: must be a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)",
    ],
    [
      { users: [{ name: "ro", passwordHash: HASH, role: "admin" }] },
      'users[0].role: must be one of ro, rw, mirror-puller, mirror-pusher, got "admin"',
    ],
    [
      { users: [{ name: "a:b", passwordHash: HASH, role: "ro" }] },
      "users[0].name: must not contain ':' or spaces",
    ],
    [
      {
        users: [
          { name: "ro", passwordHash: HASH, role: "ro" },
          { name: "ro", passwordHash: HASH, role: "rw" },
        ],
      },
      "users[1].role: user ro is listed before with role ro: one role per user",
    ],
    [
      { distribution: { url: "http://127.0.0.1:5000/v2" } },
      "distribution.url: must be http://host:port (the stock distribution on loopback, no path)",
    ],
    [
      { upstream: { url: "https://user:pw@r.example", path: "a" } },
      "upstream.url: must be http(s)://host[:port] without path or credentials (the path goes in upstream.path)",
    ],
    [
      { upstream: { url: "https://r.example", path: "/Deckhouse/EE" } },
      "upstream.path: must be a repository path like deckhouse/ee (lower-case, no leading /)",
    ],
    [
      { upstream: { url: "https://r.example", path: "a", username: "u" } },
      "upstream.password: required when upstream.username is set",
    ],
    [
      { upstream: { url: "http://r.example", path: "a", ca: "/ca.crt" } },
      "upstream.ca: not allowed when upstream.url is http://",
    ],
    [{ realm: 'a"b' }, "realm: must not contain quotes"],
    [{ extra: 1 }, "extra: unknown key"],
    [
      { listen: { address: "1.2.3.4:1", tls: { certificate: "/a", key: "/b", ca: "/c" } } },
      "listen.tls.ca: unknown key",
    ],
  ])("%j → %s", (patch, expected) => {
    expect(problemsOf({ ...proxyDoc(), ...patch })).toContain(expected);
  });

  it("sections that do not belong to the mode are refused", () => {
    expect(problemsOf({ ...proxyDoc(), mode: "local" })).toEqual([
      "upstream: not used in mode local",
      "upstreamListener: only used in mode proxy",
    ]);
    const { distribution: _d, upstreamListener: _l, ...direct } = proxyDoc();
    expect(
      problemsOf({ ...direct, mode: "direct", distribution: { url: "http://127.0.0.1:1" } }),
    ).toEqual(["distribution: not used in mode direct"]);
  });

  it("problems never quote a password", () => {
    const doc = proxyDoc();
    (doc.upstream as Record<string, unknown>).password = 12345;
    const text = problemsOf(doc).join("\n");
    expect(text).toContain("upstream.password: must be a string, got number");
    expect(text).not.toContain("12345");
  });
});

describe("mirrorer config", () => {
  const doc = () => ({
    ca: "/pki/ca.crt",
    local: "10.0.0.1:5001",
    remotes: ["10.0.0.2:5001", "10.0.0.3:5001"],
    puller: { name: "mirror-puller", password: "p1" },
    pusher: { name: "mirror-pusher", password: "p2" },
    monitoring: { address: "127.0.0.1:5005" },
  });
  it("round-trips and defaults", () => {
    const c = parseMirrorerConfig(doc());
    expect(c).toMatchObject({ intervalMs: 60_000, concurrency: 4 });
    expect(parseMirrorerConfig(formatMirrorerConfig(c))).toEqual(c);
  });
  it("names each problem", () => {
    const bad = {
      ...doc(),
      remotes: ["10.0.0.1:5001", "nope"],
      pusher: { name: "x" },
      interval: "0s",
    };
    delete (bad as Record<string, unknown>).ca;
    expect(() => parseMirrorerConfig(bad)).toThrow(
      [
        "mirrorer config is invalid:",
        "  ca: required",
        "  remotes[1]: must be host:port (port 1-65535)",
        "  remotes[0]: must differ from local",
        "  pusher.password: required",
        "  interval: must be a positive duration",
      ].join("\n"),
    );
  });
});

describe("routes and the ACL", () => {
  it.each([
    ["/v2/", { kind: "base" }],
    ["/v2", { kind: "base" }],
    ["/v2/_catalog", { kind: "catalog" }],
    ["/v2/system/deckhouse/tags/list", { kind: "tags", name: "system/deckhouse" }],
    [
      "/v2/system/deckhouse/manifests/v1.70.0",
      { kind: "manifest", name: "system/deckhouse", reference: "v1.70.0" },
    ],
    [
      `/v2/a/b/manifests/sha256:${"a".repeat(64)}`,
      { kind: "manifest", name: "a/b", reference: `sha256:${"a".repeat(64)}` },
    ],
    [
      `/v2/a/blobs/sha256:${"b".repeat(64)}`,
      { kind: "blob", name: "a", digest: `sha256:${"b".repeat(64)}` },
    ],
    ["/v2/a/blobs/uploads/", { kind: "upload", name: "a" }],
    ["/v2/a/blobs/uploads/0b1-uuid", { kind: "upload", name: "a", session: "0b1-uuid" }],
    // a repository may be named like an API word
    [
      "/v2/manifests/blobs/manifests/v1",
      { kind: "manifest", name: "manifests/blobs", reference: "v1" },
    ],
    ["/v2/UPPER/manifests/v1", { kind: "unknown" }],
    ["/v2/a/manifests/", { kind: "unknown" }],
  ])("%s", (path, route) => {
    expect(parseRoute(path)).toEqual(route);
  });

  it("upload sessions and long names are classified at once (no regexp backtracking blow-up)", () => {
    // distribution's own grammar with an optional separator takes minutes on these in JavaScript
    const session = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e-6f7a8b9c0d1e2f3a";
    expect(parseRoute(`/v2/system/deckhouse/blobs/uploads/${session}`)).toEqual({
      kind: "upload",
      name: "system/deckhouse",
      session,
    });
    expect(parseRoute(`/v2/${"a".repeat(64)}/x/${"b".repeat(64)}!`)).toEqual({ kind: "unknown" });
  });

  it("actions: reads pull, writes push, the catalog is its own", () => {
    const m = parseRoute("/v2/a/manifests/v1");
    expect(requiredAction(m, "GET")).toBe("pull");
    expect(requiredAction(m, "HEAD")).toBe("pull");
    expect(requiredAction(m, "PUT")).toBe("push");
    expect(requiredAction(m, "DELETE")).toBe("push");
    expect(requiredAction(parseRoute("/v2/a/blobs/uploads/"), "GET")).toBe("push");
    expect(requiredAction(parseRoute("/v2/_catalog"), "GET")).toBe("catalog");
    expect(requiredAction(parseRoute("/v2/"), "GET")).toBeUndefined();
  });

  it("the role table of docs/architecture.md#node-services", () => {
    const table = Object.fromEntries(
      ROLES.map(r => [r, (["pull", "push", "catalog"] as const).filter(a => allows(r, a))]),
    );
    expect(table).toEqual({
      ro: ["pull"],
      rw: ["pull", "push", "catalog"],
      "mirror-puller": ["pull", "catalog"],
      "mirror-pusher": ["pull", "push", "catalog"],
    });
  });

  it("modes: direct only pulls, proxy never pushes, local does all", () => {
    const modes: GatewayConfig["mode"][] = ["direct", "proxy", "local"];
    expect(
      Object.fromEntries(
        modes.map(m => [m, (["pull", "push", "catalog"] as const).filter(a => modeSupports(m, a))]),
      ),
    ).toEqual({ direct: ["pull"], proxy: ["pull", "catalog"], local: ["pull", "push", "catalog"] });
  });

  it("alias system/deckhouse[/…] ↔ upstream path", () => {
    const alias = new PathAlias("system/deckhouse", "deckhouse/ee");
    expect(alias.toUpstream("system/deckhouse")).toBe("deckhouse/ee");
    expect(alias.toUpstream("system/deckhouse/modules/x")).toBe("deckhouse/ee/modules/x");
    expect(alias.toUpstream("system/deckhousex")).toBeUndefined();
    expect(alias.toUpstream("other")).toBeUndefined();
    expect(alias.toLocal("deckhouse/ee/install")).toBe("system/deckhouse/install");
    expect(toUpstreamRoute(parseRoute("/v2/system/deckhouse/manifests/v1"), alias)).toEqual({
      kind: "manifest",
      name: "deckhouse/ee",
      reference: "v1",
    });
    expect(toUpstreamRoute(parseRoute("/v2/foo/manifests/v1"), alias)).toBeUndefined();
  });

  it("ranges and tag pages", async () => {
    expect(parseRange("bytes=10-19")).toEqual({ start: 10, end: 19 });
    expect(parseRange("bytes=10-")).toEqual({ start: 10 });
    expect(parseRange("bytes=-10")).toBeUndefined();
    expect(parseRange("bytes=5-1")).toBeUndefined();
    const page = tagsPage(
      "deckhouse/ee",
      ["v3", "v1", "v2"],
      new URLSearchParams("n=1&last=v1"),
      false,
    );
    expect(page.headers.link).toBe('</v2/deckhouse/ee/tags/list?n=1&last=v2>; rel="next"');
    const chunks: Buffer[] = [];
    for await (const c of page.body) chunks.push(c as Buffer);
    expect(JSON.parse(Buffer.concat(chunks).toString())).toEqual({
      name: "deckhouse/ee",
      tags: ["v2"],
    });
  });
});

describe("Basic credentials and the verdict cache", () => {
  it("parses Basic, refuses other schemes and malformed values", () => {
    const b = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
    expect(parseBasic(b("ro:pa:ss"))).toEqual({ name: "ro", password: "pa:ss" });
    expect(parseBasic(b(":pw"))).toBeUndefined();
    expect(parseBasic(b("nocolon"))).toBeUndefined();
    expect(parseBasic("Bearer abc")).toBeUndefined();
    expect(parseBasic(undefined)).toBeUndefined();
  });

  it("caches verdicts by credentials, bounded, and never confuses users", async () => {
    const v = new CredentialVerifier(
      [
        { name: "a", passwordHash: bcrypt.hashSync("pa", 4), role: "ro" },
        { name: "b", passwordHash: bcrypt.hashSync("pb", 4), role: "rw" },
      ],
      { maxEntries: 2 },
    );
    expect(await v.verify({ name: "a", password: "pa" })).toMatchObject({
      ok: true,
      user: { name: "a" },
    });
    expect(await v.verify({ name: "a", password: "pb" })).toEqual({
      ok: false,
      reason: "bad-password",
    });
    expect(await v.verify({ name: "b", password: "pa" })).toEqual({
      ok: false,
      reason: "bad-password",
    });
    expect(await v.verify({ name: "c", password: "pa" })).toEqual({
      ok: false,
      reason: "unknown-user",
    });
    // an unknown user costs a bcrypt too (docs/adr/0070)
    expect(v.stats.bcryptChecks).toBe(4);
    expect(await v.verify({ name: "b", password: "pa" })).toMatchObject({ ok: false });
    expect(v.stats.bcryptChecks).toBe(4);
    // failures have their own bound of 2: the oldest (a:pb) was evicted and costs a bcrypt again,
    // while the success a:pa was never at risk
    expect(await v.verify({ name: "a", password: "pa" })).toMatchObject({ ok: true });
    expect(v.stats.bcryptChecks).toBe(4);
    expect(await v.verify({ name: "a", password: "pb" })).toMatchObject({ ok: false });
    expect(v.stats.bcryptChecks).toBe(5);
  });

  it("accepts the $2y$ hashes htpasswd writes", async () => {
    const y = bcrypt.hashSync("pw", 4).replace(/^\$2[ab]\$/, "$2y$");
    const v = new CredentialVerifier([{ name: "u", passwordHash: y, role: "ro" }]);
    expect((await v.verify({ name: "u", password: "pw" })).ok).toBe(true);
  });
});
