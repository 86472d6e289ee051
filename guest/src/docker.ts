/**
 * `docker compose`, run with execFile and an argument array (never a shell string), with a timeout after which the
 * process is killed: SIGTERM first, SIGKILL if it is still there 5 seconds later.
 */
import { execFile } from "node:child_process";

/** A program that failed, timed out or could not start; the message says which, with the end of its stderr. */
export class CommandError extends Error {
  override name = "CommandError";

  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  durationMs: number;
}

const KILL_GRACE_MS = 5_000;

/** Runs `file` with `args`; rejects with a {@link CommandError} unless it exits 0 within `timeoutMs`. */
export function runCommand(file: string, args: readonly string[], timeoutMs: number): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const child = execFile(file, args, { maxBuffer: 16 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      const durationMs = Date.now() - started;
      const shown = [file, ...args].join(" ");
      if (timedOut) {
        reject(new CommandError(`${shown} did not finish within ${timeoutMs} ms and was killed`, true));
      } else if (error !== null) {
        const code = (error as NodeJS.ErrnoException).code;
        const why =
          typeof code === "string"
            ? `could not start (${code})`
            : error.signal != null
              ? `was killed by ${error.signal}`
              : `exited with status ${String(error.code)}`;
        reject(new CommandError(`${shown} ${why}${tail(stderr)}`, false));
      } else {
        resolve({ stdout, stderr, durationMs });
      }
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      killTimer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
    }, timeoutMs);
  });
}

function tail(stderr: string): string {
  const text = stderr.trim();
  if (text === "") return "";
  return `: ${text.length > 2_000 ? `…${text.slice(-2_000)}` : text}`;
}

export interface ComposeOptions {
  docker: string;
  project: string;
  projectDir: string;
  timeoutMs: number;
}

/** The compose commands the agent runs, for one project. */
export class Compose {
  constructor(private readonly options: ComposeOptions) {}

  /** The arguments of `up`, exported so tests and docs state exactly what runs. */
  upArgs(composeFile: string): string[] {
    const { project, projectDir } = this.options;
    return [
      "compose",
      "-p",
      project,
      "--project-directory",
      projectDir,
      "-f",
      composeFile,
      "up",
      "-d",
      "--remove-orphans",
    ];
  }

  downArgs(): string[] {
    return ["compose", "-p", this.options.project, "down"];
  }

  up(composeFile: string): Promise<CommandResult> {
    return runCommand(this.options.docker, this.upArgs(composeFile), this.options.timeoutMs);
  }

  down(): Promise<CommandResult> {
    return runCommand(this.options.docker, this.downArgs(), this.options.timeoutMs);
  }

  version(): Promise<CommandResult> {
    return runCommand(this.options.docker, ["compose", "version"], this.options.timeoutMs);
  }
}
