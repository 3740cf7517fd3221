// Users (docs/architecture.md#users). Hashes are judged by bcryptjs and by Apache's own `htpasswd
// -v` (a second, independent bcrypt implementation); distribution's Go bcrypt judges them in
// consumers.test.ts.
import bcrypt from "bcryptjs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SECRET_ALPHABET } from "../../lib/domain/secrets";
import {
  ensurePasswordHash,
  ensureUser,
  ensureUsers,
  hashPassword,
  isBcryptHash,
  passwordMatches,
  userSecretName,
  usersForMode,
  type RegistryUser,
  type UserSecretSnapshot,
} from "../../lib/domain/users";
import { CommandError, requireTools, run } from "../e2e-lab/process";
import { seededRandom } from "./pki-helpers";

const PASSWORD = /^[a-zA-Z0-9]{16}$/;
const random = seededRandom("users");

/** A user whose hash is real (computed once per test file). */
let ro: RegistryUser;
let rw: RegistryUser;
beforeAll(async () => {
  ro = { name: "ro", password: "Passw0rdPassw0rd", password_hash: "" };
  ro.password_hash = await hashPassword(ro.password, random);
  rw = { name: "rw", password: "AnotherPassword1", password_hash: "" };
  rw.password_hash = await hashPassword(rw.password, random);
});

function secretOf(
  user: RegistryUser,
  secretName = `registry-user-${user.name}`,
): UserSecretSnapshot {
  return {
    secretName,
    name: user.name,
    password: user.password,
    passwordHash: user.password_hash,
  };
}

