// Error responses in the distribution API's shape (`{"errors":[{code,message,detail}]}`), so
// clients (containerd, skopeo, go-containerregistry) print the same reasons as for a registry.
import type { ServerResponse } from "node:http";

export type ErrorCode =
  | "UNAUTHORIZED"
  | "MANIFEST_UNKNOWN"
  | "BLOB_UNKNOWN"
  | "UNKNOWN"
  | "DENIED"
  | "UNSUPPORTED"
  | "NAME_UNKNOWN"
  | "NAME_INVALID"
  | "TOOMANYREQUESTS"
  | "UNAVAILABLE";

const STATUS: Record<ErrorCode, number> = {
  UNAUTHORIZED: 401,
  MANIFEST_UNKNOWN: 404,
  BLOB_UNKNOWN: 404,
  UNKNOWN: 500,
  DENIED: 403,
  UNSUPPORTED: 405,
  NAME_UNKNOWN: 404,
  NAME_INVALID: 404,
  TOOMANYREQUESTS: 429,
  UNAVAILABLE: 503,
};

/** Messages as distribution's errcode package words them. */
const MESSAGE: Record<ErrorCode, string> = {
  UNAUTHORIZED: "authentication required",
  MANIFEST_UNKNOWN: "manifest unknown",
  BLOB_UNKNOWN: "blob unknown to registry",
  UNKNOWN: "unknown error",
  DENIED: "requested access to the resource is denied",
  UNSUPPORTED: "The operation is unsupported.",
  NAME_UNKNOWN: "repository name not known to registry",
  NAME_INVALID: "invalid repository name",
  TOOMANYREQUESTS: "too many requests",
  UNAVAILABLE: "service unavailable",
};

/** The error document; codes passed on from an upstream keep their own (lower-cased) message. */
export function errorBody(
  code: ErrorCode | (string & {}),
  detail?: unknown,
  ownMessage?: string,
): string {
  const message =
    ownMessage ??
    (MESSAGE as Record<string, string>)[code] ??
    code.toLowerCase().replace(/_/g, " ");
  return JSON.stringify({ errors: [{ code, message, detail: detail ?? null }] });
}

export function sendError(
  res: ServerResponse,
  code: ErrorCode,
  opts: {
    status?: number;
    /** the status line's reason phrase (printable ASCII); default Node's for the status */
    statusMessage?: string;
    /** the error's message instead of errcode's words for the code */
    message?: string;
    headers?: Record<string, string>;
    detail?: unknown;
    head?: boolean;
  } = {},
): void {
  const body = errorBody(code, opts.detail, opts.message);
  const status = opts.status ?? STATUS[code];
  const headers = {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    "docker-distribution-api-version": "registry/2.0",
    ...opts.headers,
  };
  if (opts.statusMessage) res.writeHead(status, opts.statusMessage, headers);
  else res.writeHead(status, headers);
  res.end(opts.head ? undefined : body);
}
