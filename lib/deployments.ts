import { readdir, readFile, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";

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

/** The record of one Ignition deployment (one chain, one deployment id). */
export interface DeploymentRecord {
  deploymentId: string;
  chainId: number;
  network: string;
  source: string;
  contracts: Record<string, DeployedContract>;
}

/** Networks of hardhat.config.ts by chain id, so records name the network a reader would pass to `--network`. */
const NETWORK_BY_CHAIN_ID: Record<number, string> = { 8453: "base", 84532: "baseSepolia", 31337: "localhost" };

type JournalEntry = Record<string, unknown> & { type: string; futureId?: string };

/** Ignition's journal encodes bigints as `{ _kind: "bigint", value }`; records use decimal strings instead. */
function decodeJournalValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeJournalValue);
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
export async function readIgnitionDeployment(deploymentDir: string): Promise<DeploymentRecord> {
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
      deployer: String(start.from),
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
    source: path.join("ignition/deployments", path.basename(deploymentDir), "journal.jsonl"),
    contracts,
  };
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
  await mkdir(outDir, { recursive: true });
  for (const deploymentId of deploymentIds) {
    const record = await readIgnitionDeployment(path.join(ignitionDeploymentsDir, deploymentId));
    const outPath = path.join(outDir, `${deploymentId}.json`);
    await writeFile(outPath, `${JSON.stringify(record, null, 2)}\n`);
    written.push(outPath);
  }
  return written;
}
