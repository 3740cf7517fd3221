// pullArgs / pushArgs: the argument lists the mirror suites run the CLI with, spelled out once.
import { describe, expect, it } from "vitest";
import { pullArgs, pushArgs } from "./cli";

describe("mirror CLI argument helpers", () => {
  it("pull: source, tags, images file, access flags, then the bundle", () => {
    expect(
      pullArgs("127.0.0.1:5000/deckhouse/ee", "/b", {
        tags: ["v1", "multi"],
        imagesFile: "/images.txt",
        creds: "alice:pw",
        license: "L",
        ca: "/ca.crt",
        plainHttp: true,
        parallel: 1,
        dryRun: true,
      }),
    ).toEqual([
      "pull", "--source", "127.0.0.1:5000/deckhouse/ee", "--tag", "v1", "--tag", "multi",
      "--images-file", "/images.txt", "--creds", "alice:pw", "--license", "L", "--ca", "/ca.crt",
      "--plain-http", "--parallel", "1", "--dry-run", "/b",
    ]); // prettier-ignore
    expect(pullArgs("r/x", "/b")).toEqual(["pull", "--source", "r/x", "/b"]);
  });

  it("push: bundle and target first, then only the flags given", () => {
    expect(pushArgs("/b", "r:5000/system/deckhouse", { creds: "rw:pw", ca: "/ca.crt" })).toEqual([
      "push",
      "/b",
      "r:5000/system/deckhouse",
      "--creds",
      "rw:pw",
      "--ca",
      "/ca.crt",
    ]);
  });
});
