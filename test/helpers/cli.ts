/**
 * Runs the real `hardhat` CLI of this project in a subprocess, the way a user or a service runs it: no terminal
 * (stdin is /dev/null), an environment made only of what the test passes (plus PATH and HOME), the user's own
 * keystore and `.env` out of reach.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";

const CLI = path.resolve("node_modules/hardhat/dist/src/cli.js");

export interface CliRun {
  /** The exit code; null when the process was killed. */
  code: number | null;
  /** The signal that killed it (the guard timeout), or null. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The non-empty lines of stderr. */
  errorLines: string[];
}

export interface CliOptions {
  /** The variables the run sees, besides PATH, HOME and an empty Hardhat config directory. */
  env?: Record<string, string>;
  /** XDG_CONFIG_HOME: where Hardhat looks for its keystore; default, an empty directory. */
  configHome?: string;
  /** Kills the run after this long: a guard against a hang, not an assertion. Default 180 s. */
  killAfterMs?: number;
}

/** A directory for this test process, removed when it exits. */
const TEMP_ROOT = mkdtempSync(path.join(tmpdir(), "devproof-cli-"));
process.on("exit", () => rmSync(TEMP_ROOT, { recursive: true, force: true }));

/** A fresh directory, to use as a Hardhat config directory (XDG_CONFIG_HOME) or anything else. */
export function tempDir(name: string): string {
  return mkdtempSync(path.join(TEMP_ROOT, `${name}-`));
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? tmpdir(),
    XDG_CONFIG_HOME: options.configHome ?? tempDir("config"),
    // hardhat.config.ts loads `.env` from the project: a developer's own would leak keys and URLs into the test.
    DOTENV_CONFIG_PATH: path.join(TEMP_ROOT, "no.env"),
    ...options.env,
  };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env, timeout: options.killAfterMs ?? 180_000, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const failure = error as (Error & { code?: number | string; signal?: NodeJS.Signals | null }) | null;
        const err = stripVTControlCharacters(stderr);
        resolve({
          code: failure === null ? 0 : typeof failure.code === "number" ? failure.code : null,
          signal: failure?.signal ?? null,
          stdout: stripVTControlCharacters(stdout),
          stderr: err,
          errorLines: err.split("\n").filter((line) => line.trim() !== ""),
        });
      },
    ).stdin?.end();
  });
}

export interface HardhatNode {
  url: string;
  stop(): Promise<void>;
}

/** Starts `npx hardhat node` on a free port of 127.0.0.1 and waits until it answers JSON-RPC. */
export async function startHardhatNode(): Promise<HardhatNode> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, "node", "--hostname", "127.0.0.1", "--port", String(port)], {
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

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
