/**
 * dstack's KMS contract (`DstackKms`), as far as an app's operator and auditors need it: register an app, ask
 * whether a boot would get its keys, find the OS images the KMS allows. Free of Hardhat, like the rest of lib/.
 *
 * The KMS address is configuration (`config/kms.json`, keyed by chain id), never a constant in code.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import {
  Contract,
  getAddress,
  Interface,
  isAddress,
  ZeroAddress,
  ZeroHash,
  type ContractRunner,
  type Provider,
} from "ethers";

import { isContractRefusal } from "./contractRefusal.js";
import { UserError } from "./errors.js";
import type { AppBootInfo } from "./bootInfo.js";

export type { AppBootInfo };

/** dstack's `IAppAuth.isAppAllowed`: the field order of the struct is part of its selector, `0x1e079198`. */
const IS_APP_ALLOWED =
  "function isAppAllowed((address appId, bytes32 composeHash, address instanceId, bytes32 deviceId, " +
  "bytes32 mrAggregated, bytes32 mrSystem, bytes32 osImageHash, string tcbStatus, string[] advisoryIds) bootInfo) " +
  "view returns (bool isAllowed, string reason)";
const SUPPORTS_INTERFACE = "function supportsInterface(bytes4 interfaceId) view returns (bool)";

/** dstack's `IAppAuth`: what the KMS calls on an app's auth contract at every boot. */
export const APP_AUTH_ABI = [IS_APP_ALLOWED, SUPPORTS_INTERFACE] as const;

/**
 * The part of upstream `DstackKms` (Dstack-TEE/dstack, `kms/auth-eth/contracts/DstackKms.sol`) these tools call.
 * `contracts/reference/KmsStandIn.sol` has the same signatures; a test keeps the two in step.
 */
export const KMS_ABI = [
  "function registerApp(address appId)",
  "function registeredApps(address appId) view returns (bool)",
  "function allowedOsImages(bytes32 osImageHash) view returns (bool)",
  IS_APP_ALLOWED,
  SUPPORTS_INTERFACE,
  "event AppRegistered(address appId)",
  "event OsImageHashAdded(bytes32 osImageHash)",
  "event OsImageHashRemoved(bytes32 osImageHash)",
] as const;

export const kmsInterface = new Interface(KMS_ABI);

/** The KMS contract, typed for the calls above. */
export interface Kms {
  address: string;
  contract: Contract;
  registeredApps(appId: string): Promise<boolean>;
  allowedOsImages(osImageHash: string): Promise<boolean>;
  isAppAllowed(bootInfo: AppBootInfo): Promise<BootCheck>;
}

/** The answer to `isAppAllowed`: the reason is dstack's string, verbatim ("" when allowed). */
export interface BootCheck {
  allowed: boolean;
  reason: string;
}

/** A boot info with the fields a check does not care about set to zero, `tcbStatus` "UpToDate". */
export function makeBootInfo(
  fields: Pick<AppBootInfo, "appId" | "composeHash" | "deviceId"> & Partial<AppBootInfo>,
): AppBootInfo {
  return {
    instanceId: ZeroAddress,
    mrAggregated: ZeroHash,
    mrSystem: ZeroHash,
    osImageHash: ZeroHash,
    tcbStatus: "UpToDate",
    advisoryIds: [],
    ...fields,
  };
}

/** Asks any `IAppAuth` (an app's auth contract, or the KMS) whether a boot is allowed. */
export async function askIsAppAllowed(target: Contract, bootInfo: AppBootInfo): Promise<BootCheck> {
  const [allowed, reason] = (await target.getFunction("isAppAllowed").staticCall(bootInfo)) as [boolean, string];
  return { allowed, reason };
}

/**
 * Connects to the KMS at `address` after checking there is code there and that it answers `registeredApps`, so a
 * wrong address or network fails with a clear message before anything is sent.
 * @param where how to name the network in messages, e.g. `network "base" (chain 8453)`.
 */
