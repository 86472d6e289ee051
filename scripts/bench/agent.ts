/**
 * The guest agent's reaction time: from the block that activates a release to the moment the agent runs it
 * (`docker compose up` done). The agent (guest/) and its reaction-time benchmark are built on their own branch;
 * this module is where they plug in. Until then it reports a one-line skip and the JSON carries
 * `agentReactionMs: null`.
 *
 * The hook: make {@link benchAgentReaction} return `{ measured: … }` with the samples' median and maximum, the
 * floor (the reaction the agent cannot beat: confirmations × block time, plus fetching and `docker compose up`
 * with zero waiting) and the agent's poll interval. The target is met when the maximum is within one poll
 * interval of the floor.
 */
import { existsSync } from "node:fs";
import path from "node:path";

export interface AgentReaction {
  medianMs: number;
  maxMs: number;
  floorMs: number;
  pollIntervalMs: number;
  samples: number;
}

export type AgentSection = { measured: AgentReaction } | { skipped: string };

export async function benchAgentReaction(root: string): Promise<AgentSection> {
  if (!existsSync(path.join(root, "guest"))) {
    return { skipped: "skipped: there is no guest agent (guest/) on this branch yet" };
  }
  return {
    skipped: "skipped: guest/ exists, but its reaction-time benchmark is not wired into scripts/bench/agent.ts yet",
  };
}
