/**
 * Runs tasks in-process against the in-process chain. Tasks connect with `hre.network.getOrCreate()`, and so do
 * these helpers: both get the one cached connection to the default network, so a contract deployed here is the
 * one the task sees, and `loadFixture` snapshots cover what the tasks did.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { stripVTControlCharacters } from "node:util";

import hre, { network } from "hardhat";
import type { Result } from "hardhat/types/utils";

import { sha256Hex } from "../../lib/composeHash.js";
import type { UserError } from "../../lib/errors.js";

export const connection = await network.getOrCreate();
export const { ethers, networkHelpers } = connection;

export const NOTICE = 7n * 24n * 3600n;
export const INITIAL_URI = "https://example.org/releases/v1/app-compose.json";
export const DEVICE_A = `0x${"a1".repeat(32)}`;
export const DEVICE_B = `0x${"b2".repeat(32)}`;

/** The compose file of release v1, written canonically (so its bytes hash equals the SDK hash). */
export const COMPOSE_V1 = JSON.stringify({
  docker_compose_file: "services: {}",
  name: "demo",
  runner: "docker-compose",
});
export const HASH_V1 = sha256Hex(new TextEncoder().encode(COMPOSE_V1));
export const HASH_V2 = `0x${"22".repeat(32)}`;
/**
 * A compose URI that nothing serves (the connection is refused at once, without leaving the machine): propose-hash
 * warns that it could not check it, and proposes. Tests that are not about the URI check use it, so that no test
 * depends on a network.
 */
export const UNSERVED_URI = "http://127.0.0.1:1/releases/v2/app-compose.json";

/** A TimelockedAppAuth with release v1, device A, a 7-day notice and an up-to-date TCB required. */
export async function deployApp() {
  const [owner, stranger] = await ethers.getSigners();
  if (owner === undefined || stranger === undefined) throw new Error("the test network needs two accounts");
  const appAuth = await ethers.deployContract("TimelockedAppAuth", [
    owner.address,
    NOTICE,
    HASH_V1,
    INITIAL_URI,
    [DEVICE_A],
    false,
    true,
  ]);
  return { appAuth, app: await appAuth.getAddress(), owner, stranger };
}

export interface TaskRun<Value> {
  result: Result<Value, UserError>;
  stdout: string;
  stderr: string;
  /** The error's message when the task failed; "" when it succeeded. */
  errorMessage: string;
}

/** Runs `fn` and captures what it prints through the console (colours stripped). */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<{ value: T; stdout: string; stderr: string }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const saved = { log: console.log, warn: console.warn, error: console.error };
  const capture =
    (into: string[]) =>
    (...parts: unknown[]) =>
      into.push(parts.map(String).join(" "));
  console.log = capture(stdout);
  console.warn = capture(stderr);
  console.error = capture(stderr);
  let value: T;
  try {
    value = await fn();
  } finally {
    Object.assign(console, saved);
  }
  return {
    value,
    stdout: stripVTControlCharacters(stdout.join("\n")),
    stderr: stripVTControlCharacters(stderr.join("\n")),
  };
}

/** Runs a task and captures what it prints (colours stripped). */
export async function runTask<Value = unknown>(name: string, args: Record<string, unknown>): Promise<TaskRun<Value>> {
  const {
    value: result,
    stdout,
    stderr,
  } = await captureOutput(async () => (await hre.tasks.getTask(name).run(args)) as Result<Value, UserError>);
  return { result, stdout, stderr, errorMessage: result.success ? "" : result.error.message };
}

/** Runs a task that must succeed; shows its output when it does not. */
export async function runTaskOk<Value = unknown>(
  name: string,
  args: Record<string, unknown>,
): Promise<TaskRun<Value> & { value: Value }> {
  const run = await runTask<Value>(name, args);
  if (!run.result.success) throw new Error(`${name} failed: ${run.errorMessage}\n${run.stdout}\n${run.stderr}`);
  return { ...run, value: run.result.value };
}

/** One temporary directory for this test process, removed when it exits, so test runs leave nothing in /tmp. */
const TEMP_ROOT = mkdtempSync(path.join(tmpdir(), "devproof-tasks-"));
process.on("exit", () => rmSync(TEMP_ROOT, { recursive: true, force: true }));

/** Writes a file in a fresh temporary directory and returns its path. */
export async function writeTempFile(name: string, contents: string | Uint8Array): Promise<string> {
  const dir = await mkdtemp(path.join(TEMP_ROOT, "file-"));
  const file = path.join(dir, name);
  await writeFile(file, contents);
  return file;
}

/** The latest block's timestamp. */
export async function latestTimestamp(): Promise<bigint> {
  return BigInt(await networkHelpers.time.latest());
}
