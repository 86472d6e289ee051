/**
 * Where the forked-mainnet tests fork from. Three modes, chosen by the environment:
 * - `BASE_RPC_URL` (or `FORK_RPC_URL`): Base mainnet at the block pinned in `config/fork.json`, with dstack's real
 *   KMS;
 * - `FORK_STAND_IN_RPC_URL`: a local node on which `scripts/fork-stand-in.ts` deployed a STAND-IN of the KMS (so the
 *   forking code path runs in CI, where no Base RPC is reachable); it wins over the first, being the more explicit;
 * - neither: the tests are skipped, with one line saying how to enable them.
 */
import { readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";

import { getAddress, isAddress } from "ethers";

export const FORK_CONFIG_FILE = path.join("config", "fork.json");
/** Written by `scripts/fork-stand-in.ts`, read by the fork tests in stand-in mode. */
export const STAND_IN_FILE = path.join("cache", "fork-stand-in.json");

export interface LogScan {
  chunkBlocks: number;
  maxBlocks: number;
}

/** `config/fork.json`. */
export interface ForkConfig {
  network: string;
  chainId: number;
  chainType: "op" | "l1";
  kms: string;
  blockNumber: number;
  knownOsImageHashes: string[];
  logScan: LogScan;
}

/** What `scripts/fork-stand-in.ts` deployed, for the tests to fork. */
export interface StandInRecord {
  url: string;
  chainId: number;
  kms: string;
  blockNumber: number;
  /** The OS images the stand-in allows; the tests find them from its events, as they do on Base. */
  allowedOsImageHashes: string[];
  logScan: LogScan;
}

/** One resolved place to fork, with everything the tests need. */
export interface ForkTarget {
  mode: "base" | "stand-in";
  /** Says which one it is, in test titles: the stand-in is labelled as such. */
  label: string;
  url: string;
  chainId: number;
  chainType: "op" | "l1";
  kms: string;
  blockNumber: number;
  knownOsImageHashes: string[];
  logScan: LogScan;
  /** Stand-in only: the OS images the stand-in allows, newest first, to check what the tests read from events. */
  expectedOsImageHashes?: string[];
}

export type ForkSelection = ForkTarget | { mode: "off"; reason: string };

export async function readForkConfig(root: string): Promise<ForkConfig> {
  const file = path.join(root, FORK_CONFIG_FILE);
  const json = JSON.parse(await readFile(file, "utf8")) as Partial<ForkConfig>;
  const problem = (what: string) => new Error(`${FORK_CONFIG_FILE}: ${what}`);
  if (typeof json.chainId !== "number") throw problem('"chainId" must be a number');
  if (json.chainType !== "op" && json.chainType !== "l1") throw problem('"chainType" must be "op" or "l1"');
  if (typeof json.kms !== "string" || !isAddress(json.kms)) throw problem('"kms" must be an address');
  if (!Number.isSafeInteger(json.blockNumber) || (json.blockNumber ?? 0) <= 0) {
    throw problem('"blockNumber" must be a positive block number');
  }
  const known = json.knownOsImageHashes ?? [];
  if (!Array.isArray(known) || known.some((hash) => !/^0x[0-9a-fA-F]{64}$/.test(String(hash)))) {
    throw problem('"knownOsImageHashes" must be a list of 0x + 64 hex digits');
  }
  return {
    network: json.network ?? `chain ${json.chainId}`,
    chainId: json.chainId,
    chainType: json.chainType,
    kms: getAddress(json.kms),
    blockNumber: json.blockNumber!,
    knownOsImageHashes: known,
    logScan: { chunkBlocks: json.logScan?.chunkBlocks ?? 10_000, maxBlocks: json.logScan?.maxBlocks ?? 5_000_000 },
  };
}

export async function writeStandInRecord(root: string, record: StandInRecord): Promise<string> {
  const file = path.join(root, STAND_IN_FILE);
  await mkdir(path.dirname(file), { recursive: true });
  const labelled = { $comment: "STAND-IN of dstack's KMS on a local node, for the fork tests; not Base.", ...record };
  await writeFile(file, `${JSON.stringify(labelled, null, 2)}\n`);
  return file;
}

/** Picks the fork target from the environment (see the module comment). */
export async function selectForkTarget(root: string, env: NodeJS.ProcessEnv): Promise<ForkSelection> {
  const config = await readForkConfig(root);
  const standInUrl = env["FORK_STAND_IN_RPC_URL"]?.trim();
  if (standInUrl !== undefined && standInUrl !== "") {
    const file = path.join(root, STAND_IN_FILE);
    let record: StandInRecord;
    try {
      record = JSON.parse(await readFile(file, "utf8")) as StandInRecord;
    } catch {
      throw new Error(
        `FORK_STAND_IN_RPC_URL is set but ${STAND_IN_FILE} is missing: run scripts/fork-stand-in.ts first`,
      );
    }
    if (record.url !== standInUrl) {
      throw new Error(
        `${STAND_IN_FILE} was written for ${record.url}, not FORK_STAND_IN_RPC_URL=${standInUrl}: ` +
          "run scripts/fork-stand-in.ts against this node first",
      );
    }
    return {
      mode: "stand-in",
      label:
        `STAND-IN: KmsStandIn (not dstack's KMS) on a local node at ${standInUrl}, forked at block ` +
        `${record.blockNumber} — exercises the forking path only; set BASE_RPC_URL for the real thing`,
      url: standInUrl,
      chainId: record.chainId,
      chainType: config.chainType,
      kms: record.kms,
      blockNumber: record.blockNumber,
      knownOsImageHashes: [],
      logScan: record.logScan,
      expectedOsImageHashes: record.allowedOsImageHashes,
    };
  }
  const url = [env["BASE_RPC_URL"], env["FORK_RPC_URL"]].map((value) => value?.trim()).find((value) => !!value);
  if (url === undefined) {
    return {
      mode: "off",
      reason:
        `forked ${config.network} tests skipped: set BASE_RPC_URL (or FORK_RPC_URL) to an archive RPC to run them ` +
        `at block ${config.blockNumber} against dstack's KMS ${config.kms}, or run \`npm run test:fork-stand-in\``,
    };
  }
  return {
    mode: "base",
    label: `forked ${config.network} at block ${config.blockNumber}, dstack's KMS ${config.kms}`,
    url,
    ...config,
  };
}
