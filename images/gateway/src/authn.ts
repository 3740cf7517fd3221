// Client authentication against the module users' bcrypt hashes.
//
// A bcrypt check costs tens of milliseconds of CPU by design, and every blob and manifest request
// of a pull carries credentials, so verdicts are cached. The cache key is an HMAC of
// `name:password` under a random key made at start: the cache holds no password and nothing an
// attacker who reads process memory could test guesses against offline faster than bcrypt.
// Failures are cached too, in their own bounded LRU (a flood of guesses evicts only other
// guesses, never a real user's verdict), so a client repeating a wrong password costs one bcrypt.
// bcrypt work is bounded three ways (docs/adr/0070): at most `concurrency` checks at a time, at
// most `maxQueued` waiting (beyond: "throttled", answered 429 without any bcrypt), and per source
// address a token bucket of `failuresPerSource` new failed checks, refilled over
// `failureWindowMs`. An unknown user name is checked against a dummy hash of the same cost, so
// its answer takes as long as a wrong password's: user names cannot be told apart by timing.
import bcrypt from "bcryptjs";
import { createHmac, randomBytes } from "node:crypto";
import type { GatewayUser } from "../../../lib/dataplane/gateway-config";

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
  | { ok: true; user: GatewayUser }
  | { ok: false; reason: "unknown-user" | "bad-password" | "throttled" };

export interface VerifierStats {
  cacheHits: number;
  bcryptChecks: number;
  throttled: number;
}

export interface VerifierOptions {
  /** entries of each verdict cache (successes, failures) */
  maxEntries?: number;
  /** bcrypt checks running at once */
  concurrency?: number;
  /** bcrypt checks waiting for a slot; beyond, new credentials are throttled */
  maxQueued?: number;
  /** failed bcrypt checks one source address may cause per window (a burst) */
  failuresPerSource?: number;
  /** time over which a source's allowance refills completely */
  failureWindowMs?: number;
}

type Known =
  { ok: true; user: GatewayUser } | { ok: false; reason: "unknown-user" | "bad-password" };

export class CredentialVerifier {
  static readonly DEFAULTS: Required<VerifierOptions> = {
    maxEntries: 4096,
    concurrency: 2,
    maxQueued: 32,
    failuresPerSource: 20,
    failureWindowMs: 60_000,
  };

  /** a name may have several passwords while a switch rotates it (docs/adr/0122) */
  readonly #users = new Map<string, GatewayUser[]>();
  readonly #key = randomBytes(32);
  /** HMAC(name:password) → verdict; Map order is insertion order, used as LRU */
  readonly #good = new LruMap<string, GatewayUser>();
  readonly #bad = new LruMap<string, Known & { ok: false }>();
  readonly #pending = new Map<string, Promise<Known>>();
  readonly #opts: Required<VerifierOptions>;
  readonly #sources: SourceBuckets;
  /** what an unknown user's password is checked against: a hash of the users' highest cost */
  readonly #dummyHash: string;
  #running = 0;
  readonly #queue: (() => void)[] = [];
  readonly stats: VerifierStats = { cacheHits: 0, bcryptChecks: 0, throttled: 0 };

  constructor(users: readonly GatewayUser[], opts: VerifierOptions = {}) {
    for (const u of users) this.#users.set(u.name, [...(this.#users.get(u.name) ?? []), u]);
    this.#opts = { ...CredentialVerifier.DEFAULTS, ...opts };
    this.#sources = new SourceBuckets(this.#opts.failuresPerSource, this.#opts.failureWindowMs);
    const cost = Math.max(
      4,
      ...users.map(u => Number(/^\$2[aby]\$(\d\d)\$/.exec(u.passwordHash)?.[1] ?? 4)),
    );
    this.#dummyHash = bcrypt.hashSync(randomBytes(16).toString("base64"), cost);
  }

  /** `source` is the client's address: the unit of the failure rate limit. */
  async verify(creds: BasicCredentials, source = ""): Promise<Verdict> {
    const key = createHmac("sha256", this.#key)
      .update(creds.name)
      .update("\0")
      .update(creds.password)
      .digest("base64");
    const good = this.#good.get(key);
    if (good) {
      this.stats.cacheHits++;
      return { ok: true, user: good };
    }
    const bad = this.#bad.get(key);
    if (bad) {
      this.stats.cacheHits++;
      return bad;
    }
    // concurrent first requests with the same credentials share one bcrypt
    let pending = this.#pending.get(key);
    if (!pending) {
      if (this.#queue.length >= this.#opts.maxQueued || !this.#sources.take(source)) {
        this.stats.throttled++;
        return { ok: false, reason: "throttled" };
      }
      pending = this.#check(creds)
        .then(verdict => {
          if (verdict.ok) {
            // a success gives the source its allowance back: only failures are limited
            this.#sources.refund(source);
            this.#good.set(key, verdict.user, this.#opts.maxEntries);
          } else this.#bad.set(key, verdict, this.#opts.maxEntries);
          return verdict;
        })
        .finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #check(creds: BasicCredentials): Promise<Known> {
    const candidates = this.#users.get(creds.name);
    if (this.#running < this.#opts.concurrency) this.#running++;
    // a finishing check hands its slot over directly, so the limit holds at every instant
    else await new Promise<void>(resolve => this.#queue.push(resolve));
    try {
      if (!candidates) {
        this.stats.bcryptChecks++;
        await bcrypt.compare(creds.password, this.#dummyHash);
        return { ok: false, reason: "unknown-user" };
      }
      for (const user of candidates) {
        this.stats.bcryptChecks++;
        if (await bcrypt.compare(creds.password, user.passwordHash)) return { ok: true, user };
      }
      return { ok: false, reason: "bad-password" };
    } finally {
      const next = this.#queue.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/** A Map used as an LRU: a read moves the entry to the young end. */
class LruMap<K, V> {
  readonly #map = new Map<K, V>();
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: K, value: V, max: number): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > max) {
      const oldest = this.#map.keys().next().value;
      if (oldest === undefined) break;
      this.#map.delete(oldest);
    }
  }
}

/**
 * Token buckets per source address: `burst` tokens, refilled linearly over `windowMs`. Remembers
 * at most 4096 sources (the least recently seen are forgotten: a forgotten source starts full,
 * which costs an attacker rotating addresses no more than the global queue bound allows).
 */
class SourceBuckets {
  readonly #buckets = new LruMap<string, { tokens: number; at: number }>();
  constructor(
    readonly burst: number,
    readonly windowMs: number,
  ) {}

  take(source: string): boolean {
    const now = Date.now();
    const b = this.#buckets.get(source) ?? { tokens: this.burst, at: now };
    const tokens = Math.min(this.burst, b.tokens + ((now - b.at) / this.windowMs) * this.burst);
    if (tokens < 1) {
      this.#buckets.set(source, { tokens, at: now }, 4096);
      return false;
    }
    this.#buckets.set(source, { tokens: tokens - 1, at: now }, 4096);
    return true;
  }

  refund(source: string): void {
    const b = this.#buckets.get(source);
    if (b) b.tokens = Math.min(this.burst, b.tokens + 1);
  }
}
