// Client authentication against the module users' bcrypt hashes.
//
// A bcrypt check costs tens of milliseconds of CPU by design, and every blob and manifest request
// of a pull carries credentials, so verdicts are cached. The cache key is an HMAC of
// `name:password` under a random key made at start: the cache holds no password and nothing an
// attacker who reads process memory could test guesses against offline faster than bcrypt.
// Failures are cached too (bounded), so a client repeating a wrong password costs one bcrypt, and
// bcrypt checks run at most `concurrency` at a time so a flood of new guesses queues instead of
// starving the data path.
import bcrypt from "bcryptjs";
import { createHmac, randomBytes } from "node:crypto";
import type { GatewayUser } from "./config";

export interface BasicCredentials {
  name: string;
  password: string;
}

/** Parses `Authorization: Basic …`; undefined for absent, other schemes or malformed values. */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (!header) return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header);
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) return undefined;
  return { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export type Verdict =
  { ok: true; user: GatewayUser } | { ok: false; reason: "unknown-user" | "bad-password" };

export interface VerifierStats {
  cacheHits: number;
  bcryptChecks: number;
}

export class CredentialVerifier {
  readonly #users = new Map<string, GatewayUser>();
  readonly #key = randomBytes(32);
  /** HMAC(name:password) → verdict; Map order is insertion order, used as LRU */
  readonly #cache = new Map<string, boolean>();
  readonly #pending = new Map<string, Promise<boolean>>();
  readonly #maxEntries: number;
  readonly #concurrency: number;
  #running = 0;
  readonly #queue: (() => void)[] = [];
  readonly stats: VerifierStats = { cacheHits: 0, bcryptChecks: 0 };

  constructor(
    users: readonly GatewayUser[],
    opts: { maxEntries?: number; concurrency?: number } = {},
  ) {
    for (const u of users) this.#users.set(u.name, u);
    this.#maxEntries = opts.maxEntries ?? 4096;
    this.#concurrency = opts.concurrency ?? 2;
  }

  async verify(creds: BasicCredentials): Promise<Verdict> {
    const user = this.#users.get(creds.name);
    if (!user) return { ok: false, reason: "unknown-user" };
    const key = createHmac("sha256", this.#key)
      .update(creds.name)
      .update("\0")
      .update(creds.password)
      .digest("base64");
    let ok = this.#cache.get(key);
    if (ok !== undefined) {
      this.stats.cacheHits++;
      // refresh the LRU position
      this.#cache.delete(key);
      this.#cache.set(key, ok);
    } else {
      // concurrent first requests with the same credentials share one bcrypt
      let pending = this.#pending.get(key);
      if (!pending) {
        pending = this.#check(creds.password, user.passwordHash).finally(() =>
          this.#pending.delete(key),
        );
        this.#pending.set(key, pending);
      }
      ok = await pending;
      this.#remember(key, ok);
    }
    return ok ? { ok: true, user } : { ok: false, reason: "bad-password" };
  }

  #remember(key: string, ok: boolean): void {
    this.#cache.set(key, ok);
    while (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
  }

  async #check(password: string, hash: string): Promise<boolean> {
    if (this.#running < this.#concurrency) this.#running++;
    // a finishing check hands its slot over directly, so the limit holds at every instant
    else await new Promise<void>(resolve => this.#queue.push(resolve));
    try {
      this.stats.bcryptChecks++;
      return await bcrypt.compare(password, hash);
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
