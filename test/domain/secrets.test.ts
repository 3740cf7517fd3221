// Random secrets: the HTTP secret (docs/architecture.md#pki) and the password alphabet
// (docs/architecture.md#users).
import { describe, expect, it } from "vitest";
import {
  cryptoRandom,
  ensureSecrets,
  HTTP_SECRET_LENGTH,
  randomString,
  SECRET_ALPHABET,
  type RandomSource,
} from "../../lib/domain/secrets";
import { seededRandom } from "./pki-helpers";

/** Hands out the given bytes, then fails: shows exactly which bytes were consumed. */
function scripted(bytes: number[]): RandomSource {
  const queue = [...bytes];
  return size => {
    if (queue.length === 0) throw new Error("scripted random source exhausted");
    return new Uint8Array(queue.splice(0, size));
  };
}

describe("randomString", () => {
  it("maps bytes onto [a-zA-Z0-9] and draws again for bytes ≥ 248 (no modulo bias)", () => {
    expect(SECRET_ALPHABET).toHaveLength(62);
    // 255 and 248 are skipped; 62 wraps to "a"; 247 = 3·62 + 61 ⇒ "9"
    expect(randomString(5, scripted([0, 255, 61, 248, 62, 25, 247]))).toBe("a9az9");
    expect(randomString(3, scripted([26, 52, 251, 51]))).toBe("A0Z");
  });

  it("every character is about equally likely", () => {
    const text = randomString(62_000, cryptoRandom);
    const counts = new Map<string, number>();
    for (const ch of text) counts.set(ch, (counts.get(ch) ?? 0) + 1);
    expect(counts.size).toBe(62);
    for (const [ch, n] of counts) {
      expect(SECRET_ALPHABET).toContain(ch);
      // expected 1000 each; a biased `% 62` mapping would put the first 8 near 1125
      expect(n).toBeGreaterThan(850);
      expect(n).toBeLessThan(1150);
    }
  });

  it("refuses a negative or fractional length", () => {
    expect(() => randomString(-1, cryptoRandom)).toThrow(/non-negative integer/);
    expect(() => randomString(1.5, cryptoRandom)).toThrow(/non-negative integer/);
    expect(randomString(0, cryptoRandom)).toBe("");
  });
});

describe("ensureSecrets (state.secrets)", () => {
  it("generates a 25-character HTTP secret when absent or blank", () => {
    for (const previous of [undefined, {}, { http: "" }, { http: "  \t" }]) {
      const { secrets, generated } = ensureSecrets(previous, seededRandom("http"));
      expect(generated).toBe(true);
      expect(secrets.http).toMatch(/^[a-zA-Z0-9]{25}$/);
      expect(HTTP_SECRET_LENGTH).toBe(25);
    }
  });

  it("keeps a non-blank one as it is, drawing no randomness", () => {
    const previous = { http: "kept-as-is" };
    const result = ensureSecrets(previous, scripted([]));
    expect(result).toEqual({ secrets: { http: "kept-as-is" }, generated: false });
  });

  it("is reproducible with the same random source", () => {
    expect(ensureSecrets({}, seededRandom("s")).secrets.http).toBe(
      ensureSecrets({}, seededRandom("s")).secrets.http,
    );
  });
});
