// Measures how fast the guest agent reacts to a release under several poll intervals, confirmation counts and block
// times (scripts/bench/agent.ts does the measuring). Prints a table; asserts nothing: the numbers depend on the
// machine.
//
//   npx hardhat run scripts/bench-agent.ts          (BENCH_RUNS=5 by default)
import { DstackGuestApiStandIn } from "../test/helpers/dstack-guest-api.js";
import { cleanUp } from "../test/helpers/guestAgent.js";
import { formatTable } from "../lib/format.js";
import { measureAgentReactions, median, reactionFloorMs, type AgentReactionSetting } from "./bench/agent.js";

const SETTINGS: AgentReactionSetting[] = [
  { pollInterval: "100ms", pollIntervalMs: 100, confirmations: 0, blockTimeMs: undefined },
  { pollInterval: "500ms", pollIntervalMs: 500, confirmations: 0, blockTimeMs: 500 },
  { pollInterval: "500ms", pollIntervalMs: 500, confirmations: 2, blockTimeMs: 500 },
  { pollInterval: "2s", pollIntervalMs: 2_000, confirmations: 1, blockTimeMs: 2_000 },
];
const RUNS = Number(process.env["BENCH_RUNS"] ?? 5);

const dstack = await DstackGuestApiStandIn.start();
const rows: string[][] = [];
try {
  for (const setting of SETTINGS) {
    const reactions = await measureAgentReactions(setting, RUNS, dstack);
    rows.push([
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
} finally {
  await dstack.close();
  await cleanUp();
}

console.log("\nGuest agent reaction time: activation block mined -> docker compose up with the new compose file\n");
console.log(
  formatTable(
    ["poll interval", "confirmations", "block time", "runs", "median ms", "max ms", "floor ms", "each run (ms)"],
    rows,
  ),
);
