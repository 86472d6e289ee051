/**
 * Reading and driving a deployed TimelockedAppAuth: connection with checks, a full status snapshot, the history
 * from events, the generic propose/activate/cancel calls of the five widening changes, and decoded reverts.
 * Free of Hardhat, so scripts and the guest agent can use it with any ethers provider or signer.
 */
import { AbiCoder, keccak256, toBeHex, type ContractRunner, type Interface, type Log, type Provider } from "ethers";

import {
  IAppAuth__factory,
  ITimelockedAppAuth__factory,
  TimelockedAppAuth__factory,
  type TimelockedAppAuth,
} from "../types/ethers-contracts/index.js";
import { isContractRefusal } from "./contractRefusal.js";
import { UserError } from "./errors.js";
import { formatDate, formatDuration } from "./format.js";
import { ComposeUriLogError, readComposeUri, type ComposeUriPointer } from "./release.js";
import { decodeEventLog, describeRefusedLog, eventFragmentOf, refusalReason } from "./untrusted/decode.js";
import { shown } from "./untrusted/text.js";

// ---------------------------------------------------------------------------------------------------------------
// Enums of ITimelockedAppAuth (same order as in Solidity; a test checks them against the contract)
// ---------------------------------------------------------------------------------------------------------------

export const CHANGE_KINDS = [
  "AddComposeHash",
  "AddDevice",
  "AllowAnyDevice",
  "AllowOutdatedTcb",
  "ShortenNotice",
  "AddMrSystem",
  "AddOsImageHash",
  "UnpinMrSystem",
  "UnpinOsImageHash",
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/**
 * `ITimelockedAppAuth.OsMeasurement`: the OS measurements an app may pin, in the contract's order, with the name the
 * tasks take (`--field`) and the words they print.
 */
export const OS_FIELDS = [
  { name: "MrSystem", option: "mr-system", label: "mrSystem", bootKey: "mrSystem" },
  { name: "OsImageHash", option: "os-image", label: "OS image hash", bootKey: "osImageHash" },
] as const;
export type OsField = 0 | 1;

export const PROPOSAL_STATES = ["None", "Waiting", "Ready", "Expired", "Voided"] as const;
export type ProposalState = (typeof PROPOSAL_STATES)[number];

/** Converts a Solidity enum value returned by ethers to its name. */
function enumName<const Names extends readonly string[]>(names: Names, value: bigint | number): Names[number] {
  const name = names[Number(value)];
  if (name === undefined) throw new Error(`unknown enum value ${value} (expected 0..${names.length - 1})`);
  return name;
}

export const changeKindOf = (value: bigint | number): ChangeKind => enumName(CHANGE_KINDS, value);
export const proposalStateOf = (value: bigint | number): ProposalState => enumName(PROPOSAL_STATES, value);

// ---------------------------------------------------------------------------------------------------------------
// Interface ids and connection
// ---------------------------------------------------------------------------------------------------------------

/** XOR of the selectors of the functions an interface declares itself (Solidity's `type(I).interfaceId`). */
function interfaceIdOf(iface: Interface, inherited: Interface): string {
  let id = 0;
  iface.forEachFunction((fragment) => {
    if (inherited.getFunction(fragment.selector) === null) id ^= Number.parseInt(fragment.selector.slice(2), 16);
  });
  return toBeHex(id >>> 0, 4);
}

/** dstack's `IAppAuth` interface id, which the KMS relies on. */
export const APP_AUTH_INTERFACE_ID = "0x1e079198";
/** `type(ITimelockedAppAuth).interfaceId`: tells a TimelockedAppAuth from any other contract. */
export const TIMELOCKED_APP_AUTH_INTERFACE_ID = interfaceIdOf(
  ITimelockedAppAuth__factory.createInterface(),
  IAppAuth__factory.createInterface(),
);

/** The full ABI (with Ownable's functions and errors), used to decode every event and revert. */
export const appAuthInterface = TimelockedAppAuth__factory.createInterface();

/**
 * Connects to the TimelockedAppAuth at `address` after checking that there is code there and that it says it is
 * one (ERC-165), so a wrong address or network fails with a clear message before anything is sent.
 * @param where how to name the network in messages, e.g. `network "localhost" (chain 31337)`.
 */
export async function connectAppAuth(
  address: string,
  runner: ContractRunner,
  where: string,
): Promise<TimelockedAppAuth> {
  const provider = runner.provider;
  if (provider == null) throw new Error("the runner has no provider");
  const code = await provider.getCode(address);
  if (code === "0x") {
    throw new UserError(`no contract at ${address} on ${where}: check --app and --network`);
  }
  const appAuth = TimelockedAppAuth__factory.connect(address, runner);
  let supported = false;
  try {
    supported = await appAuth.supportsInterface(TIMELOCKED_APP_AUTH_INTERFACE_ID);
  } catch (error) {
    // A contract without ERC-165 reverts or returns garbage: it is not ours either. A failing node is another matter.
    if (!isContractRefusal(error)) throw error;
  }
  if (!supported) {
    throw new UserError(
      `the contract at ${address} on ${where} is not a TimelockedAppAuth ` +
        `(supportsInterface(${TIMELOCKED_APP_AUTH_INTERFACE_ID}) is not true): check --app`,
    );
  }
  return appAuth;
}

// ---------------------------------------------------------------------------------------------------------------
// The five widening changes, and the calls that propose, activate and cancel them
// ---------------------------------------------------------------------------------------------------------------

/** A widening change as the contract identifies it: a kind and a bytes32 value (zero for the flags). */
export interface Change {
  kind: ChangeKind;
  value: string;
}

export const ZERO_BYTES32 = `0x${"0".repeat(64)}`;

export const composeHashChange = (composeHash: string): Change => ({ kind: "AddComposeHash", value: composeHash });
export const deviceChange = (deviceId: string): Change => ({ kind: "AddDevice", value: deviceId });
export const allowAnyDeviceChange = (): Change => ({ kind: "AllowAnyDevice", value: ZERO_BYTES32 });
export const allowOutdatedTcbChange = (): Change => ({ kind: "AllowOutdatedTcb", value: ZERO_BYTES32 });
export const shortenNoticeChange = (seconds: bigint): Change => ({
  kind: "ShortenNotice",
  value: toBeHex(seconds, 32),
});
export const osMeasurementChange = (field: OsField, value: string): Change => ({
  kind: field === 0 ? "AddMrSystem" : "AddOsImageHash",
  value,
});
export const unpinOsChange = (field: OsField): Change => ({
  kind: field === 0 ? "UnpinMrSystem" : "UnpinOsImageHash",
  value: ZERO_BYTES32,
});

/** The OS measurement an OS change is about; undefined for the other kinds. */
export function osFieldOf(kind: ChangeKind): OsField | undefined {
  if (kind === "AddMrSystem" || kind === "UnpinMrSystem") return 0;
  if (kind === "AddOsImageHash" || kind === "UnpinOsImageHash") return 1;
  return undefined;
}

/** `keccak256(abi.encode(kind, value))`, as the contract computes it. */
export function proposalIdOf(change: Change): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(["uint8", "bytes32"], [CHANGE_KINDS.indexOf(change.kind), change.value]),
  );
}

