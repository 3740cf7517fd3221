// Typed errors of the OCI client. Every message names what was asked (operation, registry,
// repository, reference) and why, and never carries credentials: the client builds messages from
// its own parts (no URL with userinfo, no header values) and passes them through redactText with
// the credentials it knows, in case a server echoes one back.

export type OciErrorKind =
  /** Credentials missing or rejected (HTTP 401, token endpoint refusal). */
  | "auth"
  /** Authenticated but not allowed (HTTP 403). */
  | "denied"
  /** Manifest, blob, repository or upload unknown (HTTP 404). */
  | "not-found"
  /** TLS handshake failed: unknown CA, wrong host name, expired, or not TLS at all. */
  | "tls"
  /** No answer in time (connect, headers or body) or the caller's deadline passed. */
  | "timeout"
  /** Connection refused/reset, host unknown, network unreachable. */
  | "network"
  /** The registry answered something the protocol does not allow (status, body, digest). */
  | "protocol"
  /** The caller passed something invalid (reference, digest, option). */
  | "invalid";

export interface OciErrorTarget {
  /** `host[:port]` */
  registry: string;
  repository?: string;
  /** Tag or digest. */
  reference?: string;
}

/** What the registry's answer and the message's parts add to an OciError. */
export interface OciErrorDetails {
  /** HTTP status when the registry answered. */
  status?: number;
  /** First registry error code of the body (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, …). */
  code?: string;
  /** The message without its `<operation> <target>: ` prefix; default the whole message. */
  reason?: string;
}

export class OciError extends Error {
  readonly kind: OciErrorKind;
  readonly target: OciErrorTarget;
  /** HTTP status when the registry answered. */
  readonly status?: number;
  /** First registry error code of the body (`MANIFEST_UNKNOWN`, `UNAUTHORIZED`, …). */
  readonly code?: string;
  /** The message without its `<operation> <target>: ` prefix (for lists that show the target). */
  readonly reason: string;
  override name = "OciError";
  constructor(
    kind: OciErrorKind,
    message: string,
    target: OciErrorTarget,
    details: OciErrorDetails = {},
  ) {
    super(message);
    this.kind = kind;
    this.target = target;
    this.status = details.status;
    this.code = details.code;
    this.reason = details.reason ?? message;
  }
}

/** `registry/repository:tag`, `registry/repository@digest`, `registry/repository` or `registry`. */
export function describeTarget(target: OciErrorTarget): string {
  const repo = target.repository ? `${target.registry}/${target.repository}` : target.registry;
  if (!target.reference) return repo;
  return target.reference.includes(":")
    ? `${repo}@${target.reference}`
    : `${repo}:${target.reference}`;
}
