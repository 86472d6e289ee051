/**
 * Wall time of the test suite's two runners, as `npm test` runs them: `hardhat test solidity` (unit, fuzz and
 * invariant tests) and `hardhat test mocha` (without coverage instrumentation). The build is done first and not
 * timed, as `npm test`'s type-check step does it before the tests.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

export interface SuitePart {
  command: string;
  seconds: number;
  passed: boolean;
}

export interface SuiteResult {
  parts: SuitePart[];
  seconds: number;
  passed: boolean;
}

const require = createRequire(import.meta.url);

function hardhatCli(): string {
  const pkgPath = require.resolve("hardhat/package.json");
  const { bin } = require(pkgPath) as { bin: Record<string, string> };
  return path.join(path.dirname(pkgPath), bin["hardhat"] ?? "dist/src/cli.js");
}

/** Runs `hardhat <args>` in `root`; the output is kept and shown only when it fails. */
function runHardhat(root: string, args: string[]): Promise<{ seconds: number; passed: boolean; output: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [hardhatCli(), ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ seconds: (performance.now() - started) / 1000, passed: code === 0, output }));
  });
}

export async function benchTestSuite(root: string, log: (line: string) => void): Promise<SuiteResult> {
  const build = await runHardhat(root, ["build", "--quiet"]);
  if (!build.passed) throw new Error(`hardhat build failed:\n${build.output}`);
  const parts: SuitePart[] = [];
  for (const args of [
    ["test", "solidity"],
    ["test", "mocha"],
  ]) {
    const command = `hardhat ${args.join(" ")}`;
    log(`  running ${command} ...`);
    const result = await runHardhat(root, args);
    if (!result.passed) log(result.output.split("\n").slice(-40).join("\n"));
    parts.push({ command, seconds: result.seconds, passed: result.passed });
  }
  return {
    parts,
    seconds: parts.reduce((sum, part) => sum + part.seconds, 0),
    passed: parts.every((part) => part.passed),
  };
}