/** What a change does, in words: "add compose hash 0x…", "shorten the notice to 1d 0h 0m". */
export function describeChange(change: Change): string {
  switch (change.kind) {
    case "AddComposeHash":
      return `add compose hash ${change.value}`;
    case "AddDevice":
      return `add device ${change.value}`;
    case "AllowAnyDevice":
      return "allow any device";
    case "AllowOutdatedTcb":
      return "allow an out-of-date TCB";
    case "ShortenNotice":
      return `shorten the notice period to ${formatDuration(BigInt(change.value))}`;
    case "AddMrSystem":
    case "AddOsImageHash":
      return `allow ${OS_FIELDS[osFieldOf(change.kind)!].label} ${change.value} (OS pin)`;
    case "UnpinMrSystem":
    case "UnpinOsImageHash":
      return `unpin the ${OS_FIELDS[osFieldOf(change.kind)!].label} (any value allowed)`;
  }
}

export type AppAuthFunction = Parameters<TimelockedAppAuth["interface"]["getFunction"]>[0];

/**
 * A contract call by name, so every task sends (and prints, and decodes) through one path. `Method` names a function
 * of the contract called: the AppAuth's by default, the ReplicationRegistry's for the registry tasks.
 */
export interface ContractCall<Method extends string = AppAuthFunction> {
  method: Method;
  args: unknown[];
}

