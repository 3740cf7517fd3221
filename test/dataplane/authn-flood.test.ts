// Password guessing against the credential verifier (issue 15, defect 4): bcrypt work is bounded
// globally and per source address, an unknown user costs what a known one costs (no user
// enumeration by timing), and a flood of wrong guesses cannot evict the verdicts of real users.
// Work is counted in bcrypt calls (spied on the real bcryptjs), never timed.
import bcrypt from "bcryptjs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CredentialVerifier } from "../../images/gateway/src/authn";

const users = [
  { name: "ro", passwordHash: bcrypt.hashSync("ro-pw", 4), role: "ro" as const },
  { name: "rw", passwordHash: bcrypt.hashSync("rw-pw", 4), role: "rw" as const },
];

/** Counts bcrypt.compare calls and the most that ran at once. */
function spyBcrypt() {
  const real = bcrypt.compare.bind(bcrypt);
  const seen = { calls: 0, running: 0, peak: 0 };
  vi.spyOn(bcrypt, "compare").mockImplementation((async (s: string, h: string) => {
    seen.calls++;
    seen.running++;
    seen.peak = Math.max(seen.peak, seen.running);
    try {
      return await real(s, h);
    } finally {
      seen.running--;
    }
  }) as typeof bcrypt.compare);
  return seen;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("credential verifier under a guessing flood", () => {
  it("a flood of wrong passwords cannot evict a real user's verdict", async () => {
    const v = new CredentialVerifier(users, { maxEntries: 8 });
    const seen = spyBcrypt();
    expect((await v.verify({ name: "ro", password: "ro-pw" }, "10.0.0.1")).ok).toBe(true);
    for (let i = 0; i < 50; i++) {
      // each from its own address: the per-source limit is not what is tested here
      await v.verify({ name: "ro", password: `guess-${i}` }, `10.1.${i}.1`);
    }
    const before = seen.calls;
    expect((await v.verify({ name: "ro", password: "ro-pw" }, "10.0.0.1")).ok).toBe(true);
    expect(seen.calls - before, "the real user's verdict was evicted").toBe(0);
  });

  it("an unknown user costs one bcrypt, as a known user with a wrong password does", async () => {
    const v = new CredentialVerifier(users);
    const seen = spyBcrypt();
    expect(await v.verify({ name: "ro", password: "nope" }, "10.0.0.2")).toEqual({
      ok: false,
      reason: "bad-password",
    });
    expect(seen.calls).toBe(1);
    expect(await v.verify({ name: "nobody", password: "nope" }, "10.0.0.2")).toEqual({
      ok: false,
      reason: "unknown-user",
    });
    expect(seen.calls, "an unknown user was refused without the cost of a bcrypt").toBe(2);
    // and, like any failure, repeating it costs nothing more
    await v.verify({ name: "nobody", password: "nope" }, "10.0.0.2");
    expect(seen.calls).toBe(2);
  });

  it("one address guessing is throttled after a bounded number of bcrypts; others are not", async () => {
    const v = new CredentialVerifier(users);
    const seen = spyBcrypt();
    const verdicts = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        v.verify({ name: "rw", password: `guess-${i}` }, "10.6.6.6"),
      ),
    );
    expect(seen.calls, "bcrypt work of one guessing address").toBeLessThanOrEqual(
      CredentialVerifier.DEFAULTS.failuresPerSource,
    );
    expect(verdicts.filter(x => !x.ok && x.reason === "throttled").length).toBeGreaterThan(250);
    expect(verdicts.some(x => x.ok)).toBe(false);
    // a real user elsewhere logs in at once, with a single bcrypt
    const before = seen.calls;
    expect((await v.verify({ name: "ro", password: "ro-pw" }, "10.0.0.3")).ok).toBe(true);
    expect(seen.calls - before).toBe(1);
    // cached verdicts of the throttled address itself are still answered (no bcrypt involved)
    expect((await v.verify({ name: "ro", password: "ro-pw" }, "10.6.6.6")).ok).toBe(true);
  });

  it("a flood from many addresses queues a bounded amount of bcrypt work", async () => {
    const v = new CredentialVerifier(users);
    const seen = spyBcrypt();
    const verdicts = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        v.verify({ name: "rw", password: `guess-${i}` }, `10.2.${i >> 8}.${i & 255}`),
      ),
    );
    const bound = CredentialVerifier.DEFAULTS.concurrency + CredentialVerifier.DEFAULTS.maxQueued;
    expect(seen.calls).toBeLessThanOrEqual(bound);
    expect(verdicts.filter(x => !x.ok && x.reason === "throttled").length).toBe(300 - seen.calls);
  });

  it("bcrypt runs at most `concurrency` at a time (defect 9)", async () => {
    const v = new CredentialVerifier(users, { concurrency: 2 });
    const seen = spyBcrypt();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        v.verify({ name: "ro", password: `p-${i}` }, `10.3.0.${i}`),
      ),
    );
    expect(seen.calls).toBe(12);
    expect(seen.peak).toBe(2);
  });
});

describe("a user listed twice (a switch rotating its password, docs/adr/0122)", () => {
  const rotating = [
    { name: "puller", passwordHash: bcrypt.hashSync("new-pw", 4), role: "ro" as const },
    { name: "puller", passwordHash: bcrypt.hashSync("old-pw", 4), role: "ro" as const },
  ];

  it("is accepted with either password, and refused with any other after both are checked", async () => {
    const v = new CredentialVerifier(rotating);
    const seen = spyBcrypt();
    for (const password of ["new-pw", "old-pw"]) {
      const verdict = await v.verify({ name: "puller", password }, "10.0.0.9");
      expect(verdict.ok && verdict.user.name).toBe("puller");
    }
    expect(await v.verify({ name: "puller", password: "guess" }, "10.0.0.9")).toEqual({
      ok: false,
      reason: "bad-password",
    });
    // new-pw: 1, old-pw: 2 (the first hash refuses it), a guess: 2
    expect(seen.calls).toBe(5);
  });
});
