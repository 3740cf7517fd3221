// Error classification for the registry client: what a failed request means (an OciErrorKind
// and a reason), from the HTTP status and the registry's error body, or from Node's and
// undici's error codes when nothing came back.
import type { OciErrorKind } from "./errors";
import type { HttpResponse } from "./http";

const MAX_ERROR_BODY = 16 * 1024;

export interface Failure {
  kind: OciErrorKind;
  why: string;
}

/** An unexpected HTTP status; `credentials`: whether the client has any to send. */
export function statusFailure(status: number, credentials: boolean): Failure {
  if (status === 401) {
    return {
      kind: "auth",
      why: credentials ? "authentication failed: credentials rejected" : "authentication required",
    };
  }
  if (status === 403) return { kind: "denied", why: "access denied" };
  if (status === 404) return { kind: "not-found", why: "not found" };
  if (status === 408 || status === 504) return { kind: "timeout", why: "request timeout" };
  return { kind: "protocol", why: "unexpected answer" };
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function readLimited(res: HttpResponse): Promise<string> {
  let text = "";
  try {
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString("utf8");
      if (text.length > MAX_ERROR_BODY) {
        res.body.destroy();
        break;
      }
    }
  } catch {
    // the status is what matters
  }
  return text;
}

/** The first `{errors: [{code, message}]}` entry of an error body (registries' error format). */
export async function registryError(res: HttpResponse): Promise<{ code?: string; text?: string }> {
  const text = await readLimited(res);
  try {
    const doc = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = doc.errors?.[0];
    if (first) {
      return {
        ...(typeof first.code === "string" ? { code: first.code } : {}),
        ...(typeof first.message === "string" ? { text: first.message } : {}),
      };
    }
  } catch {
    // not the registry error format
  }
  const plain = text.trim().slice(0, 200);
  return plain && !plain.startsWith("<") ? { text: plain } : {};
}

export async function errorDetail(res: HttpResponse): Promise<string> {
  const { code, text } = await registryError(res);
  return code || text ? `: ${[code, text].filter(Boolean).join(" ")}` : "";
}

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "EPROTO",
]);
const TIMEOUT_CODES = new Set([
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ETIMEDOUT",
]);
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);

type ErrorLike = { code?: unknown; name?: unknown; message?: unknown };

/** What went wrong below HTTP, from Node's and undici's error codes (the cause chain too). */
export function classify(err: unknown): Failure {
  const chain: ErrorLike[] = [];
  for (let e: unknown = err, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    chain.push(e as ErrorLike);
    e = (e as { cause?: unknown }).cause;
  }
  for (const e of chain) {
    const known = classifyOne(e);
    if (known) return known;
  }
  const first = chain[0];
  const message = first && typeof first.message === "string" ? first.message : String(err);
  return { kind: "network", why: message };
}

function classifyOne(e: ErrorLike): Failure | undefined {
  const code = typeof e.code === "string" ? e.code : "";
  const message = typeof e.message === "string" ? e.message : "";
  // undici reports a refused CONNECT as an abort; it is the proxy's answer, not a deadline
  const tunnel = /^Proxy response \((\d+)\) !== 200/.exec(message);
  if (tunnel) {
    return {
      kind: "network",
      why: `the proxy refused the tunnel (CONNECT answered HTTP ${tunnel[1]})`,
    };
  }
  if (e.name === "AbortError" || e.name === "TimeoutError" || code === "UND_ERR_ABORTED") {
    return { kind: "timeout", why: "request timeout (deadline passed)" };
  }
  if (TIMEOUT_CODES.has(code)) return { kind: "timeout", why: `request timeout (${code})` };
  if (TLS_CODES.has(code) || code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS")) {
    return { kind: "tls", why: `TLS: ${message || code} (${code})` };
  }
  if (NETWORK_CODES.has(code)) return { kind: "network", why: `${message || code} (${code})` };
  return undefined;
}
