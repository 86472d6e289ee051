// Fails unless every line of the product's contracts was run by the tests: the contract rules are the product.
// Reads the lcov report written by `hardhat test --coverage`.
import { readFile } from "node:fs/promises";

const REQUIRED_FULL_LINE_COVERAGE = ["contracts/TimelockedAppAuth.sol", "contracts/ReplicationRegistry.sol"];

const lcov = await readFile("coverage/lcov.info", "utf8");
const uncovered = new Map<string, number[]>();
let file = "";
for (const line of lcov.split("\n")) {
  if (line.startsWith("SF:")) file = line.slice(3);
  const hit = /^DA:(\d+),(\d+)/.exec(line);
  if (hit !== null && hit[2] === "0") {
    uncovered.set(file, [...(uncovered.get(file) ?? []), Number(hit[1])]);
  }
}

let failed = false;
for (const contract of REQUIRED_FULL_LINE_COVERAGE) {
  if (!lcov.includes(`SF:${contract}\n`)) {
    console.error(`coverage: ${contract} is missing from coverage/lcov.info`);
    failed = true;
  } else if (uncovered.has(contract)) {
    console.error(`coverage: ${contract} has uncovered lines ${uncovered.get(contract)?.join(", ")}`);
    failed = true;
  } else {
    console.log(`coverage: ${contract} 100% of lines`);
  }
}
if (failed) process.exitCode = 1;
