/**
 * The guest agent's reaction time: the wall time from the block that activates a release being mined to the agent's
 * `docker compose up` with that release's compose file (recorded by the fake docker). The agent runs as a separate
 * process (the shipped bundle) against an in-process chain served over JSON-RPC, as in its tests.
 *
 * The floor is what no polling agent can beat: one poll interval plus confirmations × block time. The target is met
 * when the slowest reaction is within one poll interval of that floor.
 *
 * The agent believes no single endpoint: it is measured with its default, a quorum of 2 of 3 local endpoints (each
 * view: the heads and headers from all three, proofs from one), and with one endpoint and `--rpc-quorum none` (the
 * fewest reads a verifying agent makes). {@link measureViewReads} times one view in process each way, and the
 * `eth_call` reads the agent made before it verified anything (lib/release.ts), for the cost of the proofs alone.
 */
import { pathToFileURL } from "node:url";

import { FetchRequest, JsonRpcProvider, Network } from "ethers";

import { connectReleaseReader, isComposeHashAllowedAt, readReleaseAt } from "../../lib/release.js";
import { QuorumHeaderSource } from "../../lib/verified/headers.js";
import { VerifiedChainReader } from "../../lib/verified/reader.js";
import { httpRpcClient } from "../../lib/verified/rpc.js";
import { readProvenRelease } from "../../lib/verified/timelockedAppAuth.js";

import { MIN_NOTICE_PERIOD } from "../../test/helpers/appAuth.js";
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

/** How the agent reads the chain in a measurement. */
export interface AgentReads {
  endpoints: number;
  /** `--rpc-quorum`. */
  quorum: string;
}

/** The agent's default: a majority of three endpoints. */
export const QUORUM_READS: AgentReads = { endpoints: 3, quorum: "majority" };
/** One endpoint, no quorum: proofs against that endpoint's own header. */
export const SINGLE_READS: AgentReads = { endpoints: 1, quorum: "none" };

export function describeReads(reads: AgentReads): string {
  return reads.quorum === "none"
    ? `${reads.endpoints} endpoint, no quorum`
    : `quorum ${reads.quorum === "majority" ? Math.max(2, Math.floor(reads.endpoints / 2) + 1) : reads.quorum} of ${reads.endpoints} endpoints`;
}

export interface AgentReaction {
  /** How the agent read the chain ("quorum 2 of 3 endpoints"); absent in figures from before it verified. */
  reads?: string;
  medianMs: number;
  maxMs: number;
  floorMs: number;
  pollIntervalMs: number;
  confirmations: number;
  blockTimeMs: number;
  samples: number;
}

/** Median time of one reconciler view (head, confirmed header, release and allowances), in process, per way of reading. */
export interface ViewReadCost {
  /** The `eth_call` reads of one endpoint (lib/release.ts), as before the agent verified anything. */
  ethCallMs: number;
  /** Proofs against one endpoint's own header. */
  oneEndpointMs: number;
  /** Headers from three endpoints (quorum 2), proofs from one. */
  quorumMs: number;
  samples: number;
}

export type AgentSection =
  { measured: AgentReaction; baseline?: AgentReaction; viewReads?: ViewReadCost } | { skipped: string };

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

/**
 * Proposes a release and lets its notice pass. With interval mining on, the clock is moved with `evm_increaseTime`
 * alone and the next interval block carries it: EDR panics in its logger ("There must be a log line") when
 * `evm_mine` runs while it mines on an interval.
 */
async function proposeAndWait(
  chain: AgentChain,
  release: { hash: string; uri: string },
  setting: AgentReactionSetting,
): Promise<void> {
  if (setting.blockTimeMs === undefined) return chain.proposeAndWait(release);
  const provider = chain.connection.provider;
  await (await chain.appAuth.proposeComposeHash(release.hash, release.uri)).wait();
  await provider.request({ method: "evm_increaseTime", params: [Number(MIN_NOTICE_PERIOD)] });
  const after = await chain.blockNumber();
  await waitFor("a block after the notice", async () => (await chain.blockNumber()) > after, 30_000);
}

