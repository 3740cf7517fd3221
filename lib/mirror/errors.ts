// Failures of mirror pull/push, and the one place that turns any failure into the line a user
// reads: what failed, why, and what to do. Messages come from our own parts and OciError (which
// never carries credentials); they pass through redactText with the credentials in use anyway.
import { OciError } from "../oci/errors";
import { redactText } from "../runtime/redact";
import { BundleError } from "./bundle";

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

export function describeFailure(err: unknown, secrets: readonly string[] = []): string {
  return redactText(
    describe(err),
    secrets.filter(s => s !== ""),
  );
}

function describe(err: unknown): string {
  if (err instanceof MirrorError) {
    switch (err.kind) {
      case "usage":
        return err.message;
      case "not-found":
        return err.message;
      case "network":
        return `${err.message}; run the same command again: it continues where it stopped`;
      case "protocol":
        return err.message;
    }
  }
  if (err instanceof BundleError) return err.message;
  if (err instanceof OciError) {
    switch (err.kind) {
      case "auth":
        return `${err.message} — authentication failed: check --creds user:password (or --license)`;
      case "denied":
        return `${err.message} — the user is not allowed to do this (pushing needs a user with write access, e.g. rw)`;
      case "not-found":
        return err.message;
      case "tls":
        return `${err.message} — TLS failed: pass the registry's CA with --ca FILE`;
      case "timeout":
      case "network":
        return `${err.message} — network interrupted; run the same command again: it continues where it stopped`;
      case "protocol":
      case "invalid":
        return err.message;
    }
  }
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
