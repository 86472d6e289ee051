// Measures how fast the guest agent reacts to a release under several poll intervals, confirmation counts and block
// times (scripts/bench/agent.ts does the measuring). Prints a table; asserts nothing: the numbers depend on the
// machine.
//
//   npx hardhat run scripts/bench-agent.ts          (BENCH_RUNS=5 by default)
import { DstackGuestApiStandIn } from "../test/helpers/dstack-guest-api.js";
import { cleanUp } from "../test/helpers/guestAgent.js";
import { formatTable } from "../lib/format.js";
import {
  describeReads,
  measureAgentReactions,
  measureViewReads,
  median,
  QUORUM_READS,
  reactionFloorMs,
  SINGLE_READS,
  type AgentReactionSetting,
} from "./bench/agent.js";

const SETTINGS: AgentReactionSetting[] = [
  { pollInterval: "100ms", pollIntervalMs: 100, confirmations: 0, blockTimeMs: undefined },
  { pollInterval: "500ms", pollIntervalMs: 500, confirmations: 0, blockTimeMs: 500 },
  { pollInterval: "500ms", pollIntervalMs: 500, confirmations: 2, blockTimeMs: 500 },
  { pollInterval: "2s", pollIntervalMs: 2_000, confirmations: 1, blockTimeMs: 2_000 },
];
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);

const views = await measureViewReads(20);
const dstack = await DstackGuestApiStandIn.start();
const rows: string[][] = [];
try {
  for (const setting of SETTINGS) {
    for (const reads of [SINGLE_READS, QUORUM_READS]) {
      const reactions = await measureAgentReactions(setting, RUNS, dstack, reads);
      rows.push([
        describeReads(reads),
        setting.pollInterval,
        String(setting.confirmations),
        setting.blockTimeMs === undefined ? "automine" : `${setting.blockTimeMs} ms`,
        String(reactions.length),
        `${Math.round(median(reactions))}`,
        `${Math.max(...reactions)}`,
        `${reactionFloorMs(setting)}`,
        reactions.join(", "),
      ]);
    }
  }
} finally {
  await dstack.close();
  await cleanUp();
}

console.log("\nGuest agent reaction time: activation block mined -> docker compose up with the new compose file\n");
console.log(
  formatTable(
    [
      "reads",
      "poll interval",
      "confirmations",
      "block time",
      "runs",
      "median ms",
      "max ms",
      "floor ms",
      "each run (ms)",
    ],
    rows,
  ),
);
console.log(
  `\nOne view (head, confirmed header, release, allowances), median of ${views.samples}, in process: ` +
    `eth_call reads ${views.ethCallMs} ms; proofs, one endpoint ${views.oneEndpointMs} ms; ` +
    `proofs, quorum 2 of 3 ${views.quorumMs} ms`,
);
