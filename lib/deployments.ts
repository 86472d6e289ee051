import { readdir, readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";

import { getAddress } from "ethers";

/** One deployed contract, as recorded in `deployments/<deploymentId>.json`. */
export interface DeployedContract {
  contractName: string;
  address: string;
  deployer: string;
  constructorArgs: unknown[];
  txHash: string;
  blockNumber: number;
  blockHash: string;
}

/** A registration of a deployed app with a dstack KMS (`DstackKms.registerApp(app)`). */
export interface KmsRegistration {
  kms: string;
  app: string;
  /** The `registerApp` transaction; null when the app was already registered (by anyone) before we looked. */
  txHash: string | null;
  blockNumber: number | null;
  /** The block at which `registeredApps(app)` was seen true without sending anything, when `txHash` is null. */
  seenRegisteredAtBlock?: number;
}

/** A source verification of a deployed contract on a block explorer or Sourcify. */
export interface SourceVerification {
  address: string;
  /** hardhat-verify's provider name: "etherscan" (Basescan on Base) or "sourcify". */
  provider: string;
  /** Where anyone can read the verified source. */
  url: string;
}

/**
 * The record of one Ignition deployment (one chain, one deployment id). `contracts` is rebuilt from the journal every
 * time; `sourceCommit`, `kmsRegistrations` and `verifications` are what `deploy-app` adds, kept across rebuilds.
 */
export interface DeploymentRecord {
  deploymentId: string;
  chainId: number;
  network: string;
  source: string;
  contracts: Record<string, DeployedContract>;
  /** The git commit of the checkout that deployed it, `+dirty` when it had uncommitted changes: what to rebuild. */
  sourceCommit?: string;
  kmsRegistrations?: KmsRegistration[];
  verifications?: SourceVerification[];
}

/** Networks of hardhat.config.ts by chain id, so records name the network a reader would pass to `--network`. */
const NETWORK_BY_CHAIN_ID: Record<number, string> = { 8453: "base", 84532: "baseSepolia", 31337: "localhost" };

type JournalEntry = Record<string, unknown> & { type: string; futureId?: string };

/**
 * Ignition's journal encodes bigints as `{ _kind: "bigint", value }`, and keeps a JSON number from a parameters file
 * as a number; records write every integer as a decimal string, whichever command deployed.
 */
function decodeJournalValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeJournalValue);
  if (typeof value === "number") return String(value);
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    if (object._kind === "bigint" && typeof object.value === "string") return object.value;
    return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, decodeJournalValue(inner)]));
  }
  return value;
}

/**
 * Builds the record of one Ignition deployment from its journal: the journal, not a hand-written file, is the
 * source of truth for what was deployed, by whom, with which arguments, in which transaction.
 */
export async function readIgnitionDeployment(
  deploymentDir: string,
  options: { source?: string } = {},
): Promise<DeploymentRecord> {
  const journalPath = path.join(deploymentDir, "journal.jsonl");
  const lines = (await readFile(journalPath, "utf8")).split("\n").filter((line) => line.trim() !== "");
  const entries = lines.map((line) => JSON.parse(line) as JournalEntry);

  const init = entries.find((entry) => entry.type === "DEPLOYMENT_INITIALIZE");
  if (init === undefined || typeof init.chainId !== "number") {
    throw new Error(`${journalPath}: no DEPLOYMENT_INITIALIZE entry with a chain id`);
  }

  const contracts: Record<string, DeployedContract> = {};
  for (const start of entries.filter((entry) => entry.type === "DEPLOYMENT_EXECUTION_STATE_INITIALIZE")) {
    const futureId = String(start.futureId);
    const ofFuture = entries.filter((entry) => entry.futureId === futureId);
    const done = ofFuture.find((entry) => entry.type === "DEPLOYMENT_EXECUTION_STATE_COMPLETE");
    const result = done?.result as { type?: string; address?: string } | undefined;
    if (result?.type !== "SUCCESS" || result.address === undefined) continue; // not (yet) deployed
    const confirmed = ofFuture.find((entry) => entry.type === "TRANSACTION_CONFIRM");
    const receipt = confirmed?.receipt as { blockNumber: number; blockHash: string } | undefined;
    if (confirmed === undefined || receipt === undefined) {
      throw new Error(`${journalPath}: ${futureId} completed without a confirmed transaction`);
    }
    contracts[futureId] = {
      contractName: String(start.contractName),
      address: result.address,
      // Ignition keeps the sender as the node spelled it (often lowercase): records use the checksummed form.
      deployer: getAddress(String(start.from)),
      constructorArgs: decodeJournalValue(start.constructorArgs) as unknown[],
      txHash: String(confirmed.hash),
      blockNumber: receipt.blockNumber,
      blockHash: receipt.blockHash,
    };
  }

  return {
    deploymentId: path.basename(deploymentDir),
    chainId: init.chainId,
    network: NETWORK_BY_CHAIN_ID[init.chainId] ?? `chain-${init.chainId}`,
    source: options.source ?? path.join("ignition/deployments", path.basename(deploymentDir), "journal.jsonl"),
    contracts,
  };
}

