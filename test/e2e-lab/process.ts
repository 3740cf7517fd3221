// Process lifecycle for tests that run real peers (docker-registry, containerd, nginx, …).
//
//   const p = spawnProcess("registry", "docker-registry", ["serve", cfg]);
//   await p.waitForLine(/listening on/);    // rejects on exit or timeout, with the last log lines
//   await p.stop();                         // SIGTERM to the process group, SIGKILL after 5 s
//   await stopAll();                        // in afterAll: every process still alive, even those
//                                           // whose start failed half-way
//   await run("skopeo", [...]);             // one-shot command; missing tool → install hint
//   requireTools("docker-registry", "skopeo");
//
// Every child leads its own process group (detached) and, where util-linux `setpriv` exists, gets
// PR_SET_PDEATHSIG=KILL so a SIGKILLed test worker does not leave it behind. A process `exit`
// handler SIGKILLs whatever is left when the worker exits without afterAll.
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";

/** The Debian package that provides each tool the lab runs. */
const PACKAGE_OF: Record<string, string> = {
  "docker-registry": "docker-registry",
  skopeo: "skopeo",
  containerd: "containerd",
  ctr: "containerd",
  htpasswd: "apache2-utils",
  openssl: "openssl",
  nginx: "nginx libnginx-mod-stream",
  jq: "jq",
  shellcheck: "shellcheck",
  tinyproxy: "tinyproxy",
  promtool: "prometheus",
};

export class MissingToolError extends Error {
  override name = "MissingToolError";
}

const found = new Map<string, boolean>();

function onPath(tool: string): boolean {
  let ok = found.get(tool);
  if (ok === undefined) {
    ok = spawnSync("sh", ["-c", `command -v "$1"`, "sh", tool], { stdio: "ignore" }).status === 0;
    found.set(tool, ok);
  }
  return ok;
}

/** Throws a MissingToolError naming the apt package for the first tool not on PATH. */
export function requireTools(...tools: string[]): void {
  for (const tool of tools) {
    if (!onPath(tool)) {
      const pkg = PACKAGE_OF[tool] ?? tool;
      throw new MissingToolError(
        `${tool} is not installed (not on PATH): apt-get install -y ${pkg}`,
      );
    }
  }
}

const live = new Set<LabProcess>();
const closers = new Set<() => Promise<void>>();

/**
 * Stops every process the lab started that is still running and closes every in-process server
 * (token servers, black holes) still open. Use in afterAll; safe to call twice.
 */
export async function stopAll(): Promise<void> {
  const pending = [...closers];
  closers.clear();
  await Promise.allSettled([...[...live].map(p => p.stop()), ...pending.map(close => close())]);
}

/** Registers an in-process server's close function with stopAll(); returns the untracking one. */
export function trackCloser(close: () => Promise<void>): () => void {
  closers.add(close);
  return () => closers.delete(close);
}

/** Processes still running (for leak assertions in tests). */
export function liveProcesses(): readonly LabProcess[] {
  return [...live];
}

process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

const PDEATHSIG = existsSync("/usr/bin/setpriv") ? "/usr/bin/setpriv" : undefined;

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output lines kept in memory (oldest dropped first); default 100 000. */
  maxLines?: number;
}

export class LabProcess {
  readonly child: ChildProcess;
  /** stdout and stderr lines, interleaved in arrival order. */
  readonly lines: string[] = [];
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  #waiters = new Set<() => void>();
  #partial = { out: "", err: "" };
  readonly #maxLines: number;

  constructor(
    readonly name: string,
    command: string,
    args: readonly string[],
    options: SpawnOptions = {},
  ) {
    requireTools(command);
    this.#maxLines = options.maxLines ?? 100_000;
    const [cmd, argv] = PDEATHSIG
      ? [PDEATHSIG, ["--pdeathsig", "KILL", "--", command, ...args]]
      : [command, [...args]];
    this.child = spawn(cmd, argv, {
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
    });
    live.add(this);
    this.exited = new Promise(resolve => {
      this.child.on("exit", code => {
        live.delete(this);
        this.#flush();
        this.#notify();
        resolve(code);
      });
      this.child.on("error", err => {
        this.lines.push(`spawn error: ${err.message}`);
        live.delete(this);
        this.#notify();
        resolve(null);
      });
    });
    this.child.stdout?.on("data", (b: Buffer) => this.#take("out", b));
    this.child.stderr?.on("data", (b: Buffer) => this.#take("err", b));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && live.has(this);
  }

  /**
   * Resolves with the first output line (already seen or still to come) matching `re`; rejects
   * when the process exits first or after `timeoutMs`, with the last output lines in the error.
   */
  waitForLine(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      let scanned = 0;
      const check = (): void => {
        for (; scanned < this.lines.length; scanned++) {
          const m = (this.lines[scanned] as string).match(re);
          if (m) return done(undefined, m);
        }
        if (!this.running) done(new Error(`${this.name} exited before ${re}\n${this.tail()}`));
      };
      const timer = setTimeout(
        () => done(new Error(`${this.name}: no line ${re} within ${timeoutMs} ms\n${this.tail()}`)),
        timeoutMs,
      );
      const done = (err: Error | undefined, m?: RegExpMatchArray): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve(m as RegExpMatchArray);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** The last `n` output lines, for error messages. */
  tail(n = 20): string {
    return this.lines.slice(-n).join("\n");
  }

  kill(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.running) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is already gone
    }
  }

  /** SIGTERM to the whole process group, SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  #take(stream: "out" | "err", chunk: Buffer): void {
    const text = this.#partial[stream] + chunk.toString("utf8");
    const parts = text.split("\n");
    this.#partial[stream] = parts.pop() ?? "";
    for (const line of parts) if (line) this.lines.push(line);
    if (this.lines.length > this.#maxLines)
      this.lines.splice(0, this.lines.length - this.#maxLines);
    this.#notify();
  }

  #flush(): void {
    for (const stream of ["out", "err"] as const) {
      if (this.#partial[stream]) this.lines.push(this.#partial[stream]);
      this.#partial[stream] = "";
    }
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** Starts a long-running process in its own process group, tracked for stopAll(). */
export function spawnProcess(
  name: string,
  command: string,
  args: readonly string[],
  options?: SpawnOptions,
): LabProcess {
  return new LabProcess(name, command, args, options);
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    message: string,
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/**
 * Runs a command to completion. Rejects with a CommandError carrying stdout/stderr on a non-zero
 * exit, and with a MissingToolError (install hint) when the tool is absent.
 */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  requireTools(command);
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      [...args],
      {
        cwd: options.cwd,
        env: { ...process.env, ...options.env },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof err.code === "number" ? err.code : null;
          reject(
            new CommandError(
              `${command} ${hideCredentials(args).join(" ")} failed (exit ${code ?? err.signal ?? "?"}): ${stderr.trim() || err.message}`,
              code,
              stdout,
              stderr,
            ),
          );
        } else resolve({ stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Test credentials are still credentials: keep `--creds user:pass` values out of messages. */
function hideCredentials(args: readonly string[]): string[] {
  return args.map((a, i) =>
    /^--(src-|dest-)?creds$/.test(args[i - 1] ?? "")
      ? "<redacted>"
      : a.replace(/^(--(?:src-|dest-)?creds=).*/, "$1<redacted>"),
  );
}