/** Activates `runs` releases one after the other and returns each reaction time in ms. */
export async function measureAgentReactions(
  setting: AgentReactionSetting,
  runs: number,
  dstack: DstackGuestApiStandIn,
  reads: AgentReads = QUORUM_READS,
): Promise<number[]> {
  const v1 = await releaseFromFile("v1", EXAMPLE_V1);
  const chain = await AgentChain.create({ hash: v1.hash, uri: v1.fileUri }, reads.endpoints);
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
    rpcQuorum: reads.quorum,
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
      await proposeAndWait(chain, { hash: release.hash, uri: pathToFileURL(release.file).href }, setting);
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

/** Times `samples` views each way against three local endpoints of one chain; returns the medians. */
export async function measureViewReads(samples: number, confirmations = 2): Promise<ViewReadCost> {
  const v1 = await releaseFromFile("v1", EXAMPLE_V1);
  const chain = await AgentChain.create({ hash: v1.hash, uri: v1.fileUri }, 3);
  const timeoutMs = 5_000;
  const request = new FetchRequest(chain.urls[0]!);
  const provider = new JsonRpcProvider(request, Network.from(31337), {
    staticNetwork: true,
    batchMaxCount: 1,
    cacheTimeout: -1,
  });
  const clients = chain.urls.map((url) => httpRpcClient(url, { timeoutMs }));
  const one = new VerifiedChainReader(new QuorumHeaderSource([clients[0]!], { quorum: 1 }), [clients[0]!]);
  const quorum = new VerifiedChainReader(new QuorumHeaderSource(clients, { quorum: 2 }), clients);
  const time = async (view: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const started = performance.now();
      await view();
      times.push(performance.now() - started);
    }
    return Math.round(median(times) * 10) / 10;
  };
  const ethCallView = async () => {
    const reader = connectReleaseReader(chain.address, provider);
    const head = Number(await provider.send("eth_blockNumber", []));
    const block = Math.max(0, head - confirmations);
    await provider.send("eth_getBlockByNumber", [`0x${block.toString(16)}`, false]);
    const release = await readReleaseAt(reader, block);
    await isComposeHashAllowedAt(reader, release!.composeHash, block);
  };
  const provenView = (reader: VerifiedChainReader) => async () => {
    const { header } = await reader.confirmedHeader(confirmations);
    await readProvenRelease(reader, chain.address, header, [v1.hash]);
  };
  try {
    await chain.mine(confirmations + 1);
    // One of each first: the endpoints' chain ids are checked once, as in the agent.
    await ethCallView();
    await provenView(one)();
    await provenView(quorum)();
    return {
      ethCallMs: await time(ethCallView),
      oneEndpointMs: await time(provenView(one)),
      quorumMs: await time(provenView(quorum)),
      samples,
    };
  } finally {
    provider.destroy();
    await chain.close();
  }
}

function reaction(setting: AgentReactionSetting, reactions: number[], reads: AgentReads): AgentReaction {
  return {
    reads: describeReads(reads),
    medianMs: Math.round(median(reactions)),
    maxMs: Math.max(...reactions),
    floorMs: reactionFloorMs(setting),
    pollIntervalMs: setting.pollIntervalMs,
    confirmations: setting.confirmations,
    blockTimeMs: setting.blockTimeMs ?? 0,
    samples: reactions.length,
  };
}

export async function benchAgentReaction(): Promise<AgentSection> {
  const dstack = await DstackGuestApiStandIn.start();
  try {
    const verified = await measureAgentReactions(BENCH_SETTING, BENCH_RUNS, dstack, QUORUM_READS);
    const single = await measureAgentReactions(BENCH_SETTING, BENCH_RUNS, dstack, SINGLE_READS);
    return {
      measured: reaction(BENCH_SETTING, verified, QUORUM_READS),
      baseline: reaction(BENCH_SETTING, single, SINGLE_READS),
      viewReads: await measureViewReads(20, BENCH_SETTING.confirmations),
    };
  } finally {
    await dstack.close();
    await cleanUp();
  }
}
