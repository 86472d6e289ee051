/**
 * What the guest agent reads from a TimelockedAppAuth: the current release and whether it is still allowed, at a
 * given block. Three view functions and the one log that carries the release's URI; nothing that sends.
 *
 * Why not `lib/appAuth.ts`: that module binds the whole contract through the TypeChain factories, which exist only
 * after `npx hardhat compile`. The agent's container image is built from its own small lockfile, without Hardhat or
 * a Solidity compiler, so its binding cannot need generated code at run time. The ABI of the three views is
 * therefore written out here, typed against the generated `ITimelockedAppAuth` (a type-only import, erased when
 * bundled), and `test/lib/release.test.ts` proves that each fragment and the interface id equal the compiled ones.
 */
import { AbiCoder, Contract, getBytes, Interface, keccak256, type ContractRunner } from "ethers";

import type { ITimelockedAppAuth } from "../types/ethers-contracts/index.js";
import { UserError } from "./errors.js";
import { callView, decodeUtf8 } from "./untrusted/decode.js";
import { quoted } from "./untrusted/text.js";

/** The views of `ITimelockedAppAuth` the agent calls, as the compiler declares them. */
export const RELEASE_READER_ABI = [
  "function currentRelease() view returns (bytes32 composeHash, uint64 uriBlock, uint64 setAt)",
  "function allowedComposeHashes(bytes32 composeHash) view returns (bool)",
  "function supportsInterface(bytes4 interfaceId) view returns (bool)",
] as const;

/**
 * `type(ITimelockedAppAuth).interfaceId`, written out for the same reason as the ABI; equal to
 * `TIMELOCKED_APP_AUTH_INTERFACE_ID` of `lib/appAuth.ts`, which computes it from the compiled interface (tested).
 */
export const TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL = "0x26203eef";

/**
 * The functions `ITimelockedAppAuth` declares itself (not those it inherits from `IAppAuth`), whose selectors XOR to
 * {@link TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL}; written out for the same reason, and checked against the compiled
 * interface (test/lib/release.test.ts). A TimelockedAppAuth's runtime code dispatches every one of them, so their
 * selectors are what the guest agent looks for in proven code (lib/verified/timelockedAppAuth.ts): the interface id
 * itself need not be in the code as 4 bytes, since the optimizer may push `bytes4` constants shifted.
 */
export const TIMELOCKED_APP_AUTH_FUNCTIONS = [
  "activateAllowAnyDevice()",
  "activateAllowOutdatedTcb()",
  "activateComposeHash(bytes32)",
  "activateComposeHashAndRetire(bytes32,bytes32[])",
  "activateDevice(bytes32)",
  "activateNoticePeriod(uint256)",
  "activateOsMeasurement(uint8,bytes32)",
  "activateUnpinOs(uint8)",
  "allowAnyDevice()",
  "allowedComposeHashes(bytes32)",
  "allowedDeviceIds(bytes32)",
  "allowedOsMeasurement(uint8,bytes32)",
  "cancelAllowAnyDevice()",
  "cancelAllowOutdatedTcb()",
  "cancelComposeHash(bytes32)",
  "cancelDevice(bytes32)",
  "cancelNoticePeriod(uint256)",
  "cancelOsMeasurement(uint8,bytes32)",
  "cancelUnpinOs(uint8)",
  "composeHashAllowedAt(bytes32)",
  "composeHashUriBlock(bytes32)",
  "currentRelease()",
  "disableUpgrades()",
  "getComposeHashes()",
  "getComposeHashesPage(uint256,uint256)",
  "getDevices()",
  "getDevicesPage(uint256,uint256)",
  "getOsMeasurements(uint8)",
  "getOsMeasurementsPage(uint8,uint256,uint256)",
  "getProposal(bytes32)",
  "getProposals()",
  "getTimelock()",
  "lengthenNoticePeriod(uint256)",
  "noticePeriod()",
  "osPinned(uint8)",
  "pinOs(uint8,bytes32)",
  "proposalId(uint8,bytes32)",
  "proposeAllowAnyDevice()",
  "proposeAllowOutdatedTcb()",
  "proposeComposeHash(bytes32,string)",
  "proposeDevice(bytes32)",
  "proposeNoticePeriod(uint256)",
  "proposeOsMeasurement(uint8,bytes32)",
  "proposeUnpinOs(uint8)",
  "removeComposeHash(bytes32)",
  "removeDevice(bytes32)",
  "removeOsMeasurement(uint8,bytes32)",
  "requireTcbUpToDate()",
  "requireUpToDateTcb()",
  "restrictDevices()",
  "rollBackTo(bytes32)",
  "upgradesDisabled()",
] as const;