const FUNCTION_SUFFIX: Record<ChangeKind, string> = {
  AddComposeHash: "ComposeHash",
  AddDevice: "Device",
  AllowAnyDevice: "AllowAnyDevice",
  AllowOutdatedTcb: "AllowOutdatedTcb",
  ShortenNotice: "NoticePeriod",
  AddMrSystem: "OsMeasurement",
  AddOsImageHash: "OsMeasurement",
  UnpinMrSystem: "UnpinOs",
  UnpinOsImageHash: "UnpinOs",
};

/**
 * The call that proposes, activates or cancels a change: `activateDevice(id)`, `cancelAllowAnyDevice()`,
 * `proposeComposeHash(hash, uri)`, `activateNoticePeriod(seconds)`, ...
 */
export function changeCall(action: "propose" | "activate" | "cancel", change: Change, uri = ""): ContractCall {
  const method = `${action}${FUNCTION_SUFFIX[change.kind]}` as AppAuthFunction;
  switch (change.kind) {
    case "AddComposeHash":
      return { method, args: action === "propose" ? [change.value, uri] : [change.value] };
    case "AddDevice":
      return { method, args: [change.value] };
    case "AllowAnyDevice":
    case "AllowOutdatedTcb":
      return { method, args: [] };
    case "ShortenNotice":
      return { method, args: [BigInt(change.value)] };
    case "AddMrSystem":
    case "AddOsImageHash":
      return { method, args: [osFieldOf(change.kind), change.value] };
    case "UnpinMrSystem":
    case "UnpinOsImageHash":
      return { method, args: [osFieldOf(change.kind)] };
  }
}

/** Encodes a call, for an owner that is a multisig and submits it through its own interface. */
export function encodeCall(call: ContractCall): string {
  const iface: Interface = appAuthInterface;
  return iface.encodeFunctionData(call.method, call.args);
}

// ---------------------------------------------------------------------------------------------------------------
// Status snapshot
// ---------------------------------------------------------------------------------------------------------------

export interface ProposalInfo extends Change {
  id: string;
  readyAt: bigint;
  expiresAt: bigint;
  state: ProposalState;
  uri: string;
}

export interface AppStatus {
  address: string;
  chainId: bigint;
  /** Everything below was read at this block, so the snapshot is consistent. */
  blockNumber: number;
  /** The chain's clock at that block: what the contract compares `readyAt` with. */
  timestamp: bigint;
  owner: string;
  /** The address that must accept a two-step ownership transfer, if one is under way. */
  pendingOwner: string | undefined;
  noticePeriod: bigint;
  minNoticePeriod: bigint;
  maxNoticePeriod: bigint;
  gracePeriod: bigint;
  upgradesDisabled: boolean;
  allowAnyDevice: boolean;
  requireTcbUpToDate: boolean;
  /** Every allowed compose hash, with when it became allowed (unix seconds; the deployment for the genesis one). */
  composeHashes: Array<{ composeHash: string; uri: string; isCurrentRelease: boolean; allowedAt: bigint }>;
  devices: string[];
  /**
   * The app's OS pins, per field in {@link OS_FIELDS} order: when `pinned`, isAppAllowed refuses any boot whose value
   * is not in `values` ("OS not allowed by the app"); when not, the app takes whatever OS the KMS allows.
   */
  os: Array<{ pinned: boolean; values: string[] }>;
  /** Undefined before the first release. */
  currentRelease: { composeHash: string; uri: string; setAt: bigint } | undefined;
  proposals: ProposalInfo[];
  /**
   * The owner writes the compose URIs, any bytes it likes: each URI that is not UTF-8 is named here (e.g.
   * `getProposals: proposals[0].uri is not UTF-8`) and kept above in its lossy form (U+FFFD in place of each bad
   * sequence). Absent when every string read is clean.
   */
  unreadable?: string[];
}

const ZERO_ADDRESS = `0x${"0".repeat(40)}`;

/** A proposal as `getProposal`/`getProposals` return it. */
export interface ProposalViewResult {
  id: string;
  kind: bigint;
  value: string;
  readyAt: bigint;
  expiresAt: bigint;
  state: bigint;
  uriBlock: bigint;
}

/**
 * The URI that `uriBlock` points at for `composeHash` (its ChangeProposed log; "" for no block). `problem` says why
 * it cannot be used: "is not UTF-8" (the URI is then its lossy form), or the log is missing or does not match storage
 * (the URI is then empty).
 */
