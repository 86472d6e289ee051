/**
 * Reads what the DevProof report (lib/devproof-report.ts) judges, from any provider: the contract's kind (ERC-165),
 * its EIP-1967 proxy slots, its owner, the TimelockedAppAuth status when it is one, the KMS registration and what the
 * chain says about a compose file's hash. Works on ANY dstack-style AppAuth, not only ours. Only ethers: the status
 * page runs it in the browser.
 */
import { Contract, getAddress, sha256, toBeHex, ZeroAddress, ZeroHash, type Provider } from "ethers";

import { TimelockedAppAuth__factory } from "../types/ethers-contracts/index.js";
import { APP_AUTH_INTERFACE_ID, readAppStatus, TIMELOCKED_APP_AUTH_INTERFACE_ID } from "./appAuth.js";
import { isContractRefusal } from "./contractRefusal.js";
import { readKmsInfo } from "./dstack/kms-info.js";
import type { DevProofSnapshot } from "./devproof-report.js";

/** dstack's `IAppAuthBasicManagement` (addComposeHash, removeComposeHash, addDevice, removeDevice). */
export const APP_AUTH_BASIC_MANAGEMENT_INTERFACE_ID = "0x8fd37527";

/** EIP-1967 storage slots: `bytes32(uint256(keccak256("eip1967.proxy.<name>")) - 1)`. */
export const EIP1967_SLOTS = {
  implementation: "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc",
  beacon: "0xa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6cb3582b35133d50",
  admin: "0xb53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103",
} as const;

const PROBE_ABI = [
  "function supportsInterface(bytes4 interfaceId) view returns (bool)",
  "function owner() view returns (address)",
  "function allowedComposeHashes(bytes32 composeHash) view returns (bool)",
  // dstack's IAppAuth.isAppAllowed (selector 0x1e079198): what the KMS calls at every boot.
  "function isAppAllowed((address appId, bytes32 composeHash, address instanceId, bytes32 deviceId, " +
    "bytes32 mrAggregated, bytes32 mrSystem, bytes32 osImageHash, string tcbStatus, string[] advisoryIds) bootInfo) " +
    "view returns (bool isAllowed, string reason)",
  // dstack's KMS: an app's policy has neither.
  "function registeredApps(address appId) view returns (bool)",
  "function allowedOsImages(bytes32 osImageHash) view returns (bool)",
  // The notice-per-proposal shape of dstack's tutorial TimelockAppAuth.
  "function noticePeriod() view returns (uint256)",
  "function proposedAt(bytes32 composeHash) view returns (uint256)",
  "event ComposeHashProposed(bytes32 indexed hash, uint256 activatesAt)",
] as const;
const KMS_ABI = [
  "function registeredApps(address appId) view returns (bool)",
  "function owner() view returns (address)",
] as const;
/** OpenZeppelin's TimelockController, as an AppAuth's owner. */
const TIMELOCK_CONTROLLER_ABI = ["function getMinDelay() view returns (uint256)"] as const;
/** The most open proposals read of a notice-per-proposal shape (hashes are hostile input: anyone's events count). */
const MAX_OTHER_PROPOSALS = 50;

export interface SnapshotOptions {
  /** A dstack KMS to ask `registeredApps(app)`. */
  kms?: string | undefined;
  /** A compose file: where it came from, its text and the sha256 of its exact bytes (or the bytes, hashed here). */
  compose?: { source: string; text: string; sha256?: string; bytes?: Uint8Array } | undefined;
}