describe("ensureUser (processUser of the original, docs/architecture.md#users)", () => {
  it("#32 no state, no secret: the named user with a 16-character password and a valid cost-10 hash", async () => {
    const { user, source, rehashed } = await ensureUser("mirror-puller", {}, random);
    expect(source).toBe("generated");
    expect(rehashed).toBe(false);
    expect(user.name).toBe("mirror-puller");
    expect(user.password).toMatch(PASSWORD);
    expect(user.password_hash).toMatch(/^\$2a\$10\$/);
    expect(bcrypt.compareSync(user.password, user.password_hash)).toBe(true);
  });

  it("#33 a valid state user is returned as is", async () => {
    const result = await ensureUser("ro", { state: ro }, random);
    expect(result).toEqual({ user: ro, source: "state", rehashed: false });
  });

  it("#34 empty state, valid secret `registry-user-<name>`: taken from the secret, hash kept", async () => {
    const result = await ensureUser("ro", { secret: secretOf(ro) }, random);
    expect(result).toEqual({ user: ro, source: "secret", rehashed: false });
  });

  it("#35 a state user with a bad hash keeps its password and gets a valid hash", async () => {
    for (const badHash of ["", "not-bcrypt", rw.password_hash]) {
      const result = await ensureUser("ro", { state: { ...ro, password_hash: badHash } }, random);
      expect(result.source).toBe("state");
      expect(result.rehashed).toBe(true);
      expect(result.user.password).toBe(ro.password);
      expect(result.user.password_hash).not.toBe(badHash);
      expect(bcrypt.compareSync(ro.password, result.user.password_hash)).toBe(true);
    }
  });

  it("#36 a state user without password gets a new password (and hash)", async () => {
    for (const password of ["", "   "]) {
      const result = await ensureUser("ro", { state: { ...ro, password } }, random);
      expect(result.source).toBe("generated");
      expect(result.user.password).toMatch(PASSWORD);
      expect(bcrypt.compareSync(result.user.password, result.user.password_hash)).toBe(true);
    }
  });

  it("prefers state over the secret, and the registry-init seed over both", async () => {
    const fromSecret = { ...ro, password: "SecretPassword12" };
    expect(
      (await ensureUser("ro", { state: ro, secret: secretOf(fromSecret) }, random)).user,
    ).toEqual(ro);
    const seed = { name: "ro", password: "SeedPassword1234", password_hash: "" };
    const seeded = await ensureUser("ro", { seed, state: ro, secret: secretOf(ro) }, random);
    expect(seeded.source).toBe("seed");
    expect(seeded.rehashed).toBe(true);
    expect(seeded.user.password).toBe(seed.password);
    expect(bcrypt.compareSync(seed.password, seeded.user.password_hash)).toBe(true);
  });

  it("a record named otherwise, or the secret of another user, is not taken", async () => {
    const renamed = await ensureUser("ro", { state: { ...ro, name: "admin" } }, random);
    expect(renamed.source).toBe("generated");
    expect(renamed.user.name).toBe("ro");
    const othersSecret = await ensureUser("ro", { secret: secretOf(rw) }, random);
    expect(othersSecret.source).toBe("generated");
    const misfiled = await ensureUser("ro", { secret: secretOf(ro, "registry-user-rw") }, random);
    expect(misfiled.source).toBe("generated");
    // a snapshot handed over for this user without its Secret name is taken
    const { secretName: _name, ...unnamed } = secretOf(ro);
    expect((await ensureUser("ro", { secret: unnamed }, random)).source).toBe("secret");
  });

  it("stateChecked: a well-formed state hash is trusted without a bcrypt check", async () => {
    // rw's hash does not match ro's password: only a real check can tell
    const stale = { ...ro, password_hash: rw.password_hash };
    const trusted = await ensureUser("ro", { state: stale, stateChecked: true }, random);
    expect(trusted).toEqual({ user: stale, source: "state", rehashed: false });
    const checked = await ensureUser("ro", { state: stale }, random);
    expect(checked.rehashed).toBe(true);
    // a malformed hash is never trusted
    const malformed = await ensureUser(
      "ro",
      { state: { ...ro, password_hash: "$2a$10$short" }, stateChecked: true },
      random,
    );
    expect(malformed.rehashed).toBe(true);
    expect(bcrypt.compareSync(ro.password, malformed.user.password_hash)).toBe(true);
    // the secret is never trusted that way, only state written by the hook
    const fromSecret = await ensureUser(
      "ro",
      { secret: secretOf(stale), stateChecked: true },
      random,
    );
    expect(fromSecret.rehashed).toBe(true);
  });

  it("is reproducible with the same random source", async () => {
    const a = await ensureUser("rw", {}, seededRandom("same"));
    const b = await ensureUser("rw", {}, seededRandom("same"));
    expect(a).toEqual(b);
    const c = await ensureUser("rw", {}, seededRandom("other"));
    expect(c.user.password).not.toBe(a.user.password);
  });
});

describe("ensureUsers and usersForMode (docs/architecture.md#users)", () => {
  it("maps modes to users", () => {
    expect(usersForMode("Direct")).toEqual([]);
    expect(usersForMode("Unmanaged")).toEqual([]);
    expect(usersForMode("Proxy")).toEqual(["ro"]);
    expect(usersForMode("Local")).toEqual(["ro", "rw", "mirror-puller", "mirror-pusher"]);
  });

  it("Local: all four under their values keys, each from its own source", async () => {
    const { users, outcomes } = await ensureUsers(
      usersForMode("Local"),
      { state: { ro }, secrets: [secretOf(rw)], stateChecked: true },
      random,
    );
    expect(Object.keys(users)).toEqual(["ro", "rw", "mirror_puller", "mirror_pusher"]);
    expect(users.ro).toEqual(ro);
    expect(users.rw).toEqual(rw);
    expect(users.mirror_puller?.name).toBe("mirror-puller");
    expect(users.mirror_pusher?.name).toBe("mirror-pusher");
    expect(outcomes).toEqual({
      ro: { source: "state", rehashed: false },
      rw: { source: "secret", rehashed: false },
      "mirror-puller": { source: "generated", rehashed: false },
      "mirror-pusher": { source: "generated", rehashed: false },
    });
  });

  it("Proxy: only `ro`; the other users are dropped", async () => {
    const local = await ensureUsers(usersForMode("Local"), {}, random);
    const proxy = await ensureUsers(
      usersForMode("Proxy"),
      { state: local.users, stateChecked: true },
      random,
    );
    expect(proxy.users).toEqual({ ro: local.users.ro });
  });

  it("seeds `ro` and `rw` from registry-init", async () => {
    const seed = { ro: { name: "ro", password: "SeedPassword1234", password_hash: "" } };
    const { users, outcomes } = await ensureUsers(["ro", "rw"], { seed }, random);
    expect(users.ro?.password).toBe("SeedPassword1234");
    expect(outcomes.ro?.source).toBe("seed");
    expect(outcomes.rw?.source).toBe("generated");
  });

  it("secret names are `registry-user-<name>`", () => {
    expect(userSecretName("mirror-pusher")).toBe("registry-user-mirror-pusher");
  });
});