export async function composeUriOf(
  appAuth: TimelockedAppAuth,
  composeHash: string,
  pointer: ComposeUriPointer,
): Promise<{ uri: string; problem?: string }> {
  if (pointer.uriBlock === 0n) return { uri: "" };
  try {
    const read = await readComposeUri(requireProvider(appAuth), await appAuth.getAddress(), composeHash, pointer);
    return read.uriProblem === undefined ? { uri: read.uri } : { uri: read.uri, problem: "is not UTF-8" };
  } catch (error) {
    if (error instanceof ComposeUriLogError) return { uri: "", problem: `cannot be read: ${error.message}` };
    throw error;
  }
}

/** A proposal with its compose URI read from its ChangeProposed log (see {@link composeUriOf}). */
export async function toProposalInfo(
  appAuth: TimelockedAppAuth,
  view: ProposalViewResult,
): Promise<ProposalInfo & { uriProblem?: string }> {
  const { uri, problem } = await composeUriOf(appAuth, view.value, { uriBlock: view.uriBlock, readyAt: view.readyAt });
  return {
    id: view.id,
    kind: changeKindOf(view.kind),
    value: view.value,
    readyAt: view.readyAt,
    expiresAt: view.expiresAt,
    state: proposalStateOf(view.state),
    uri,
    ...(problem === undefined ? {} : { uriProblem: problem }),
  };
}

/** Reads the proposal of a change (state `None` when there is none). */
export async function readProposal(appAuth: TimelockedAppAuth, change: Change): Promise<ProposalInfo> {
  return toProposalInfo(appAuth, await appAuth.getProposal(proposalIdOf(change)));
}

/**
 * Whether the policy already allows what a change would allow: the hash or device is listed, any device is allowed,
 * an out-of-date TCB is accepted, the notice is already that value. Read from state, so it is right whatever the
 * history (genesis, activation) and whatever the node keeps of its logs.
 */
export async function isChangeInEffect(appAuth: TimelockedAppAuth, change: Change): Promise<boolean> {
  switch (change.kind) {
    case "AddComposeHash":
      return appAuth.allowedComposeHashes(change.value);
    case "AddDevice":
      return appAuth.allowedDeviceIds(change.value);
    case "AllowAnyDevice":
      return appAuth.allowAnyDevice();
    case "AllowOutdatedTcb":
      return !(await appAuth.requireTcbUpToDate());
    case "ShortenNotice":
      return (await appAuth.noticePeriod()) === BigInt(change.value);
    case "AddMrSystem":
    case "AddOsImageHash":
      return appAuth.allowedOsMeasurement(osFieldOf(change.kind)!, change.value);
    case "UnpinMrSystem":
    case "UnpinOsImageHash":
      return !(await appAuth.osPinned(osFieldOf(change.kind)!));
  }
}

/** One step in a proposal's life, from the contract's events. */
export interface ProposalEvent {
  event: "ChangeProposed" | "ChangeActivated" | "ChangeCancelled";
  blockNumber: number;
  /** The block's time, unix seconds. */
  timestamp: bigint;
  transactionHash: string;
  /** For `ChangeActivated`: who sent the activation. */
  activatedBy?: string;
}

const PROPOSAL_EVENTS = ["ChangeProposed", "ChangeActivated", "ChangeCancelled"] as const;

/**
 * The proposed / activated / cancelled events of one change, oldest first (the id is an indexed topic, so this is one
 * filtered `eth_getLogs`). The contract deletes a proposal once it is activated or cancelled, so only these events
 * tell "activated", "cancelled" and "never proposed" apart. Undefined when the node does not answer the query (public
 * RPCs cap the block range of `eth_getLogs`): the caller then says it cannot tell.
 */