/** Reads a snapshot of the app at `app`, at the latest block. */
export async function readDevProofSnapshot(
  provider: Provider,
  app: string,
  options: SnapshotOptions = {},
): Promise<DevProofSnapshot> {
  const block = await provider.getBlock("latest");
  if (block === null) throw new Error("the node returned no latest block");
  const at = { blockTag: block.number };
  const [network, code] = await Promise.all([provider.getNetwork(), provider.getCode(app, block.number)]);
  const compose =
    options.compose === undefined
      ? undefined
      : {
          source: options.compose.source,
          text: options.compose.text,
          sha256: (
            options.compose.sha256 ?? sha256(options.compose.bytes ?? new TextEncoder().encode(options.compose.text))
          ).toLowerCase(),
          allowedOnChain: undefined as boolean | undefined,
        };
  const base = {
    app,
    chainId: network.chainId,
    blockNumber: block.number,
    timestamp: BigInt(block.timestamp),
    kms: undefined,
    compose,
  };
  if (code === "0x") {
    return {
      ...base,
      hasCode: false,
      supportsAppAuth: false,
      supportsBasicManagement: false,
      timelocked: undefined,
      proxy: {},
      owner: undefined,
      ownerIsContract: undefined,
    };
  }

  const probe = new Contract(app, PROBE_ABI, provider);
  const ask = async <T>(method: string, ...args: unknown[]): Promise<T | undefined> => {
    try {
      return (await probe.getFunction(method).staticCall(...args, at)) as T;
    } catch (error) {
      // Not implemented, or garbage: the contract does not answer it. A failing node is not an answer: it throws,
      // rather than make a genuine AppAuth look like no AppAuth.
      return notAnswered(error);
    }
  };
  const [
    supportsAppAuth,
    supportsTimelocked,
    supportsBasicManagement,
    owner,
    proxy,
    isAppAllowed,
    registeredApps,
    allowedOsImages,
  ] = await Promise.all([
    ask<boolean>("supportsInterface", APP_AUTH_INTERFACE_ID),
    ask<boolean>("supportsInterface", TIMELOCKED_APP_AUTH_INTERFACE_ID),
    ask<boolean>("supportsInterface", APP_AUTH_BASIC_MANAGEMENT_INTERFACE_ID),
    ask<string>("owner"),
    readProxySlots(provider, app, block.number),
    ask<unknown>("isAppAllowed", probeBootOf(app)),
    ask<boolean>("registeredApps", ZeroAddress),
    ask<boolean>("allowedOsImages", ZeroHash),
  ]);
  // Only a contract that answers isAppAllowed is read as a policy; one that claims ITimelockedAppAuth but does not
  // answer its views is not one (it is graded as an AppAuth without a timelock, or refused by notAnAppAuth).
  const timelocked =
    supportsTimelocked === true && isAppAllowed !== undefined
      ? await readAppStatus(TimelockedAppAuth__factory.connect(app, provider), block.number).catch(notAnswered)
      : undefined;
  const ownerIsContract = owner === undefined ? undefined : (await provider.getCode(owner, block.number)) !== "0x";
  if (compose !== undefined && timelocked === undefined) {
    compose.allowedOnChain = await ask<boolean>("allowedComposeHashes", compose.sha256);
  }
  const otherTimelock =
    timelocked === undefined && isAppAllowed !== undefined
      ? await readOtherTimelock(provider, probe, owner, ownerIsContract === true, block.number)
      : undefined;
  let kms: DevProofSnapshot["kms"];
  if (options.kms !== undefined) {
    const registry = new Contract(options.kms, KMS_ABI, provider);
    const kmsOwner = await registry
      .getFunction("owner")
      .staticCall(at)
      .then((value) => value as string, notAnswered);
    kms = {
      address: options.kms,
      registered: (await registry.getFunction("registeredApps").staticCall(app, at)) as boolean,
      owner: kmsOwner,
      ownerIsContract: kmsOwner === undefined ? undefined : (await provider.getCode(kmsOwner, block.number)) !== "0x",
      proxy: await readProxySlots(provider, options.kms, block.number),
      // A KMS without kmsInfo (an older one) publishes no CA key: the report then cannot check the pin.
      caPubkey: await readKmsInfo(provider, options.kms, block.number).then(
        (info) => info.caPubkey,
        (error: unknown) => notAnswered(error),
      ),
    };
  }
  return {
    ...base,
    kms,
    hasCode: true,
    supportsAppAuth: supportsAppAuth === true,
    answersErc165: supportsAppAuth !== undefined,
    isAppAllowedProbe: isAppAllowed === undefined ? "reverts" : "answers",
    // A KMS answers all three; a contract that answers anything with one word answers only the first two.
    isKms: registeredApps !== undefined && allowedOsImages !== undefined && isAppAllowed !== undefined,
    supportsBasicManagement: supportsBasicManagement === true,
    timelocked,
    otherTimelock,
    proxy,
    owner,
    ownerIsContract,
  };
}

/**
 * Recognises a timelocked AppAuth that is not ours (see `OtherTimelock`): the tutorial's notice-per-proposal shape
 * (`noticePeriod()` and `proposedAt(bytes32)` answer), or an owner that answers OpenZeppelin's `getMinDelay()`.
 * Undefined when neither: the contract is judged as an instant AppAuth.
 */
