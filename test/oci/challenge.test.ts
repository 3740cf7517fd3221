import { describe, expect, it } from "vitest";
import { parseChallenges, TokenCache } from "../../lib/oci";

describe("parseChallenges", () => {
  it("reads distribution's bearer challenge with scope and error", () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",' +
          'scope="repository:a/b:pull,push",error="insufficient_scope"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.example.com/token",
          service: "registry.example.com",
          scope: "repository:a/b:pull,push",
          error: "insufficient_scope",
        },
      },
    ]);
  });

  it("reads Basic, several challenges, escapes and unquoted values", () => {
    expect(parseChallenges('Basic realm="a \\"b\\"", Bearer realm=x,service=y')).toEqual([
      { scheme: "basic", params: { realm: 'a "b"' } },
      { scheme: "bearer", params: { realm: "x", service: "y" } },
    ]);
    expect(parseChallenges(["Basic", 'Bearer realm="r"'])).toEqual([
      { scheme: "basic", params: {} },
      { scheme: "bearer", params: { realm: "r" } },
    ]);
    expect(parseChallenges(undefined)).toEqual([]);
    expect(parseChallenges('=broken realm="x"')).toEqual([]);
  });
});

describe("TokenCache", () => {
  it("shares one fetch between concurrent callers and expires by the injected clock", async () => {
    let now = 1_000_000;
    const cache = new TokenCache(() => now);
    let fetches = 0;
    const fetch = async () => {
      fetches++;
      await new Promise(r => setTimeout(r, 5));
      return { token: `t${fetches}`, expiresInSeconds: 60 };
    };
    const key = TokenCache.key("https://auth", "svc", ["repository:a:pull"]);
    const got = await Promise.all([
      cache.get(key, fetch),
      cache.get(key, fetch),
      cache.get(key, fetch),
    ]);
    expect(got).toEqual(["t1", "t1", "t1"]);
    expect(fetches).toBe(1);
    now += 50_000; // within lifetime minus the 5 s margin
    expect(await cache.get(key, fetch)).toBe("t1");
    now += 6_000; // 56 s: inside the margin → refreshed
    expect(await cache.get(key, fetch)).toBe("t2");
    cache.drop(key);
    expect(cache.peek(key)).toBeUndefined();
  });

  it("keys by realm, service and the set of scopes", () => {
    expect(TokenCache.key("r", "s", ["b", "a"])).toBe(TokenCache.key("r", "s", ["a", "b"]));
    expect(TokenCache.key("r", "s", ["a"])).not.toBe(TokenCache.key("r", "t", ["a"]));
  });

  it("does not cache a failed fetch", async () => {
    const cache = new TokenCache();
    await expect(cache.get("k", () => Promise.reject(new Error("down")))).rejects.toThrow("down");
    expect(await cache.get("k", async () => ({ token: "ok", expiresInSeconds: 60 }))).toBe("ok");
  });
});
