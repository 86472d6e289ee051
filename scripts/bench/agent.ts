/**
 * The guest agent's reaction time: the wall time from the block that activates a release being mined to the agent's
 * `docker compose up` with that release's compose file (recorded by the fake docker). The agent runs as a separate
 * process (the shipped bundle) against an in-process chain served over JSON-RPC, as in its tests.
 *
 * The floor is what no polling agent can beat: one poll interval plus confirmations × block time. The target is met
 * when the slowest reaction is within one poll interval of that floor.
 */
import { pathToFileURL } from "node:url";

import { DstackGuestApiStandIn } from "../../test/helpers/dstack-guest-api.js";
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
} from "../../test/helpers/guestAgent.js";

export interface AgentReactionSetting {
  pollInterval: string;
  pollIntervalMs: number;
  confirmations: number;
  /**
   * Interval mining (ms), as on a chain with that block time; undefined: a block per transaction (automine), which
   * makes no block by itself, so only with 0 confirmations.
   */
  blockTimeMs: number | undefined;
}

export interface AgentReaction {
  medianMs: number;
  maxMs: number;
  floorMs: number;
  pollIntervalMs: number;
  confirmations: number;
  blockTimeMs: number;
  samples: number;
}

export type AgentSection = { measured: AgentReaction } | { skipped: string };

/** The setting `npm run bench` reports: a Base-like block time scaled down, two confirmations. */
export const BENCH_SETTING: AgentReactionSetting = {
  pollInterval: "500ms",
  pollIntervalMs: 500,
  confirmations: 2,
  blockTimeMs: 500,
};
const BENCH_RUNS = 5;

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function reactionFloorMs(setting: AgentReactionSetting): number {
  return setting.pollIntervalMs + setting.confirmations * (setting.blockTimeMs ?? 0);
}

/** Activates `runs` releases one after the other and returns each reaction time in ms. */
export async function measureAgentReactions(
  setting: AgentReactionSetting,
  runs: number,
  dstack: DstackGuestApiStandIn,
): Promise<number[]> {
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
    for (let run = 0; run < runs; run++) {
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

export async function benchAgentReaction(): Promise<AgentSection> {
  const dstack = await DstackGuestApiStandIn.start();
  try {
    const reactions = await measureAgentReactions(BENCH_SETTING, BENCH_RUNS, dstack);
    return {
      measured: {
        medianMs: Math.round(median(reactions)),
        maxMs: Math.max(...reactions),
        floorMs: reactionFloorMs(BENCH_SETTING),
        pollIntervalMs: BENCH_SETTING.pollIntervalMs,
        confirmations: BENCH_SETTING.confirmations,
        blockTimeMs: BENCH_SETTING.blockTimeMs ?? 0,
        samples: reactions.length,
      },
    };
  } finally {
    await dstack.close();
    await cleanUp();
  }
}