export type ReleaseReader = Pick<ITimelockedAppAuth, "currentRelease" | "allowedComposeHashes" | "supportsInterface">;

const ZERO_HASH = `0x${"0".repeat(64)}`;

/** Binds the three views at `address`; nothing is checked until {@link checkReleaseReader}. */
export function connectReleaseReader(address: string, runner: ContractRunner): ReleaseReader {
  return new Contract(address, RELEASE_READER_ABI, runner) as unknown as ReleaseReader;
}

/**
 * Checks, at `blockTag`, that there is code at the address and that it says it is a TimelockedAppAuth (ERC-165),
 * so an agent configured with a wrong address or chain refuses to start instead of waiting for a release forever.
 */
export async function checkReleaseReader(reader: ReleaseReader, blockTag: number): Promise<void> {
  const contract = reader as unknown as Contract;
  const address = await contract.getAddress();
  const provider = contract.runner?.provider;
  if (provider == null) throw new Error("the release reader is not connected to a provider");
  if ((await provider.getCode(address, blockTag)) === "0x") {
    throw new UserError(
      `no contract at ${address} at block ${blockTag}: check the AppAuth address and the RPC's chain`,
    );
  }
  let supported = false;
  try {
    supported = await reader.supportsInterface(TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL, { blockTag });
  } catch {
    // No ERC-165: not ours either.
  }
  if (!supported) {
    throw new UserError(
      `the contract at ${address} is not a TimelockedAppAuth ` +
        `(supportsInterface(${TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL}) is not true)`,
    );
  }
}

/** The release the agents should run, as the contract said at one block. */
export interface Release {
  /** `0x`-prefixed lower-case sha256 of the exact bytes of its app-compose.json. */
  composeHash: string;
  /** Where its app-compose.json can be fetched; when `uriProblem` is set, its lossy form, not to be fetched. */
  uri: string;
  /**
   * Why the URI is refused: its bytes are not UTF-8 (an owner can store any bytes), so no file can be fetched from
   * it, or (read from proofs) it is longer than the agent reads. Absent for a URI that can be used.
   */
  uriProblem?: string;
  /** When it became the current release (chain time, seconds). */
  setAt: bigint;
  /** False once the owner removed the hash: then nothing may run it, although `currentRelease` still names it. */
  allowed: boolean;
}

/**
 * A release's URI from its bytes as decoded (`decodeUtf8` of lib/untrusted/decode.ts): the text, or, for bytes
 * that are not UTF-8, the lossy form with the reason it is refused. Every reader of a release (views, proven storage)
 * builds it here, so the agent and the bench refuse it alike.
 */
export function releaseUri(
  composeHash: string,
  decoded: { text: string; valid: boolean },
): Pick<Release, "uri" | "uriProblem"> {
  if (decoded.valid) return { uri: decoded.text };
  return {
    uri: decoded.text,
    uriProblem:
      `the compose URI of release ${composeHash} is not UTF-8 (as far as it decodes: ${quoted(decoded.text)}): ` +
      `no file can be fetched from it`,
  };
}

/** The event whose log carries a compose file's URI (the contract stores only the number of its block). */
export const CHANGE_PROPOSED_EVENT =
  "event ChangeProposed(bytes32 indexed id, uint8 indexed kind, bytes32 indexed value, uint64 readyAt, uint64 expiresAt, string uri)";

const changeProposedTopic = new Interface([CHANGE_PROPOSED_EVENT]).getEvent("ChangeProposed")!.topicHash;
/** `ChangeKind.AddComposeHash`. */
const ADD_COMPOSE_HASH = 0n;

/** `proposalId(AddComposeHash, composeHash)`, the first indexed topic of its ChangeProposed logs. */
export function composeHashProposalId(composeHash: string): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["uint8", "bytes32"], [ADD_COMPOSE_HASH, composeHash]));
}

/** What storage says of where a compose hash's URI is: the block of its ChangeProposed log, and (if read) its readyAt. */
export interface ComposeUriPointer {
  uriBlock: bigint;
  /** The proposal's `readyAt` as stored (proven storage has it; the views do not): checked against the log's. */
  readyAt?: bigint;
}

/** The log storage points at is missing or does not match what storage holds. */
export class ComposeUriLogError extends UserError {
  override name = "ComposeUriLogError";
}

