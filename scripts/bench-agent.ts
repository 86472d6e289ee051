// Measures how fast the guest agent reacts to a release: the wall time from the block that activates it being mined
// to the agent's `docker compose up` with its compose file (recorded by the fake docker). The agent runs as a separate
// process (the shipped bundle) against an in-process chain served over JSON-RPC, as in the tests. Prints a table;
// asserts nothing: the numbers depend on the machine.
//
//   npx hardhat run scripts/bench-agent.ts          (BENCH_RUNS=5 by default)
import { pathToFileURL } from "node:url";

import { DstackGuestApiStandIn } from "../test/helpers/dstack-guest-api.js";
import {
  AgentChain,
  AgentProcess,
  cleanUp,
  EXAMPLE_V1,
  FakeDocker,
  makeRelease,
  releaseFromFile,
  sleep,
  tempDir,
  waitFor,
} from "../test/helpers/guestAgent.js";

interface Setting {
  pollInterval: string;
  confirmations: number;
  /**
   * Interval mining (ms), as on a chain with that block time; undefined: a block per transaction (automine), which
   * makes no block by itself, so only with 0 confirmations.
   */
  blockTimeMs: number | undefined;
}

const SETTINGS: Setting[] = [
  { pollInterval: "100ms", confirmations: 0, blockTimeMs: undefined },
  { pollInterval: "500ms", confirmations: 0, blockTimeMs: 500 },
  { pollInterval: "500ms", confirmations: 2, blockTimeMs: 500 },
  { pollInterval: "2s", confirmations: 1, blockTimeMs: 2_000 },
];
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function measure(setting: Setting, dstack: DstackGuestApiStandIn): Promise<number[]> {
  const v1 = await releaseFromFile("v1", EXAMPLE_V1);
  const chain = await AgentChain.create({ hash: v1.hash, uri: v1.fileUri });
  const provider = chain.connection.provider;
  const docker = await FakeDocker.create();
  const agent = await AgentProcess.start({
    rpcUrls: chain.urls,
    appAuth: chain.address,
    stateDir: await tempDir("bench-state"),
    docker,
    dstackSocket: dstack.endpoint,
    confirmations: setting.confirmations,
    pollInterval: setting.pollInterval,
    flags: { "log-level": "info" },
  });
  await waitFor(
    "v1 up",
    async () => (await docker.ups()).length >= 1,
    20_000,
    () => agent.tail(),
  );
  if (setting.blockTimeMs !== undefined) {
    await provider.request({ method: "evm_setAutomine", params: [false] });
    await provider.request({ method: "evm_setIntervalMining", params: [setting.blockTimeMs] });
  }
  const reactions: number[] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      const release = await makeRelease(`bench-${run}`);
      await chain.proposeAndWait({ hash: release.hash, uri: pathToFileURL(release.file).href });
      const tx = await chain.appAuth.activateComposeHash(release.hash);
      // The moment the activation's block exists, seen by polling every 5 ms (automine: already there).
      const minedAt = await waitFor(
        "the activation block",
        async () =>
          (await provider.request({ method: "eth_getTransactionReceipt", params: [tx.hash] })) === null
            ? undefined
            : Date.now(),
        30_000,
      );
      const up = await waitFor(
        "the agent's up call",
        async () => (await docker.ups()).find((call) => call.compose === release.dockerCompose),
        60_000,
        () => agent.tail(),
      );
      reactions.push(up.t - minedAt);
      await sleep(50);
    }
  } finally {
    await agent.stop();
    await chain.close();
  }
  return reactions;
}

const dstack = await DstackGuestApiStandIn.start();
const rows: string[][] = [];
try {
  for (const setting of SETTINGS) {
    const reactions = await measure(setting, dstack);
    rows.push([
      setting.pollInterval,
      String(setting.confirmations),
      setting.blockTimeMs === undefined ? "automine" : `${setting.blockTimeMs} ms`,
      String(reactions.length),
      `${Math.round(median(reactions))}`,
      `${Math.max(...reactions)}`,
      reactions.join(", "),
    ]);
    console.error(
      `measured poll ${setting.pollInterval}, ${setting.confirmations} confirmations: ${reactions.join(", ")} ms`,
    );
  }
} finally {
  await dstack.close();
  await cleanUp();
}

const header = ["poll interval", "confirmations", "block time", "runs", "median ms", "max ms", "each run (ms)"];
const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
console.log("\nGuest agent reaction time: activation block mined -> docker compose up with the new compose file\n");
console.log(line(header));
console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
for (const row of rows) console.log(line(row));
