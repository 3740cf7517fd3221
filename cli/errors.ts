// The command-line tool's own failures, kept apart from the commands so that the entry point can
// tell them apart without loading what the commands need.

export class CliError extends Error {
  override name = "CliError";
}

/** Bad usage of a command (exit 2); the message carries the `registry-module <command>:` prefix. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(
    readonly command: string,
    reason: string,
  ) {
    super(`registry-module${command ? ` ${command}` : ""}: ${reason}`);
  }
}
