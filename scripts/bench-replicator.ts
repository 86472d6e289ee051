// Measures how fast a member's replicator reacts to a registration: the wall time from the block holding a node's
// NodeRegistered event being mined to the member's onboarding transaction reaching the RPC (eth_sendRawTransaction).
// The member runs its replicator loop as the agent's service does, in this process, against an in-process chain
// served over JSON-RPC; nodes are TEE stand-ins and the quote verification is the stand-in's, so no PCCS round trip is
// included (a real member adds one collateral fetch per registration). Prints a table; asserts nothing.
//
//   npx hardhat run scripts/bench-replicator.ts          (BENCH_RUNS=5 by default)
import { Interface, Transaction } from "ethers";

import { REGISTRY_AGENT_ABI, registerArguments } from "../lib/replication/index.js";
import { cleanUp, sleep, waitFor } from "../test/helpers/guestAgent.js";
import { COMPOSE_A, testNode } from "../test/helpers/replication.js";
import { ReplicationWorld, ReplicatorNode } from "../test/helpers/replicator.js";
import { bootStandIn, loadTdxFixture, signBooted } from "../test/helpers/tee-stand-in.js";

interface Setting {
  pollIntervalMs: number;
  confirmations: number;
  /** Interval mining (ms); undefined: a block per transaction (automine), only with 0 confirmations. */
  blockTimeMs: number | undefined;
}

const SETTINGS: Setting[] = [
  { pollIntervalMs: 100, confirmations: 0, blockTimeMs: undefined },
  { pollIntervalMs: 500, confirmations: 0, blockTimeMs: 500 },
  { pollIntervalMs: 500, confirmations: 2, blockTimeMs: 500 },
  { pollIntervalMs: 2_000, confirmations: 1, blockTimeMs: 2_000 },
];
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);
const { quote: TEMPLATE } = await loadTdxFixture();
const registryInterface = new Interface(REGISTRY_AGENT_ABI);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function measure(setting: Setting): Promise<number[]> {
  const world = await ReplicationWorld.create();
  const { registry, owner, relayer, domain, appId } = world.deployed;
  const provider = world.connection.provider;
  // When the member's onboarding of each node reaches the RPC.
  const sentAt = new Map<string, number>();
  world.rpc.onRequest = (request) => {
    if (request.method !== "eth_sendRawTransaction") return;
    const data = Transaction.from(String(request.params?.[0])).data;
    const call = registryInterface.parseTransaction({ data });
    if (call?.name === "onboard" && !sentAt.has(String(call.args[0]))) sentAt.set(String(call.args[0]), Date.now());
  };
  const member = await ReplicatorNode.start(world, {
    name: "member",
    mode: "submitter",
    cvm: { composeHash: COMPOSE_A },
    confirmations: setting.confirmations,
    pollIntervalMs: setting.pollIntervalMs,
  });
  const agent = member.run();
  const reactions: number[] = [];
  try {
    if (setting.blockTimeMs !== undefined) {
      // Blocks every blockTimeMs and no other, as on a chain with that block time.
      await provider.request({ method: "evm_setAutomine", params: [false] });
      await provider.request({ method: "evm_setIntervalMining", params: [setting.blockTimeMs] });
    }
    await waitFor("the member registered", () => member.replicator.status()["nodeStatus"] === "Registered", 30_000);
    await (await registry.connect(owner).setGenesis(member.address)).wait();
    await waitFor("the member's secret", () => member.events("secret").length > 0, 30_000);

    for (let run = 0; run < RUNS; run++) {
      // Registrations come at random moments, not in step with the member's passes or the blocks.
      await sleep(Math.random() * (setting.pollIntervalMs + (setting.blockTimeMs ?? 0)));
      const node = testNode(`bench ${setting.pollIntervalMs} ${setting.confirmations} ${run}`);
      const booted = bootStandIn(TEMPLATE, node, appId, { composeHash: COMPOSE_A });
      const signed = await signBooted(booted, domain);
      const tx = await registry.connect(relayer).register(...registerArguments(signed));
      // The moment the registration's block exists, seen by polling every 5 ms (automine: already there).
      const minedAt = await waitFor(
        "the registration's block",
        async () =>
          (await provider.request({ method: "eth_getTransactionReceipt", params: [tx.hash] })) === null
            ? undefined
            : Date.now(),
        30_000,
      );
      const sent = await waitFor("the member's onboarding", () => sentAt.get(node.address), 60_000);
      reactions.push(sent - minedAt);
    }
  } finally {
    await agent.stop();
    await provider.request({ method: "evm_setIntervalMining", params: [0] });
    await provider.request({ method: "evm_setAutomine", params: [true] });
    await member.close();
    await world.close();
  }
  return reactions;
}

const rows: string[][] = [];
try {
  for (const setting of SETTINGS) {
    const reactions = await measure(setting);
    rows.push([
      `${setting.pollIntervalMs} ms`,
      String(setting.confirmations),
      setting.blockTimeMs === undefined ? "automine" : `${setting.blockTimeMs} ms`,
      String(reactions.length),
      `${Math.round(median(reactions))}`,
      `${Math.max(...reactions)}`,
      reactions.join(", "),
    ]);
    console.error(
      `measured poll ${setting.pollIntervalMs} ms, ${setting.confirmations} confirmations: ${reactions.join(", ")} ms`,
    );
  }
} finally {
  await cleanUp();
}

const header = ["poll interval", "confirmations", "block time", "runs", "median ms", "max ms", "each run (ms)"];
const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
console.log(
  "\nReplicator reaction time: NodeRegistered block mined -> the member's onboarding transaction at the RPC\n",
);
console.log(line(header));
console.log(`|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`);
for (const row of rows) console.log(line(row));
