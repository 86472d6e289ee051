/**
 * Shared test helpers for TimelockedAppAuth: the contract's constants and enums as TypeScript values, a named
 * deployment fixture for `networkHelpers.loadFixture`, a dstack boot-info builder and an event reader.
 */
import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import {
  AbiCoder,
  keccak256,
  sha256,
  toBeHex,
  toUtf8Bytes,
  ZeroAddress,
  ZeroHash,
  type BytesLike,
  type ContractTransactionResponse,
} from "ethers";
import type { NetworkConnection } from "hardhat/types/network";

import { readComposeUri } from "../../lib/release.js";
import type { IAppAuth, TimelockedAppAuth } from "../../types/ethers-contracts/index.js";

export const HOUR = 60n * 60n;
export const DAY = 24n * HOUR;

/** The contract's bounds and grace window, in seconds. */
export const MIN_NOTICE_PERIOD = HOUR;
export const MAX_NOTICE_PERIOD = 365n * DAY;
export const GRACE_PERIOD = 14n * DAY;

/** `ITimelockedAppAuth.ChangeKind`, as ethers returns it. */
export const ChangeKind = {
  AddComposeHash: 0n,
  AddDevice: 1n,
  AllowAnyDevice: 2n,
  AllowOutdatedTcb: 3n,
  ShortenNotice: 4n,
  AddMrSystem: 5n,
  AddOsImageHash: 6n,
  UnpinMrSystem: 7n,
  UnpinOsImageHash: 8n,
} as const;

/** `ITimelockedAppAuth.OsMeasurement`, as ethers returns it. */
export const OsMeasurement = {
  MrSystem: 0n,
  OsImageHash: 1n,
} as const;

/** `ITimelockedAppAuth.ProposalState`, as ethers returns it. */
export const ProposalState = {
  None: 0n,
  Waiting: 1n,
  Ready: 2n,
  Expired: 3n,
  Voided: 4n,
} as const;

/** A compose hash the way a CVM measures it: sha256 of the exact bytes of `app-compose.json`. */
export function composeHashOf(appComposeJson: string): string {
  return sha256(toUtf8Bytes(appComposeJson));
}

/** A recognisable device id for tests. */
export function deviceIdOf(label: string): string {
  return keccak256(toUtf8Bytes(`device:${label}`));
}

/** `proposalId(kind, value)` computed off-chain: `keccak256(abi.encode(uint8 kind, bytes32 value))`. */
export function proposalIdOf(kind: bigint, value: BytesLike): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["uint8", "bytes32"], [kind, value]));
}

/** How a notice period appears as a proposal `value`: `bytes32(uint256(seconds))`. */
export function noticeValue(seconds: bigint): string {
  return toBeHex(seconds, 32);
}

export const INITIAL_NOTICE_PERIOD = 7n * DAY;
export const INITIAL_COMPOSE_HASH = composeHashOf('{"name":"app","version":1}');
export const INITIAL_COMPOSE_URI = "https://example.org/releases/1/app-compose.json";
export const INITIAL_DEVICE_ID = deviceIdOf("genesis");
export const UP_TO_DATE = "UpToDate";

/** The constructor inputs of TimelockedAppAuth; `owner` defaults to the first signer. */
export interface DeployOptions {
  owner?: string;
  noticePeriod?: bigint;
  composeHash?: string;
  composeUri?: string;
  devices?: string[];
  allowAnyDevice?: boolean;
  requireTcbUpToDate?: boolean;
}

/** The constructor arguments, in order, with the defaults of {@link deployTimelockedAppAuthFixture}. */
export function constructorArgs(owner: string, options: DeployOptions = {}): unknown[] {
  return [
    options.owner ?? owner,
    options.noticePeriod ?? INITIAL_NOTICE_PERIOD,
    options.composeHash ?? INITIAL_COMPOSE_HASH,
    options.composeUri ?? INITIAL_COMPOSE_URI,
    options.devices ?? [INITIAL_DEVICE_ID],
    options.allowAnyDevice ?? false,
    options.requireTcbUpToDate ?? true,
  ];
}

/** Deploys a TimelockedAppAuth, connected to its first signer, with the defaults overridden by `options`. */
export async function deployTimelockedAppAuth(
  ethers: HardhatEthers,
  options: DeployOptions = {},
): Promise<TimelockedAppAuth> {
  const [deployer] = await ethers.getSigners();
  if (deployer === undefined) throw new Error("no signer available");
  const appAuth = await ethers.deployContract("TimelockedAppAuth", constructorArgs(deployer.address, options));
  await appAuth.waitForDeployment();
  return appAuth;
}

