// The one place credentials are removed from anything that leaves a hook as text: log records,
// error messages, metric labels. Keys are matched by name; values by shape (PEM private keys,
// credentials in URLs, Basic/Bearer authorisation values).

const SECRET_KEY =
  /(pass(word|wd)?|secret|token|licen[cs]e|auth|dockerconfigjson|private|_key|\.key|^key|hash)$/i;
const PEM_PRIVATE_KEY =
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g;
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi;
const AUTH_HEADER = /\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}/g;

export const REDACTED = "<redacted>";

/** Replaces credential-shaped substrings of a free text. */
export function redactText(text: string, knownSecrets: Iterable<string> = []): string {
  let out = text
    .replace(PEM_PRIVATE_KEY, REDACTED)
    .replace(URL_CREDENTIALS, `$1${REDACTED}@`)
    .replace(AUTH_HEADER, `$1 ${REDACTED}`);
  for (const secret of knownSecrets) {
    // very short strings would blank out unrelated text; they are not credentials we issue
    if (secret.length >= 4) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** Deep copy of a JSON-like value with secret-named keys and secret-shaped strings redacted. */
export function redactValue(value: unknown, knownSecrets: Iterable<string> = []): unknown {
  const secrets = [...knownSecrets];
  const walk = (v: unknown, key: string | undefined): unknown => {
    if (key !== undefined && SECRET_KEY.test(key) && v !== null && v !== "" && v !== undefined) {
      return REDACTED;
    }
    if (typeof v === "string") return redactText(v, secrets);
    if (Array.isArray(v)) return v.map(item => walk(item, undefined));
    if (v !== null && typeof v === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, k);
      return out;
    }
    return v;
  };
  return walk(value, undefined);
}
