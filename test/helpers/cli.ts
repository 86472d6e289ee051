/**
 * Runs the Hardhat command line in a child process, as a user's shell would: what it prints, its exit code, and
 * whether it had to be killed. A kill is a hang detector, not a timing assertion: the limit is far above any
 * normal run.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const HARDHAT_CLI = path.join(REPO_ROOT, "node_modules/hardhat/dist/src/cli.js");

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process did not end by itself within the limit and was killed. */
  hung: boolean;
}

/**
 * The variables by which Hardhat recognises a CI server, where it prints every error's stack trace. A run here is a
 * user's terminal, so they are removed unless a test sets them.
 */
export const CI_VARIABLES = [
  "CI",
  "CONTINUOUS_INTEGRATION",
  "GITHUB_ACTIONS",
  "BUILD_NUMBER",
  "RUN_ID",
  "NOW",
  "DEPLOYMENT_ID",
  "CODEBUILD_BUILD_NUMBER",
];

export interface CliOptions {
  /** Added to (or, when a value is undefined, removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  /** Kill the process (and say it hung) after this long; default 120 s. */
  killAfterMs?: number;
  cwd?: string;
}

/** `npx hardhat <args…>` with the Node that runs the tests, as a user's terminal (not a CI server) runs it. */
export function runHardhat(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" };
  for (const name of CI_VARIABLES) delete env[name];
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  const child = spawn(process.execPath, [HARDHAT_CLI, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  let hung = false;
  const killer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, options.killAfterMs ?? 120_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, hung });
    });
  });
}
