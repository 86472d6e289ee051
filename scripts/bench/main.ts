/**
 * The benchmark, run by `npm run bench` (scripts/bench.ts) as `hardhat run --build-profile production`. Its options
 * come in BENCH_ARGS (a JSON array of the command-line arguments), because `hardhat run` passes none to a script:
 *   --json        print the figures as one JSON object on the last line, after the tables
 *   --skip-suite  do not run and time the test suite
 * It prints the tables and writes them to BENCHMARKS.md, keeping the hand-written part below its marker.
 */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import hre from "hardhat";

import { benchAgentReaction } from "./agent.js";
import { benchAppAuthGas } from "./gas.js";
import { benchRegistryGas } from "./registry.js";
import { benchSignatureGas } from "./signatures.js";
import { HAND_WRITTEN_MARKER, markdown, summary, type BenchResults, type BuildDescription } from "./report.js";
import { benchTestSuite } from "./suite.js";

const OPTIONS = ["--json", "--skip-suite"] as const;
const args = JSON.parse(process.env.BENCH_ARGS ?? "[]") as string[];
const unknown = args.filter((arg) => !(OPTIONS as readonly string[]).includes(arg));
if (unknown.length > 0) {
  console.error(`bench: unknown argument ${unknown.join(" ")} (known: ${OPTIONS.join(", ")})`);
  process.exit(2);
}
const json = args.includes("--json");
const skipSuite = args.includes("--skip-suite");

// Gas figures are only worth comparing for the bytecode that is deployed: the production build.
const profileName = hre.globalOptions.buildProfile ?? "default";
const profile = hre.config.solidity.profiles[profileName];
const compiler = profile?.compilers[0];
if (profileName !== "production" || compiler === undefined) {
  console.error(`bench: run with --build-profile production (this run uses "${profileName}"); npm run bench does`);
  process.exit(2);
}
const settings = (compiler.settings ?? {}) as { optimizer?: { enabled?: boolean; runs?: number }; evmVersion?: string };
const build: BuildDescription = {
  profile: profileName,
  solc: compiler.version,
  optimizer: settings.optimizer?.enabled === true ? `on (${settings.optimizer.runs ?? 200} runs)` : "off",
  evmVersion: settings.evmVersion ?? "the compiler's default",
};

const root = hre.config.paths.root;
const log = (line: string) => console.log(line);

log(
  "bench: TimelockedAppAuth against the proxied DstackApp (instant, behind a TimelockController), StockAppAuth, the tutorial's timelock and the floor ...",
);
const appAuth = await benchAppAuthGas(hre);
log("bench: ReplicationRegistry at 1, 100 and 1,000 members ...");
const registry = await benchRegistryGas(hre);
log("bench: signed results verified on-chain (DstackSignatureChain, the oracle example's settlement) ...");
const signatures = await benchSignatureGas(hre);
log("bench: guest agent reaction time (separate process, local JSON-RPC chain) ...");
const agent = await benchAgentReaction();
let suite: BenchResults["suite"];
if (skipSuite) {
  suite = { skipped: "the benchmark ran with --skip-suite" };
} else {
  log("bench: timing the test suite ...");
  suite = await benchTestSuite(root, log);
  if (!suite.passed) process.exitCode = 1;
}

const results: BenchResults = { build, appAuth, registry, agent, suite, signatures };
const generated = markdown(results);
const file = path.join(root, "BENCHMARKS.md");
const previous = await readFile(file, "utf8").catch(() => "");
const markerAt = previous.indexOf(HAND_WRITTEN_MARKER);
const handWritten = markerAt >= 0 ? previous.slice(markerAt) : `${HAND_WRITTEN_MARKER}\n`;
await writeFile(file, `${generated}\n${handWritten}`);

log("");
log(generated);
for (const target of summary(results).targets) log(`${target.status}  ${target.name}: ${target.value}`);
log(`bench: wrote ${path.relative(process.cwd(), file) || file}`);
if (json) console.log(JSON.stringify(summary(results)));