/** How a journal recorded the start of one deployment future. */
export interface JournalFuture {
  /** The sending account, as the deploying command passed it (Ignition compares it case-sensitively). */
  from: string;
  /** The constructor arguments as Ignition reads them back when it reconciles (bigints as bigint). */
  constructorArgs: unknown[];
}

/** What a journal recorded for one deployment future; undefined when there is no journal or no such future yet. */
export async function readJournalFuture(deploymentDir: string, futureId: string): Promise<JournalFuture | undefined> {
  let text: string;
  try {
    text = await readFile(path.join(deploymentDir, "journal.jsonl"), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const start = text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as JournalEntry)
    .find((entry) => entry.type === "DEPLOYMENT_EXECUTION_STATE_INITIALIZE" && entry.futureId === futureId);
  if (start === undefined || typeof start.from !== "string" || !Array.isArray(start.constructorArgs)) return undefined;
  return { from: start.from, constructorArgs: revive(start.constructorArgs) as unknown[] };
}

/** Ignition's journal encoding back to values: `{ _kind: "bigint", value }` is a bigint. */
function revive(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(revive);
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    if (object._kind === "bigint" && typeof object.value === "string") return BigInt(object.value);
    return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, revive(inner)]));
  }
  return value;
}

/** Regenerates `deployments/<deploymentId>.json` for every Ignition deployment found; returns what it wrote. */
export async function recordIgnitionDeployments(ignitionDeploymentsDir: string, outDir: string): Promise<string[]> {
  const written: string[] = [];
  let deploymentIds: string[];
  try {
    deploymentIds = (await readdir(ignitionDeploymentsDir, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
  } catch {
    return written; // nothing deployed yet
  }
  for (const deploymentId of deploymentIds) {
    const record = await readIgnitionDeployment(path.join(ignitionDeploymentsDir, deploymentId));
    written.push(await writeDeploymentRecord(outDir, record));
  }
  return written;
}

/** Reads `<outDir>/<deploymentId>.json`; undefined when there is none yet. */
export async function readDeploymentRecord(
  outDir: string,
  deploymentId: string,
): Promise<DeploymentRecord | undefined> {
  try {
    return JSON.parse(await readFile(path.join(outDir, `${deploymentId}.json`), "utf8")) as DeploymentRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Writes `<outDir>/<deploymentId>.json`. What the journal says (`contracts`, ...) replaces the file's; the first
 * `sourceCommit` recorded stays; the KMS
 * registrations and verifications already in the file are kept, with the record's own entries replacing those for
 * the same KMS and app (unless the new one only saw it registered and the old one has the transaction), or the same
 * address and provider.
 * @returns the path written.
 */
export async function writeDeploymentRecord(outDir: string, record: DeploymentRecord): Promise<string> {
  const existing = await readDeploymentRecord(outDir, record.deploymentId);
  const kmsRegistrations = mergeBy(
    existing?.kmsRegistrations,
    record.kmsRegistrations,
    (entry) => `${entry.kms.toLowerCase()} ${entry.app.toLowerCase()}`,
    // "Already registered" never erases the transaction that did register it.
    (older, newer) => (newer.txHash === null && older.txHash !== null ? older : newer),
  );
  const verifications = mergeBy(
    existing?.verifications,
    record.verifications,
    (entry) => `${entry.address.toLowerCase()} ${entry.provider}`,
  );
  const merged: DeploymentRecord = {
    deploymentId: record.deploymentId,
    chainId: record.chainId,
    network: record.network,
    source: record.source,
    contracts: record.contracts,
    // The commit that deployed it does not change when a later run, from another checkout, resumes the deployment.
    ...((existing?.sourceCommit ?? record.sourceCommit) === undefined
      ? {}
      : { sourceCommit: existing?.sourceCommit ?? record.sourceCommit }),
    ...(kmsRegistrations.length > 0 ? { kmsRegistrations } : {}),
    ...(verifications.length > 0 ? { verifications } : {}),
  };
  await mkdir(outDir, { recursive: true });
  const outPath = path.join(outDir, `${record.deploymentId}.json`);
  await writeFile(outPath, `${JSON.stringify(merged, null, 2)}\n`);
  return outPath;
}

/** The entries of `older` and `newer`, one per key, in first-seen order; `pick` decides a clash (default: newer). */
function mergeBy<T>(
  older: T[] | undefined,
  newer: T[] | undefined,
  key: (entry: T) => string,
  pick: (older: T, newer: T) => T = (_older, newer) => newer,
): T[] {
  const merged = new Map<string, T>();
  for (const entry of older ?? []) merged.set(key(entry), entry);
  for (const entry of newer ?? []) {
    const previous = merged.get(key(entry));
    merged.set(key(entry), previous === undefined ? entry : pick(previous, entry));
  }
  return [...merged.values()];
}