export async function readProposalEvents(
  appAuth: TimelockedAppAuth,
  change: Change,
  fromBlock = 0,
): Promise<ProposalEvent[] | undefined> {
  const provider = requireProvider(appAuth);
  const topics = PROPOSAL_EVENTS.map((name) => appAuthInterface.getEvent(name)!.topicHash);
  let logs: Log[];
  try {
    logs = await provider.getLogs({
      address: await appAuth.getAddress(),
      topics: [topics, proposalIdOf(change)],
      fromBlock,
      toBlock: "latest",
    });
  } catch {
    return undefined;
  }
  logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  const timestamps = new Map<number, bigint>();
  const events: ProposalEvent[] = [];
  for (const log of logs) {
    const fragment = eventFragmentOf(appAuthInterface, log.topics[0]);
    if (fragment === null) continue;
    // Only the name, `readyAt` and `activatedBy` (an address) are read: the owner's URI in ChangeProposed is never
    // touched.
    const values = decodeEventLog(fragment, log).values;
    let timestamp = timestamps.get(log.blockNumber);
    if (timestamp === undefined) {
      timestamp = BigInt((await provider.getBlock(log.blockNumber))?.timestamp ?? 0);
      timestamps.set(log.blockNumber, timestamp);
    }
    if (fragment.name === "ChangeProposed" && announcesGenesisRelease(values["readyAt"], timestamp)) continue;
    const activatedBy = values["activatedBy"];
    events.push({
      event: fragment.name as ProposalEvent["event"],
      blockNumber: log.blockNumber,
      timestamp,
      transactionHash: log.transactionHash,
      ...(fragment.name === "ChangeActivated" ? { activatedBy: String(activatedBy) } : {}),
    });
  }
  return events;
}

/**
 * Reads everything a user or auditor needs to know about the app's policy, at one block: the latest, or
 * `blockNumber` (so that a caller reading other things too gets one consistent snapshot).
 */
export async function readAppStatus(appAuth: TimelockedAppAuth, blockNumber?: number): Promise<AppStatus> {
  const provider = requireProvider(appAuth);
  const block = await provider.getBlock(blockNumber ?? "latest");
  if (block === null) throw new Error("the node returned no latest block");
  const at = { blockTag: block.number };
  const [
    network,
    owner,
    pendingOwner,
    noticePeriod,
    minNoticePeriod,
    maxNoticePeriod,
    gracePeriod,
    upgradesDisabled,
    allowAnyDevice,
    requireTcbUpToDate,
    hashes,
    devices,
    release,
    proposals,
    os,
  ] = await Promise.all([
    provider.getNetwork(),
    appAuth.owner(at),
    appAuth.pendingOwner(at),
    appAuth.noticePeriod(at),
    appAuth.MIN_NOTICE_PERIOD(at),
    appAuth.MAX_NOTICE_PERIOD(at),
    appAuth.GRACE_PERIOD(at),
    appAuth.upgradesDisabled(at),
    appAuth.allowAnyDevice(at),
    appAuth.requireTcbUpToDate(at),
    readComposeHashes(appAuth, block.number),
    readDevices(appAuth, block.number),
    appAuth.currentRelease(at),
    appAuth.getProposals(at),
    Promise.all(
      OS_FIELDS.map(async (_, field) => ({
        pinned: await appAuth.osPinned(field, at),
        values: await readOsMeasurements(appAuth, field, block.number),
      })),
    ),
  ]);
  // The URIs are in the ChangeProposed logs the views point at: one eth_getLogs each. A URI that cannot be read (a
  // missing log, bytes that are not UTF-8) must not hide the rest of the policy (least of all a pending proposal)
  // from the people who watch it: it is named in `unreadable`.
  const uriReads = await Promise.all(
    hashes.map(async ({ composeHash }) =>
      composeUriOf(appAuth, composeHash, { uriBlock: await appAuth.composeHashUriBlock(composeHash, at) }),
    ),
  );
  const uris = uriReads.map((read) => read.uri);
  const [releaseHash, , releaseSetAt] = release;
  const releaseIndex = hashes.findIndex(({ composeHash }) => composeHash === releaseHash);
  const releaseUri = releaseIndex < 0 ? "" : (uris[releaseIndex] ?? "");
  const proposalInfos = await Promise.all(proposals.map((view) => toProposalInfo(appAuth, view)));
  const unreadable = [
    ...proposalInfos.flatMap((p, i) =>
      p.uriProblem === undefined ? [] : [`getProposals: proposals[${i}].uri ${p.uriProblem}`],
    ),
    ...uriReads.flatMap((read, i) =>
      read.problem === undefined ? [] : [`the URI of ${hashes[i]?.composeHash} ${read.problem}`],
    ),
  ];
  return {
    address: await appAuth.getAddress(),
    chainId: network.chainId,
    blockNumber: block.number,
    timestamp: BigInt(block.timestamp),
    owner,
    pendingOwner: pendingOwner === ZERO_ADDRESS ? undefined : pendingOwner,
    noticePeriod,
    minNoticePeriod,
    maxNoticePeriod,
    gracePeriod,
    upgradesDisabled,
    allowAnyDevice,
    requireTcbUpToDate,
    composeHashes: hashes.map(({ composeHash, allowedAt }, i) => ({
      composeHash,
      uri: uris[i] ?? "",
      isCurrentRelease: composeHash === releaseHash,
      allowedAt,
    })),
    devices,
    os,
    currentRelease:
      releaseHash === ZERO_BYTES32 ? undefined : { composeHash: releaseHash, uri: releaseUri, setAt: releaseSetAt },
    proposals: proposalInfos.map(({ uriProblem: _, ...info }) => info),
    ...(unreadable.length === 0 ? {} : { unreadable }),
  };
}