export async function connectKms(address: string, runner: ContractRunner, where: string): Promise<Kms> {
  const provider = runner.provider;
  if (provider == null) throw new Error("the runner has no provider");
  if ((await provider.getCode(address)) === "0x") {
    throw new UserError(
      `no contract at KMS address ${address} on ${where}: check --kms, config/kms.json and --network`,
    );
  }
  const contract = new Contract(address, KMS_ABI, runner);
  try {
    await contract.getFunction("registeredApps").staticCall(ZeroAddress);
  } catch (error) {
    if (!isContractRefusal(error)) throw error;
    throw new UserError(
      `the contract at ${address} on ${where} does not answer registeredApps(address): it is not a dstack KMS`,
    );
  }
  return {
    address,
    contract,
    registeredApps: async (appId) => (await contract.getFunction("registeredApps").staticCall(appId)) as boolean,
    allowedOsImages: async (hash) => (await contract.getFunction("allowedOsImages").staticCall(hash)) as boolean,
    isAppAllowed: (bootInfo) => askIsAppAllowed(contract, bootInfo),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// config/kms.json
// ---------------------------------------------------------------------------------------------------------------

/** One chain's entry in `config/kms.json`. */
export interface KmsConfigEntry {
  address: string;
  name: string;
  /** What to check before relying on the address. */
  note: string;
}

export const KMS_CONFIG_FILE = path.join("config", "kms.json");

/** Reads and checks `config/kms.json` (chain id → KMS); addresses come back checksummed. */
export async function readKmsConfig(file: string): Promise<Map<number, KmsConfigEntry>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new UserError(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new UserError(`${file} must be an object keyed by chain id`);
  }
  const entries = new Map<number, KmsConfigEntry>();
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key.startsWith("$")) continue; // "$comment" and the like
    if (!/^\d+$/.test(key)) throw new UserError(`${file}: key ${JSON.stringify(key)} is not a chain id`);
    const entry = value as Partial<Record<keyof KmsConfigEntry, unknown>> | null;
    if (entry === null || typeof entry !== "object" || typeof entry.address !== "string") {
      throw new UserError(`${file}: chain ${key} needs an "address"`);
    }
    if (!/^0x[0-9a-fA-F]{40}$/.test(entry.address) || !isAddress(entry.address)) {
      throw new UserError(
        `${file}: chain ${key}: ${JSON.stringify(entry.address)} is not an address with a valid checksum`,
      );
    }
    entries.set(Number(key), {
      address: getAddress(entry.address),
      name: typeof entry.name === "string" ? entry.name : `dstack KMS on chain ${key}`,
      note: typeof entry.note === "string" ? entry.note : "",
    });
  }
  return entries;
}

/** The KMS configured for a chain in `config/kms.json`, or a clear error naming what to pass instead. */
export async function kmsForChain(file: string, chainId: number): Promise<KmsConfigEntry> {
  const entry = (await readKmsConfig(file)).get(chainId);
  if (entry === undefined) {
    throw new UserError(`${file} has no dstack KMS for chain ${chainId}: pass --kms <address>`);
  }
  return entry;
}

// ---------------------------------------------------------------------------------------------------------------
// OS images the KMS allows
// ---------------------------------------------------------------------------------------------------------------

/**
 * Finds OS image hashes the KMS allows at `toBlock`: reads `OsImageHashAdded` events backwards from `toBlock` in
 * windows of `chunkBlocks` (public RPCs cap the range of `eth_getLogs`) until `want` still-allowed images are found
 * or `maxBlocks` have been scanned. Newest first. An image added and later removed is left out.
 */
export async function findAllowedOsImages(
  provider: Provider,
  kms: string,
  options: { toBlock: number; chunkBlocks: number; maxBlocks: number; want?: number },
): Promise<string[]> {
  const want = options.want ?? 1;
  const added = kmsInterface.getEvent("OsImageHashAdded");
  if (added === null) throw new Error("KMS_ABI has no OsImageHashAdded event");
  const found: string[] = [];
  const lowest = Math.max(0, options.toBlock - options.maxBlocks + 1);
  for (let to = options.toBlock; to >= lowest && found.length < want; to -= options.chunkBlocks) {
    const from = Math.max(lowest, to - options.chunkBlocks + 1);
    const logs = await provider.getLogs({ address: kms, topics: [added.topicHash], fromBlock: from, toBlock: to });
    for (const log of logs.reverse()) {
      const hash = kmsInterface.decodeEventLog(added, log.data, log.topics)[0] as string;
      if (found.includes(hash)) continue;
      const [allowed] = kmsInterface.decodeFunctionResult(
        "allowedOsImages",
        await provider.call({
          to: kms,
          data: kmsInterface.encodeFunctionData("allowedOsImages", [hash]),
          blockTag: options.toBlock,
        }),
      ) as unknown as [boolean];
      if (allowed) found.push(hash);
      if (found.length >= want) break;
    }
  }
  return found;
}
