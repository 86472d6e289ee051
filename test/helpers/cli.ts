/**
 * Runs this project's real `hardhat` CLI in a subprocess, the way a user's shell or a service runs it: no terminal
 * (stdin is /dev/null), an environment made only of what the test passes plus PATH (this Node first), HOME and TMPDIR,
 * and the user's own keystore and `.env` out of reach. So none of `hardhat test`'s own variables (HARDHAT_CONFIG,
 * HARDHAT_COVERAGE) nor a CI server's (with CI set, Hardhat prints every error's stack trace) reach the child. A kill
 * after `killAfterMs` is a hang detector, not a timing assertion: the limit is far above any normal run.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";

import hre from "hardhat";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = path.join(REPO_ROOT, "node_modules/hardhat/dist/src/cli.js");

export interface CliRun {
  /** The exit code; null when the process was killed. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Colours stripped. */
  stdout: string;
  stderr: string;
  /** The non-empty lines of stderr. */
  errorLines: string[];
  /** True when the process did not end by itself within the limit and was killed. */
  hung: boolean;
}

export interface CliOptions {
  /** The variables the run sees besides PATH, HOME, TMPDIR and an empty Hardhat config directory; an undefined value
   * removes one of those. */
  env?: Record<string, string | undefined>;
  /** XDG_CONFIG_HOME: where Hardhat looks for its keystore; default, an empty directory. */
  configHome?: string;
  /** Kill the process (and say it hung) after this long; default 180 s. */
  killAfterMs?: number;
  cwd?: string;
}

/** A directory for this test process, removed when it exits. */
const TEMP_ROOT = mkdtempSync(path.join(tmpdir(), "devproof-cli-"));
process.on("exit", () => rmSync(TEMP_ROOT, { recursive: true, force: true }));

/** A fresh directory, to use as a Hardhat config directory (XDG_CONFIG_HOME) or anything else. */
export function tempDir(name: string): string {
  return mkdtempSync(path.join(TEMP_ROOT, `${name}-`));
}

/** The environment of a user's shell, as {@link runHardhat} gives it (see there). */
export function cliEnvironment(options: Pick<CliOptions, "env" | "configHome"> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.dirname(process.execPath)}:${process.env["PATH"] ?? "/usr/bin:/bin"}`,
    HOME: process.env["HOME"] ?? tmpdir(),
    TMPDIR: process.env["TMPDIR"] ?? tmpdir(),
    XDG_CONFIG_HOME: options.configHome ?? tempDir("config"),
    // hardhat.config.ts loads `.env` from the project: a developer's own would leak keys and URLs into the test.
    DOTENV_CONFIG_PATH: path.join(TEMP_ROOT, "no.env"),
    NO_COLOR: "1",
  };
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** `npx hardhat <args…>`: what it printed, its exit code, and whether it had to be killed. */
export function runHardhat(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return runProcess(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: cliEnvironment(options),
    killAfterMs: options.killAfterMs,
  });
}

export interface ProcessOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Kill the process (and say it hung) after this long; default 180 s. */
  killAfterMs?: number | undefined;
  /** Sees stdout as it grows, and may answer on stdin (which is then a pipe, else /dev/null). */
  onStdout?: (stdoutSoFar: string, stdin: NodeJS.WritableStream) => void;
}

/** Runs a program to its end, collecting what it printed (colours stripped). */
export function runProcess(command: string, args: string[], options: ProcessOptions): Promise<CliRun> {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: [options.onStdout === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    if (options.onStdout !== undefined && child.stdin !== null) options.onStdout(stdout, child.stdin);
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  let hung = false;
  const killer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, options.killAfterMs ?? 180_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      const err = stripVTControlCharacters(stderr);
      resolve({
        code,
        signal,
        stdout: stripVTControlCharacters(stdout),
        stderr: err,
        errorLines: err.split("\n").filter((line) => line.trim() !== ""),
        hung,
      });
    });
  });
}

export interface HardhatNode {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts `npx hardhat node` on a free port of 127.0.0.1 and waits until it answers JSON-RPC. Under `--coverage` the
 * contracts the test deploys to it are instrumented and may be over the code size limit: the node then allows them
 * (hardhat.config.ts).
 */
export async function startHardhatNode(): Promise<HardhatNode> {
  const port = await freePort();
  const instrumented = hre.globalOptions.coverage ? { DEVPROOF_NODE_INSTRUMENTED_CONTRACTS: "1" } : {};
  const child = spawn(process.execPath, [CLI, "node", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: REPO_ROOT,
    env: cliEnvironment({ env: instrumented }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 300 && child.exitCode === null; attempt++) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (response.ok) return { url, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stop();
  throw new Error(`hardhat node did not start on ${url}:\n${output}`);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
