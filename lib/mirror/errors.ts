// Failures of mirror pull/push, and the one place that turns any failure into the line a user
// reads: what failed, why, and what to do. Messages come from our own parts and OciError (which
// never carries credentials); they pass through redactText with the credentials in use anyway.
import { OciError, type OciErrorKind } from "../oci/errors";
import { redactText } from "../runtime/redact";
import { BundleError, CorruptBlobError } from "./bundle";

export type MirrorErrorKind = "usage" | "not-found" | "network" | "protocol";

export class MirrorError extends Error {
  override name = "MirrorError";
  constructor(
    readonly kind: MirrorErrorKind,
    message: string,
  ) {
    super(message);
  }
}

/** What the failing run was doing, for advice that fits it. */
export interface FailureContext {
  command?: "pull" | "push";
  /** --plain-http was given */
  plainHttp?: boolean;
  /**
   * Blobs had started to move: a registry that refuses connections now was there a moment ago,
   * so the run was interrupted rather than pointed at the wrong place.
   */
  transferStarted?: boolean;
}

const RUN_AGAIN = "run the same command again: it continues where it stopped";

export function describeFailure(
  err: unknown,
  secrets: readonly string[] = [],
  context: FailureContext = {},
): string {
  return redactText(
    describe(err, context),
    secrets.filter(s => s !== ""),
  );
}

/**
 * The system error code the OCI client recorded in its message ("… (ECONNREFUSED)"): the client
 * keeps one error kind for every failure below HTTP, and only the code tells a registry that is
 * not there from a connection that broke.
 */
function systemCode(err: OciError): string | undefined {
  return /\((E[A-Z_]+|ERR_[A-Z_]+)\)\s*$/.exec(err.reason)?.[1];
}

function describe(err: unknown, context: FailureContext): string {
  if (err instanceof MirrorError) return MIRROR_ADVICE[err.kind](err);
  if (err instanceof CorruptBlobError) {
    return `${err.message} — run the same \`registry-module mirror pull\` into this bundle again: it downloads damaged blobs anew, then push again`;
  }
  if (err instanceof BundleError) return err.message;
  if (err instanceof OciError) return OCI_ADVICE[err.kind](err, context);
  return describeSystemError(err);
}

const MIRROR_ADVICE: Readonly<Record<MirrorErrorKind, (err: MirrorError) => string>> = {
  usage: err => err.message,
  "not-found": err => err.message,
  network: err => `${err.message}; ${RUN_AGAIN}`,
  protocol: err => err.message,
};

type OciAdvice = (err: OciError, context: FailureContext) => string;

const OCI_ADVICE: Readonly<Record<OciErrorKind, OciAdvice>> = {
  auth: (err, context) =>
    context.command === "push"
      ? `${err.message} — authentication failed: check the user and password (--creds USER:PASSWORD or MIRROR_CREDS) of a user with write access, e.g. rw`
      : `${err.message} — authentication failed: check the credentials (--creds USER:PASSWORD or MIRROR_CREDS) or the licence key (MIRROR_LICENSE)`,
  denied: err =>
    `${err.message} — the user is not allowed to do this (pushing needs a user with write access, e.g. rw)`,
  "not-found": err => err.message,
  tls: err =>
    /wrong version number|packet length too long|http request/i.test(err.reason)
      ? `${err.message} — ${err.target.registry} answers plain HTTP, not HTTPS: add --plain-http if that is intended`
      : `${err.message} — TLS failed: pass the registry's CA with --ca FILE`,
  timeout: err => `${err.message} — network interrupted; ${RUN_AGAIN}`,
  network: describeNetworkError,
  protocol: (err, context) =>
    // Go's HTTPS server answers a plain HTTP request with a bare 400
    context.plainHttp && err.status === 400 && err.code === undefined
      ? `${err.message} — ${err.target.registry} speaks HTTPS: drop --plain-http`
      : err.message,
  invalid: err => err.message,
};

const refused = (registry: string) =>
  `connection refused: nothing listens at ${registry}; check the host and port, and that the registry is running`;
const unresolved = (registry: string) =>
  `the host name of ${registry} cannot be resolved (DNS): check its spelling and this machine's DNS`;
const noRoute = (registry: string) =>
  `${registry} is unreachable from this machine (no route): check the address and the network`;

/** What a system error code below HTTP says about the registry's address, before any transfer. */
const UNREACHABLE_ADVICE = new Map<string, (registry: string) => string>([
  ["ECONNREFUSED", refused],
  ["ENOTFOUND", unresolved],
  ["EAI_AGAIN", unresolved],
  ["EHOSTUNREACH", noRoute],
  ["ENETUNREACH", noRoute],
]);

function describeNetworkError(err: OciError, context: FailureContext): string {
  const registry = err.target.registry;
  if (context.transferStarted) {
    return `${err.message} — the connection to ${registry} broke off during the transfer; ${RUN_AGAIN}`;
  }
  const code = systemCode(err);
  const advice = code === undefined ? undefined : UNREACHABLE_ADVICE.get(code);
  if (advice) return `${err.message} — ${advice(registry)}`;
  return `${err.message} — network interrupted; ${RUN_AGAIN}`;
}

/** Disk and permission failures of the bundle; anything else shows its own message. */
function describeSystemError(err: unknown): string {
  const errno = err as NodeJS.ErrnoException | undefined;
  if (errno?.code === "ENOSPC") {
    return `disk full writing ${errno.path ?? "the bundle"}: free space and run the same command again (finished blobs are kept)`;
  }
  if (errno?.code === "EACCES" || errno?.code === "EPERM") {
    return `permission denied: ${errno.path ?? errno.message}`;
  }
  if (errno?.code === "EDQUOT") return `disk quota exceeded writing ${errno.path ?? "the bundle"}`;
  return err instanceof Error ? err.message : String(err);
}