/**
 * The URI of `composeHash`, from the ChangeProposed log at the block its storage points at: one `eth_getLogs` (that
 * block, the contract's address, the event's topic and the proposal id). Of that block's logs for the hash, the last
 * one is the one storage holds (a proposal cancelled and made again in one block leaves two); it must name the hash
 * as `AddComposeHash` and, when the stored `readyAt` is given, carry it. The RPC's answer is not proven: whoever
 * fetches the compose file still holds it to the compose hash, so a lying RPC can only make it unfetchable.
 */
/** A log as `eth_getLogs` gives it (ethers' `Log` has these fields). */
export interface RawLog {
  address: string;
  blockNumber: number;
  /** Its position in the block (`logIndex`). */
  index: number;
  topics: readonly string[];
  data: string;
}

/** Where logs are asked for: an ethers provider, or one endpoint of the verified reader. */
export interface LogSource {
  getLogs(filter: {
    address: string;
    fromBlock: number;
    toBlock: number;
    topics: string[];
  }): Promise<readonly RawLog[]>;
}

export async function readComposeUri(
  provider: LogSource,
  appAuth: string,
  composeHash: string,
  pointer: ComposeUriPointer,
): Promise<Pick<Release, "uri" | "uriProblem">> {
  const id = composeHashProposalId(composeHash);
  const block = Number(pointer.uriBlock);
  const logs = await provider.getLogs({
    address: appAuth,
    fromBlock: block,
    toBlock: block,
    topics: [changeProposedTopic, id],
  });
  const matching = logs
    .filter(
      (log) =>
        log.address.toLowerCase() === appAuth.toLowerCase() &&
        log.blockNumber === block &&
        log.topics.length === 4 &&
        log.topics[0] === changeProposedTopic &&
        log.topics[1]!.toLowerCase() === id &&
        BigInt(log.topics[2]!) === ADD_COMPOSE_HASH &&
        log.topics[3]!.toLowerCase() === composeHash.toLowerCase(),
    )
    .sort((a, b) => a.index - b.index);
  const last = matching.at(-1);
  if (last === undefined) {
    throw new ComposeUriLogError(
      `no ChangeProposed log of ${composeHash} in block ${block} of ${appAuth}, where its storage points`,
    );
  }
  let readyAt: bigint;
  let uriBytes: string;
  try {
    // `string` and `bytes` encode alike: decoded as bytes, a URI that is not UTF-8 is refused by name below.
    const decoded = AbiCoder.defaultAbiCoder().decode(["uint64", "uint64", "bytes"], last.data);
    readyAt = decoded[0] as bigint;
    uriBytes = decoded[2] as string;
  } catch {
    throw new ComposeUriLogError(`the ChangeProposed log of ${composeHash} in block ${block} does not decode`);
  }
  if (pointer.readyAt !== undefined && readyAt !== pointer.readyAt) {
    throw new ComposeUriLogError(
      `the ChangeProposed log of ${composeHash} in block ${block} says readyAt ${readyAt}, storage ${pointer.readyAt}`,
    );
  }
  return releaseUri(composeHash, decodeUtf8(getBytes(uriBytes)));
}

const currentReleaseFragment = new Interface(RELEASE_READER_ABI).getFunction("currentRelease")!;

/**
 * Reads the current release at `blockTag`; undefined before the first release. Both reads see the same block. The
 * result is decoded field by field: a URI that is not UTF-8 comes back refused (`uriProblem`), not as ethers' decoding
 * error, so a hostile URI is named as such.
 */
export async function readReleaseAt(reader: ReleaseReader, blockTag: number): Promise<Release | undefined> {
  const contract = reader as unknown as Contract;
  const provider = contract.runner?.provider;
  if (provider == null) throw new Error("the release reader is not connected to a provider");
  const decoded = await callView(provider, await contract.getAddress(), currentReleaseFragment, [], blockTag);
  const composeHash = (decoded.values["composeHash"] as string).toLowerCase();
  if (composeHash === ZERO_HASH) return undefined;
  const allowed = await reader.allowedComposeHashes(composeHash, { blockTag });
  const uriBlock = decoded.values["uriBlock"] as bigint;
  const uri =
    allowed && uriBlock !== 0n
      ? await readComposeUri(provider, await contract.getAddress(), composeHash, { uriBlock })
      : { uri: "" };
  return {
    composeHash,
    ...uri,
    setAt: decoded.values["setAt"] as bigint,
    allowed,
  };
}

/** Whether `composeHash` is allowed at `blockTag` (for a release that runs but is no longer the current one). */
export async function isComposeHashAllowedAt(
  reader: ReleaseReader,
  composeHash: string,
  blockTag: number,
): Promise<boolean> {
  return reader.allowedComposeHashes(composeHash, { blockTag });
}