/** How many entries the paged list views return per call: about 2,300 gas each, far under any `eth_call` cap. */
export const LIST_PAGE_SIZE = 500;

/**
 * Every allowed compose hash with when it became allowed, at `blockTag`, read page by page so that however long the
 * owner made the list, no call passes an `eth_call` gas cap.
 */
export async function readComposeHashes(
  appAuth: TimelockedAppAuth,
  blockTag: number,
  pageSize = LIST_PAGE_SIZE,
): Promise<Array<{ composeHash: string; allowedAt: bigint }>> {
  const out: Array<{ composeHash: string; allowedAt: bigint }> = [];
  for (let start = 0; ; start += pageSize) {
    const [hashes, allowedAt, total] = await appAuth.getComposeHashesPage(start, pageSize, { blockTag });
    hashes.forEach((composeHash, i) => out.push({ composeHash, allowedAt: allowedAt[i] ?? 0n }));
    if (hashes.length === 0 || BigInt(start + hashes.length) >= total) return out;
  }
}

/** Every listed device at `blockTag`, page by page (see {@link readComposeHashes}). */
export async function readDevices(
  appAuth: TimelockedAppAuth,
  blockTag: number,
  pageSize = LIST_PAGE_SIZE,
): Promise<string[]> {
  const out: string[] = [];
  for (let start = 0; ; start += pageSize) {
    const [devices, total] = await appAuth.getDevicesPage(start, pageSize, { blockTag });
    out.push(...devices);
    if (devices.length === 0 || BigInt(start + devices.length) >= total) return out;
  }
}

/** The pinned values of one OS measurement at `blockTag`, page by page (see {@link readComposeHashes}). */
export async function readOsMeasurements(
  appAuth: TimelockedAppAuth,
  field: number,
  blockTag: number | "latest",
  pageSize = LIST_PAGE_SIZE,
): Promise<string[]> {
  const out: string[] = [];
  for (let start = 0; ; start += pageSize) {
    const [values, total] = await appAuth.getOsMeasurementsPage(field, start, pageSize, { blockTag });
    out.push(...values);
    if (values.length === 0 || BigInt(start + values.length) >= total) return out;
  }
}

/**
 * The downgrade surface: the allowed compose hashes other than the current release, oldest first. The owner can make
 * any of them the current release at once (`rollBackTo`), and any CVM may boot them.
 */
export function otherAllowedReleases(status: Pick<AppStatus, "composeHashes">): AppStatus["composeHashes"] {
  return status.composeHashes
    .filter((entry) => !entry.isCurrentRelease)
    .sort((a, b) => (a.allowedAt < b.allowedAt ? -1 : a.allowedAt > b.allowedAt ? 1 : 0));
}

/**
 * Whether a TimelockedAppAuth's `ChangeProposed` is the one its constructor emits to carry the genesis release's URI,
 * rather than a proposal: the genesis one is ready in its own block, while every proposal waits at least
 * `MIN_NOTICE_PERIOD` (one hour) from its block. Decided from the log and its block's time alone, so a reader needs
 * no call to the node for it.
 */
export function announcesGenesisRelease(readyAt: unknown, blockTimestamp: bigint | number): boolean {
  return typeof readyAt === "bigint" && readyAt <= BigInt(blockTimestamp);
}

function requireProvider(appAuth: TimelockedAppAuth): Provider {
  const provider = appAuth.runner?.provider;
  if (provider == null) throw new Error("the contract is not connected to a provider");
  return provider;
}

// ---------------------------------------------------------------------------------------------------------------
// History from events
// ---------------------------------------------------------------------------------------------------------------

