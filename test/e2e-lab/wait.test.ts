// until(): the one polling loop the e2e suites wait with.
import { describe, expect, it } from "vitest";
import { until } from "./wait";

describe("until", () => {
  it("returns the first value that is neither undefined nor false", async () => {
    const values = [undefined, false, 0, 7];
    expect(await until("a value", () => values.shift(), { intervalMs: 1 })).toBe(0);
  });

  it("times out naming what it waited for and the context", async () => {
    await expect(
      until("the manifest", () => false, { timeoutMs: 20, intervalMs: 5, context: () => "log" }),
    ).rejects.toThrow(/^timeout waiting for the manifest\nlog$/);
  });

  it("a throwing probe fails at once, unless errors are retried (the last one is named)", async () => {
    const probe = () => {
      throw new Error("connection refused");
    };
    await expect(until("healthz", probe)).rejects.toThrow(/^connection refused$/);
    await expect(
      until("healthz", probe, { timeoutMs: 20, intervalMs: 5, retryErrors: true }),
    ).rejects.toThrow("timeout waiting for healthz (last error: Error: connection refused)");
  });
});