export interface AppAuthFixture {
  /** The contract, connected to `owner`. */
  appAuth: TimelockedAppAuth;
  owner: HardhatEthersSigner;
  /** Any account that is not the owner. */
  stranger: HardhatEthersSigner;
  /** An account that ownership can be transferred to. */
  newOwner: HardhatEthersSigner;
  /** The block the contract was deployed in (the first block to read its events from). */
  deploymentBlock: number;
}

/**
 * The genesis state: owned by the first signer, a 7-day notice, one release ({@link INITIAL_COMPOSE_HASH} at
 * {@link INITIAL_COMPOSE_URI}), one device ({@link INITIAL_DEVICE_ID}), devices restricted to the list and an
 * up-to-date TCB required. Use with `networkHelpers.loadFixture(deployTimelockedAppAuthFixture)`.
 */
export async function deployTimelockedAppAuthFixture({ ethers }: NetworkConnection): Promise<AppAuthFixture> {
  const [owner, stranger, newOwner] = await ethers.getSigners();
  if (owner === undefined || stranger === undefined || newOwner === undefined) {
    throw new Error("the fixture needs three signers");
  }
  const appAuth = await deployTimelockedAppAuth(ethers);
  const receipt = await appAuth.deploymentTransaction()?.wait();
  if (receipt == null) throw new Error("no deployment receipt");
  return { appAuth, owner, stranger, newOwner, deploymentBlock: receipt.blockNumber };
}

/**
 * A dstack `AppBootInfo`. By default it describes a CVM the fixture allows: the initial compose hash on the
 * initial device with an up-to-date TCB.
 */
export function bootInfo(overrides: Partial<IAppAuth.AppBootInfoStruct> = {}): IAppAuth.AppBootInfoStruct {
  return {
    appId: ZeroAddress,
    composeHash: INITIAL_COMPOSE_HASH,
    instanceId: ZeroAddress,
    deviceId: INITIAL_DEVICE_ID,
    mrAggregated: ZeroHash,
    mrSystem: ZeroHash,
    osImageHash: ZeroHash,
    tcbStatus: UP_TO_DATE,
    advisoryIds: [],
    ...overrides,
  };
}

/** One event the contract emitted: its name, then its arguments in declaration order. */
export type EmittedEvent = [name: string, ...args: unknown[]];

/**
 * Every event `appAuth` emitted in a transaction, in order. Lets a test state the exact event sequence of a call,
 * not only that some event was among them. dstack's audit event `PolicyChanged`, which follows each change's own
 * event, is left out unless `withAuditEvents`: its labels, values and actors are the subject of the Solidity unit,
 * fuzz and invariant tests (TimelockedAppAuth.t.sol, `invariant_auditEventsRebuildThePolicy`).
 */
export async function eventsOf(
  appAuth: TimelockedAppAuth,
  tx: ContractTransactionResponse | Promise<ContractTransactionResponse> | null,
  { withAuditEvents = false }: { withAuditEvents?: boolean } = {},
): Promise<EmittedEvent[]> {
  const receipt = await (await tx)?.wait();
  if (receipt == null) throw new Error("no receipt");
  const address = (await appAuth.getAddress()).toLowerCase();
  const events: EmittedEvent[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address) continue;
    const parsed = appAuth.interface.parseLog(log);
    if (parsed === null) throw new Error(`unparsable log ${log.index}`);
    if (parsed.name === "PolicyChanged" && !withAuditEvents) continue;
    events.push([parsed.name, ...parsed.args.toArray()]);
  }
  return events;
}

/**
 * The URI the contract points at for an allowed compose hash ("" for any other), read as tools read it: the block
 * from `composeHashUriBlock`, the URI from that block's ChangeProposed log (lib/release.ts).
 */
export async function composeUriOf(appAuth: TimelockedAppAuth, composeHash: string): Promise<string> {
  const uriBlock = await appAuth.composeHashUriBlock(composeHash);
  if (uriBlock === 0n) return "";
  const provider = appAuth.runner!.provider!;
  return (await readComposeUri(provider, await appAuth.getAddress(), composeHash, { uriBlock })).uri;
}

/** The URI of a compose-hash proposal as `getProposal` points at it ("" for other kinds). */
export async function proposalUriOf(
  appAuth: TimelockedAppAuth,
  proposal: { kind: bigint; value: string; uriBlock: bigint; readyAt: bigint },
): Promise<string> {
  if (proposal.kind !== ChangeKind.AddComposeHash || proposal.uriBlock === 0n) return "";
  const provider = appAuth.runner!.provider!;
  const { uri } = await readComposeUri(provider, await appAuth.getAddress(), proposal.value, {
    uriBlock: proposal.uriBlock,
    readyAt: proposal.readyAt,
  });
  return uri;
}