export interface HistoryEntry {
  blockNumber: number;
  timestamp: bigint;
  transactionHash: string;
  logIndex: number;
  event: string;
  args: Record<string, unknown>;
  /** The event in words, e.g. "proposed: add compose hash 0x…, ready at …". */
  description: string;
  /** Set when the log was refused: why; the description then starts "refused event <name> in block <n>, log <i>:". */
  refused?: string;
}

/**
 * Reads every event the contract emitted in `[fromBlock, toBlock]`, oldest first. Public RPCs cap the block range of
 * `eth_getLogs`; pass the deployment block as `fromBlock` there.
 */
export async function readHistory(
  appAuth: TimelockedAppAuth,
  range: { fromBlock: number; toBlock?: number | "latest" },
): Promise<HistoryEntry[]> {
  const provider = requireProvider(appAuth);
  const logs = await provider.getLogs({
    address: await appAuth.getAddress(),
    fromBlock: range.fromBlock,
    toBlock: range.toBlock ?? "latest",
  });
  const timestamps = new Map<number, bigint>();
  for (const blockNumber of new Set(logs.map((log) => log.blockNumber))) {
    const block = await provider.getBlock(blockNumber);
    timestamps.set(blockNumber, BigInt(block?.timestamp ?? 0));
  }
  return logs.flatMap((log) => {
    const entry = decodeLog(log, timestamps.get(log.blockNumber) ?? 0n);
    return entry === undefined ? [] : [entry];
  });
}

/**
 * dstack's audit event (`PolicyChanged`), emitted next to each dstack event of a change (by dstack's DstackApp and by
 * TimelockedAppAuth): readers that describe changes skip it, as they would otherwise report each change twice.
 */
export const AUDIT_EVENT = "PolicyChanged";

/**
 * One log as a history entry; undefined for a log of an event the contract does not declare. Never throws: a log
 * whose strings are not UTF-8 (the owner writes the URIs) is an entry all the same, refused with its reason and
 * described as far as it decodes, so it neither hides the entries after it nor stops the reader.
 */
function decodeLog(log: Log, timestamp: bigint): HistoryEntry | undefined {
  const fragment = eventFragmentOf(appAuthInterface, log.topics[0]);
  // dstack's audit event repeats the dstack event of the same change, which the history already shows.
  if (fragment === null || fragment.name === AUDIT_EVENT) return undefined;
  const decoded = decodeEventLog(fragment, log);
  const args = decoded.values as Record<string, unknown>;
  let description: string | undefined;
  let problem = "it does not decode";
  if (decoded.complete) {
    try {
      description = describeEvent(fragment.name, args);
    } catch (error) {
      problem = `it cannot be described (${shown(String((error as Error)?.message ?? error), 120)})`;
    }
  }
  const entry = {
    blockNumber: log.blockNumber,
    timestamp,
    transactionHash: log.transactionHash,
    logIndex: log.index,
    event: fragment.name,
    args,
  };
  if (decoded.problems.length === 0 && description !== undefined) return { ...entry, description };
  const reason = decoded.problems.length > 0 ? refusalReason(decoded) : problem;
  const line = describeRefusedLog(fragment.name, log, reason);
  return {
    ...entry,
    description: description === undefined ? line : `${line}; as far as it decodes: ${description}`,
    refused: reason,
  };
}