describe("ensurePasswordHash (docs/architecture.md#in-cluster-proxy upstream user)", () => {
  it("no password ⇒ no hash; a matching hash is kept; otherwise a new one", async () => {
    expect(await ensurePasswordHash("", ro.password_hash, random)).toBe("");
    expect(await ensurePasswordHash(ro.password, ro.password_hash, random)).toBe(ro.password_hash);
    const renewed = await ensurePasswordHash(ro.password, rw.password_hash, random);
    expect(renewed).not.toBe(rw.password_hash);
    expect(await passwordMatches(ro.password, renewed)).toBe(true);
    const fresh = await ensurePasswordHash("new-upstream-pw", undefined, random);
    expect(await passwordMatches("new-upstream-pw", fresh)).toBe(true);
  });

  it("checkedPassword skips bcrypt only for the very password the hash was checked against", async () => {
    // a hash of another password, claimed checked for the current one: kept without a check
    expect(
      await ensurePasswordHash(ro.password, rw.password_hash, random, {
        checkedPassword: ro.password,
      }),
    ).toBe(rw.password_hash);
    // the upstream password changed since: checked for real and replaced
    const changed = await ensurePasswordHash("changed-password", ro.password_hash, random, {
      checkedPassword: ro.password,
    });
    expect(await passwordMatches("changed-password", changed)).toBe(true);
  });
});

describe("password hashes", () => {
  it("recognises the bcrypt shape", () => {
    expect(isBcryptHash(ro.password_hash)).toBe(true);
    expect(isBcryptHash("$2y$05$" + "a".repeat(53))).toBe(true);
    expect(isBcryptHash("$2a$10$" + "a".repeat(52))).toBe(false);
    expect(isBcryptHash("$1$abc$def")).toBe(false);
  });

  it("generated passwords use only [a-zA-Z0-9]", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const { user } = await ensureUser("ro", {}, seededRandom(`alphabet-${i}`));
      for (const ch of user.password) seen.add(ch);
    }
    for (const ch of seen) expect(SECRET_ALPHABET).toContain(ch);
  });

  describe("Apache htpasswd agrees", () => {
    let dir: string;
    beforeAll(async () => {
      requireTools("htpasswd");
      dir = await mkdtemp(join(tmpdir(), "users-htpasswd-"));
    });
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("accepts the password and refuses another", async () => {
      const { user } = await ensureUser("mirror-pusher", {}, random);
      const file = join(dir, "htpasswd");
      await writeFile(file, `${user.name}:${user.password_hash}\n`, { mode: 0o600 });
      const verify = (password: string) =>
        run("htpasswd", ["-vi", file, user.name], { input: `${password}\n` });
      expect((await verify(user.password)).stderr).toContain("correct");
      const wrong = await verify("wrong-password").catch((e: unknown) => e);
      expect(wrong).toBeInstanceOf(CommandError);
      expect((wrong as CommandError).stderr).toContain("verification failed");
    });
  });
});
