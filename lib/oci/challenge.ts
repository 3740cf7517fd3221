// `WWW-Authenticate` challenges (RFC 7235) as registries send them, and the bearer token cache.
//
//   parseChallenges('Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"')
//     → [{ scheme: "bearer", params: { realm, service, scope } }]
//
// Pure: no I/O; the client fetches tokens and stores them here.

export interface Challenge {
  /** Lower-cased auth scheme: "basic", "bearer", … */
  scheme: string;
  /** Lower-cased parameter names → values (quotes and escapes removed). */
  params: Record<string, string>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;

/** All challenges of one or more header values; unparseable tails are ignored. */
export function parseChallenges(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const values = typeof header === "string" ? [header] : header;
  return values.flatMap(parseOne);
}

function parseOne(text: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const skip = (chars: RegExp): void => {
    while (i < text.length && chars.test(text[i] as string)) i++;
  };
  const token = (): string | undefined => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(text);
    if (!m) return undefined;
    i = TOKEN.lastIndex;
    return m[0];
  };
  let current: Challenge | undefined;
  while (i < text.length) {
    skip(/[\s,]/);
    const start = i;
    const name = token();
    if (name === undefined) break;
    skip(/[ \t]/);
    if (text[i] === "=" && current) {
      i++;
      skip(/[ \t]/);
      let value: string;
      if (text[i] === '"') {
        const quoted = quotedString(text, i);
        value = quoted.value;
        i = quoted.end;
      } else {
        value = token() ?? "";
      }
      current.params[name.toLowerCase()] = value;
      continue;
    }
    if (text[i] === "=" && !current) break; // params without a scheme
    i = start + name.length;
    current = { scheme: name.toLowerCase(), params: {} };
    out.push(current);
  }
  return out;
}

/** The quoted-string opening at `start`, unescaped, and the offset after its closing quote. */
function quotedString(text: string, start: number): { value: string; end: number } {
  let i = start + 1;
  let value = "";
  while (i < text.length && text[i] !== '"') {
    if (text[i] === "\\" && i + 1 < text.length) i++;
    value += text[i];
    i++;
  }
  return { value, end: i + 1 };
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * Bearer tokens keyed by realm, service and scope. Concurrent requests for the same key share one
 * fetch, so a burst of HEADs on one repository costs a single token request.
 */
export class TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inflight = new Map<string, Promise<string>>();

  constructor(private readonly now: () => number = Date.now) {}

  static key(realm: string, service: string | undefined, scopes: readonly string[]): string {
    return JSON.stringify([realm, service ?? "", [...scopes].sort()]);
  }

  /** A cached token still valid for at least `marginMs`, or undefined. */
  peek(key: string, marginMs = 5_000): string | undefined {
    const hit = this.#tokens.get(key);
    if (!hit) return undefined;
    if (hit.expiresAt - marginMs <= this.now()) {
      this.#tokens.delete(key);
      return undefined;
    }
    return hit.token;
  }

  /** The cached token, or the result of `fetch` (shared by concurrent callers), cached. */
  async get(
    key: string,
    fetch: () => Promise<{ token: string; expiresInSeconds: number }>,
  ): Promise<string> {
    const hit = this.peek(key);
    if (hit !== undefined) return hit;
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = fetch()
        .then(({ token, expiresInSeconds }) => {
          this.#tokens.set(key, { token, expiresAt: this.now() + expiresInSeconds * 1000 });
          return token;
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, pending);
    }
    return pending;
  }

  /** Forgets a token the registry refused (revoked, or issued for other credentials). */
  drop(key: string): void {
    this.#tokens.delete(key);
  }

  /** Every cached token (for redaction of error messages). */
  tokens(): string[] {
    return [...this.#tokens.values()].map(t => t.token);
  }
}