/** One event in words. Unknown events fall back to their raw arguments. */
export function describeEvent(event: string, args: Record<string, unknown>): string {
  const change = (): Change => ({ kind: changeKindOf(args["kind"] as bigint), value: String(args["value"]) });
  switch (event) {
    case "NoticePeriodChanged":
      return args["oldNotice"] === 0n
        ? `notice period set to ${formatDuration(args["newNotice"] as bigint)}`
        : `notice period ${formatDuration(args["oldNotice"] as bigint)} -> ${formatDuration(args["newNotice"] as bigint)}`;
    case "ChangeProposed": {
      const uri = String(args["uri"]);
      return (
        `proposed: ${describeChange(change())}${uri === "" ? "" : ` (uri ${shown(uri)})`}, ` +
        `ready at ${formatDate(args["readyAt"] as bigint)}, expires ${formatDate(args["expiresAt"] as bigint)}`
      );
    }
    case "ChangeActivated":
      return `activated: ${describeChange(change())} (by ${String(args["activatedBy"])})`;
    case "ChangeCancelled":
      return `cancelled: ${describeChange(change())}`;
    case "ComposeHashAdded":
      return `compose hash allowed: ${String(args["composeHash"])}`;
    case "ComposeHashRemoved":
      return `compose hash removed: ${String(args["composeHash"])}`;
    case "DeviceAdded":
      return `device allowed: ${String(args["deviceId"])}`;
    case "DeviceRemoved":
      return `device removed: ${String(args["deviceId"])}`;
    case "AllowAnyDeviceSet":
      return args["allowAny"] === true ? "any device allowed" : "only listed devices allowed";
    case "RequireTcbUpToDateSet":
      return args["requireUpToDate"] === true ? "up-to-date TCB required" : "out-of-date TCB allowed";
    case "UpgradesDisabled":
      return "upgrades disabled for good";
    case "MrSystemAdded":
      return `mrSystem allowed by the OS pin: ${String(args["mrSystem"])}`;
    case "MrSystemRemoved":
      return `mrSystem removed from the OS pin: ${String(args["mrSystem"])}`;
    case "OsImageHashAdded":
      return `OS image allowed by the OS pin: ${String(args["osImageHash"])}`;
    case "OsImageHashRemoved":
      return `OS image removed from the OS pin: ${String(args["osImageHash"])}`;
    case "MrSystemPinnedSet":
      return args["pinned"] === true ? "mrSystem pinned" : "mrSystem unpinned (any allowed)";
    case "OsImageHashPinnedSet":
      return args["pinned"] === true ? "OS image hash pinned" : "OS image hash unpinned (any allowed)";
    case "CurrentReleaseSet":
      return `current release: ${String(args["composeHash"])} (its URI is in the ChangeProposed of block ${String(args["uriBlock"])})`;
    case "OwnershipTransferStarted":
      return `ownership transfer started: ${String(args["previousOwner"])} -> ${String(args["newOwner"])} (must accept)`;
    case "OwnershipTransferred":
      return `owner: ${String(args["previousOwner"])} -> ${String(args["newOwner"])}`;
    default:
      return Object.entries(args)
        .map(([name, value]) => `${name}=${shown(String(value))}`)
        .join(", ");
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Reverts
// ---------------------------------------------------------------------------------------------------------------

export interface DecodedRevert {
  name: string;
  args: Record<string, unknown>;
  /** e.g. `ProposalNotReady(id: 0x…, readyAt: 1767225600 [2026-01-01T00:00:00Z], currentTime: …)`. */
  description: string;
}

const TIME_ARGS = new Set(["readyAt", "expiresAt", "currentTime"]);
const DURATION_ARGS = new Set(["notice", "min", "max", "proposed", "current", "requested"]);

/**
 * Finds the revert data in an error thrown by ethers or a Hardhat provider (it nests differently depending on
 * who threw) and decodes it with the contract's ABI (the AppAuth's unless `iface` names another). Undefined when
 * there is no data or it is not ours.
 */
export function decodeRevert(error: unknown, iface: Interface = appAuthInterface): DecodedRevert | undefined {
  for (const data of revertDataCandidates(error, 0)) {
    let parsed;
    try {
      parsed = iface.parseError(data);
    } catch {
      continue;
    }
    if (parsed === null) continue;
    const args: Record<string, unknown> = {};
    const shown = parsed.fragment.inputs.map((input, i) => {
      const value = parsed.args[i];
      args[input.name] = value;
      const name = input.name === "" ? `arg${i}` : input.name;
      if (typeof value === "bigint" && TIME_ARGS.has(name)) return `${name}: ${value} [${formatDate(value)}]`;
      if (typeof value === "bigint" && DURATION_ARGS.has(name)) return `${name}: ${formatDuration(value)}`;
      return `${name}: ${String(value)}`;
    });
    return { name: parsed.name, args, description: `${parsed.name}(${shown.join(", ")})` };
  }
  return undefined;
}

function* revertDataCandidates(error: unknown, depth: number): Generator<string> {
  if (depth > 5 || error === null || typeof error !== "object") return;
  const record = error as Record<string, unknown>;
  const data = record["data"];
  if (typeof data === "string" && /^0x[0-9a-fA-F]{8}/.test(data)) yield data;
  if (data !== null && typeof data === "object") yield* revertDataCandidates(data, depth + 1);
  for (const key of ["error", "info", "cause", "revert"]) yield* revertDataCandidates(record[key], depth + 1);
}