async function readOtherTimelock(
  provider: Provider,
  probe: Contract,
  owner: string | undefined,
  ownerIsContract: boolean,
  blockNumber: number,
): Promise<DevProofSnapshot["otherTimelock"]> {
  const at = { blockTag: blockNumber };
  const ask = (method: string, ...args: unknown[]) =>
    probe
      .getFunction(method)
      .staticCall(...args, at)
      .then((value) => value as bigint, notAnswered);
  const [noticePeriod, proposedAtZero] = await Promise.all([ask("noticePeriod"), ask("proposedAt", ZeroHash)]);
  if (typeof noticePeriod === "bigint" && typeof proposedAtZero === "bigint") {
    let proposals: Array<{ composeHash: string; proposedAt: bigint; activatesAt: bigint }> | undefined;
    try {
      const logs = await probe.queryFilter(probe.filters["ComposeHashProposed"]!(), 0, blockNumber);
      // Newest first, and only so many: anyone can make the owner's proposals many; each costs one call here.
      const hashes = [...new Set(logs.map((log) => log.topics[1]!.toLowerCase()).reverse())].slice(
        0,
        4 * MAX_OTHER_PROPOSALS,
      );
      proposals = [];
      for (const composeHash of hashes) {
        if (proposals.length >= MAX_OTHER_PROPOSALS) break;
        const proposedAt = await ask("proposedAt", composeHash);
        if (typeof proposedAt === "bigint" && proposedAt !== 0n) {
          proposals.push({ composeHash, proposedAt, activatesAt: proposedAt + noticePeriod });
        }
      }
    } catch {
      // Public RPCs cap the range of eth_getLogs: say the proposals were not read, rather than fail the report.
      proposals = undefined;
    }
    return { kind: "notice-per-hash", noticePeriod, proposals };
  }
  if (owner === undefined || !ownerIsContract) return undefined;
  const minDelay = await new Contract(owner, TIMELOCK_CONTROLLER_ABI, provider)
    .getFunction("getMinDelay")
    .staticCall(at)
    .then((value) => value as bigint, notAnswered);
  return minDelay === undefined ? undefined : { kind: "owner-timelock", owner, minDelay };
}

/**
 * Undefined when a contract call reverted or answered garbage: the contract does not answer it. Anything else (a node
 * that is down, times out, fails) is thrown on, rather than make a genuine AppAuth look like none.
 */
function notAnswered(error: unknown): undefined {
  if (isContractRefusal(error)) return undefined;
  throw error;
}

/**
 * A boot of `app` that nothing allows, for the call dstack's KMS makes at every boot: a genuine AppAuth answers it
 * with (false, reason), with or without ERC-165; anything else reverts or returns data that is not (bool, string).
 */
function probeBootOf(app: string) {
  return {
    appId: app,
    composeHash: ZeroHash,
    instanceId: ZeroAddress,
    deviceId: ZeroHash,
    mrAggregated: ZeroHash,
    mrSystem: ZeroHash,
    osImageHash: ZeroHash,
    tcbStatus: "UpToDate",
    advisoryIds: [],
  };
}

/**
 * Whether `address` answers dstack's `isAppAllowed` as an AppAuth does (see {@link probeBootOf}): what tells an
 * AppAuth without ERC-165 (dstack's own before June 2025) from a contract that is none. A failing node throws.
 */
export async function answersIsAppAllowed(provider: Provider, address: string): Promise<boolean> {
  try {
    await new Contract(address, PROBE_ABI, provider).getFunction("isAppAllowed").staticCall(probeBootOf(address));
    return true;
  } catch (error) {
    return notAnswered(error) ?? false;
  }
}

/**
 * Whether the contract at `address` is a dstack AppAuth, i.e. something dstack's KMS can ask: it says so through
 * ERC-165 (`supportsInterface(0x1e079198)`), or, like dstack's own AppAuth before June 2025, has no ERC-165 but answers
 * `isAppAllowed`. A failing node throws.
 */
export async function isDstackAppAuth(provider: Provider, address: string): Promise<boolean> {
  return (
    (await supportsInterfaceOf(provider, address, APP_AUTH_INTERFACE_ID)) ||
    (await answersIsAppAllowed(provider, address))
  );
}

/**
 * Asks a contract's ERC-165 `supportsInterface`; false when it does not answer (no ERC-165, or no contract). A failing
 * node throws.
 */
export async function supportsInterfaceOf(provider: Provider, address: string, interfaceId: string): Promise<boolean> {
  try {
    return (await new Contract(address, PROBE_ABI, provider)
      .getFunction("supportsInterface")
      .staticCall(interfaceId)) as boolean;
  } catch (error) {
    if (isContractRefusal(error)) return false;
    throw error;
  }
}

/** The non-zero EIP-1967 slots, as addresses. */
export async function readProxySlots(
  provider: Provider,
  address: string,
  blockTag: number | "latest" = "latest",
): Promise<DevProofSnapshot["proxy"]> {
  const entries = await Promise.all(
    Object.entries(EIP1967_SLOTS).map(async ([name, slot]) => {
      const word = await provider.getStorage(address, slot, blockTag);
      return [name, BigInt(word) === 0n ? undefined : getAddress(toBeHex(BigInt(word) & ((1n << 160n) - 1n), 20))];
    }),
  );
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined));
}
