import { describe, expect, it } from "vitest";
import {
  formatReference,
  OciError,
  parseImageReference,
  parseRepository,
  repoint,
} from "../../lib/oci";

const D = `sha256:${"a".repeat(64)}`;

describe("parseImageReference", () => {
  it.each([
    [
      "registry.example.com/deckhouse/ee:v1.70.1",
      { registry: "registry.example.com", repository: "deckhouse/ee", tag: "v1.70.1" },
    ],
    [
      "127.0.0.1:5001/system/deckhouse@" + D,
      { registry: "127.0.0.1:5001", repository: "system/deckhouse", digest: D },
    ],
    ["reg.io:443/a/b:t@" + D, { registry: "reg.io:443", repository: "a/b", tag: "t", digest: D }],
    ["localhost/x:1", { registry: "localhost", repository: "x", tag: "1" }],
    ["ubuntu:22.04", { registry: "docker.io", repository: "library/ubuntu", tag: "22.04" }],
    ["bitnami/nginx:1", { registry: "docker.io", repository: "bitnami/nginx", tag: "1" }],
  ])("%s", (input, expected) => {
    expect(parseImageReference(input)).toEqual(expected);
  });

  it.each([
    ["invalid-image-ref", /needs a tag \(:tag\) or a digest/],
    ["reg.io/UPPER/case:v1", /lowercase/],
    ["reg.io/a:bad tag", /tag must match/],
    ["reg.io/a@sha256:abc", /invalid digest/],
    ["https://reg.io/a:v1", /no scheme allowed/],
  ])("%s is refused", (input, rule) => {
    expect(() => parseImageReference(input)).toThrow(OciError);
    expect(() => parseImageReference(input)).toThrow(rule);
  });

  it("round-trips through formatReference", () => {
    const ref = `registry.example.com:8443/a/b/c:v1@${D}`;
    expect(formatReference(parseImageReference(ref))).toBe(ref);
  });
});

describe("parseRepository", () => {
  it("splits host and path and refuses tags, digests and schemes", () => {
    expect(parseRepository("registry.deckhouse.io/deckhouse/ee")).toEqual({
      registry: "registry.deckhouse.io",
      repository: "deckhouse/ee",
    });
    expect(parseRepository("10.0.0.1:5001/system/deckhouse/")).toEqual({
      registry: "10.0.0.1:5001",
      repository: "system/deckhouse",
    });
    expect(() => parseRepository("reg.io/a:v1")).toThrow(/no tag allowed/);
    expect(() => parseRepository(`reg.io/a@${D}`)).toThrow(/no digest allowed/);
    expect(() => parseRepository("http://reg.io/a")).toThrow(/no scheme allowed/);
    expect(() => parseRepository("")).toThrow(/repository "": empty/);
  });
});

describe("repoint (docs/architecture.md#checker item 38)", () => {
  const target = parseRepository("gcr.io/new/repo");
  it("keeps the tag", () => {
    expect(formatReference(repoint(parseImageReference("gcr.io/a/b/c/d/e:latest"), target))).toBe(
      "gcr.io/new/repo:latest",
    );
  });
  it("keeps the digest", () => {
    expect(formatReference(repoint(parseImageReference(`reg.io/x/y@${D}`), target))).toBe(
      `gcr.io/new/repo@${D}`,
    );
  });
});
