/**
 * What a node's agent reads from and sends to a ReplicationRegistry: its EIP-712 domain, policy and KMS root, node
 * records and statuses, the genesis member, the policy's verdict on a node, the `NodeRegistered`, `NodeOnboarded` and
 * `AttestationRefreshed` events, and the three calls a node or member makes (`register`, `refreshAttestation`,
 * `onboard`).
 *
 * Why not `registry.ts` alone: that module binds the whole contract through the TypeChain factories, which exist only
 * after `npx hardhat compile`, and the guest agent's image is built without Hardhat or a Solidity compiler. So the ABI
 * the agent needs is written out here, typed against the generated `ReplicationRegistry` (a type-only import, erased
 * when bundled), and `test/lib/registry-view.test.ts` proves that every fragment equals the compiled one. The checks
 * and readers below take either binding, so tasks (through `registry.ts`) and the agent share them.
 *
 * Registrations and refreshes are written by nodes, and the registry checks their signatures and key chain, not their
 * contents: every byte of a boot info string, an event log, a key chain or a refresh's TCB claim is the node's choice
 * (and the code behind a KMS-issued key may be a release the owner wrote for this purpose). So the readers of events
 * and of `getNode` decode every log and result on its own through `lib/untrusted/decode.ts`, driven by the fragments
 * below: a log that does not decode, or whose strings are not UTF-8, comes back as a {@link RefusedEvent} with its
 * reason instead of throwing, and the logs after it are read as usual.
 */
import { Contract, Interface, getAddress } from "ethers";
import type { BlockTag, ContractRunner, Log, Provider } from "ethers";

import type { ReplicationRegistry } from "../../types/ethers-contracts/index.js";
import { UserError } from "../errors.js";
import { callView, decodeEventLog, describeRefusedLog, onlyValue, refusalReason } from "../untrusted/decode.js";
import type { Decoded } from "../untrusted/decode.js";
import { REGISTRY_EIP712_NAME, REGISTRY_EIP712_VERSION } from "./eip712.js";
import type { AppBootInfo } from "./eip712.js";
import type { SignedNodeRegistration, SignedRefresh } from "./files.js";
import { nodeStatusOf } from "./enums.js";
import type { NodeStatus } from "./enums.js";
import { evidenceFromNodeRegistered } from "./registration.js";
import type { NodeRegisteredArgs, RegistrationEvidence } from "./registration.js";

const BOOT_INFO_TUPLE =
  "(address appId, bytes32 composeHash, address instanceId, bytes32 deviceId, bytes32 mrAggregated, " +
  "bytes32 mrSystem, bytes32 osImageHash, string tcbStatus, string[] advisoryIds)";
const ATTESTATION_TUPLE = "(bytes quote, bytes eventLog)";
const KEY_CHAIN_TUPLE = "(bytes derivedPublicKey, bytes appPublicKey, bytes appSignature, bytes kmsSignature)";
const NODE_RECORD_TUPLE =
  "(uint8 status, uint64 registeredAt, address sponsor, uint64 joinedAt, uint64 evictedAt, uint64 attestedAt, " +
  `uint64 refreshes, bytes32 quoteHash, bytes encryptionPublicKey, ${BOOT_INFO_TUPLE} bootInfo)`;

/** The part of `IReplicationRegistry` (and the errors it reverts with) that an agent uses, as the compiler declares it. */
export const REGISTRY_AGENT_ABI = [
  "function ATTESTATION_PERIOD() view returns (uint64)",
  "function appAuth() view returns (address)",
  "function attestationExpiresAt(address node) view returns (uint64)",
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
  "function genesis() view returns (address)",
  `function getNode(address node) view returns (${NODE_RECORD_TUPLE})`,
  "function isNodeAllowed(address node) view returns (bool isAllowed, string reason)",
  "function kms() view returns (address)",
  "function kmsRoot() view returns (address)",
  "function nodeStatus(address node) view returns (uint8)",
  "function onboard(address node, bytes ciphertext, bytes memberSignature)",
  `function refreshAttestation(address node, ${ATTESTATION_TUPLE} attestation, string tcbStatus, string[] advisoryIds, bytes nodeSignature)`,
  `function register(address node, bytes encryptionPublicKey, ${BOOT_INFO_TUPLE} bootInfo, ${ATTESTATION_TUPLE} attestation, ${KEY_CHAIN_TUPLE} keyChain, bytes nodeSignature)`,
  `event AttestationRefreshed(address indexed node, bytes32 indexed quoteHash, uint64 nonce, string tcbStatus, string[] advisoryIds, ${ATTESTATION_TUPLE} attestation, bool allowed, string reason)`,
  "event GenesisSet(address indexed node, address indexed setBy)",
  "event NodeOnboarded(address indexed node, address indexed sponsor, bytes32 quoteHash, bytes ciphertext)",
  `event NodeRegistered(address indexed node, bytes32 indexed composeHash, bytes32 indexed quoteHash, bytes encryptionPublicKey, ${BOOT_INFO_TUPLE} bootInfo, ${ATTESTATION_TUPLE} attestation, ${KEY_CHAIN_TUPLE} keyChain)`,
  "error DstackSignatureChainAppKeyMismatch(address recovered, address appKey)",
  "error DstackSignatureChainInvalidPublicKey(bytes publicKey)",
  "error DstackSignatureChainInvalidSignature(uint256 index, bytes signature)",
  "error DstackSignatureChainKmsRootMismatch(address recovered, address kmsRoot)",
  "error ECDSAInvalidSignature()",
  "error ECDSAInvalidSignatureLength(uint256 length)",
  "error ECDSAInvalidSignatureS(bytes32 s)",
  "error RegistryAppIdMismatch(address appId, address expected)",
  "error RegistryAttestationExpired(address node, uint64 attestedAt, uint64 expiredAt)",
  "error RegistryBootInfoNotAllowed(address node, string reason)",
  "error RegistryCiphertextEmpty(address node)",
  "error RegistryEncryptionKeyLengthInvalid(uint256 length, uint256 maxLength)",
  "error RegistryNodeAlreadyMember(address node)",
  "error RegistryNodeAlreadyRegistered(address node, uint8 status)",
  "error RegistryNodeCannotRefresh(address node, uint8 status)",
  "error RegistryNodeKeyNotKmsIssued(address node, address derivedKey)",
  "error RegistryNodeNotRegistered(address node, uint8 status)",
  "error RegistryQuoteEmpty(address node)",
  "error RegistrySignerMismatch(address node, address signer)",
  "error RegistrySignerNotMember(address signer)",
  "error RegistrySponsorAttestationExpired(address sponsor, uint64 attestedAt, uint64 expiredAt)",
  "error RegistrySponsorNotAllowed(address sponsor, string reason)",
] as const;

/** The registry as an agent binds it: the functions and events of {@link REGISTRY_AGENT_ABI}. */
export type RegistryView = Pick<
  ReplicationRegistry,
  | "ATTESTATION_PERIOD"
  | "appAuth"
  | "attestationExpiresAt"
  | "eip712Domain"
  | "genesis"
  | "getNode"
  | "isNodeAllowed"
  | "kms"
  | "kmsRoot"
  | "nodeStatus"
  | "onboard"
  | "refreshAttestation"
  | "register"
  | "filters"
  | "queryFilter"
  | "getAddress"
  | "interface"
  | "runner"
>;

/** Binds {@link REGISTRY_AGENT_ABI} at `address`; nothing is checked until {@link checkRegistry}. */
export function connectRegistryView(address: string, runner: ContractRunner): RegistryView {
  return new Contract(address, REGISTRY_AGENT_ABI, runner) as unknown as RegistryView;
}

export { EVICTION_CAUSES, NODE_STATUSES, evictionCauseOf, nodeStatusOf } from "./enums.js";
export type { EvictionCause, NodeStatus } from "./enums.js";

/**
 * Checks that there is code at the registry's address and that its EIP-712 domain (ERC-5267 `eip712Domain()`) is the
 * registry's, on this chain and at this address: that is the domain every node and member signs for, so a contract
 * that answers otherwise is not one to send signatures to. `blockTag` pins the reads (default: latest).
 * @param where how to name the network in messages, e.g. `network "localhost" (chain 31337)`.
 * @param networkOption the option that picks the network, named in messages (`--network` for tasks).
 * @returns the app's policy the registry is bound to (its `appAuth()`).
 */
export async function checkRegistry(
  registry: Pick<RegistryView, "eip712Domain" | "appAuth" | "getAddress" | "runner">,
  where: string,
  options: { blockTag?: number; networkOption?: string } = {},
): Promise<string> {
  const { blockTag, networkOption = "--network" } = options;
  const provider = requireProvider(registry.runner);
  const address = await registry.getAddress();
  if ((await provider.getCode(address, blockTag)) === "0x") {
    throw new UserError(`no contract at ${address} on ${where}: check --registry and ${networkOption}`);
  }
  const { chainId } = await provider.getNetwork();
  let domain: Awaited<ReturnType<ReplicationRegistry["eip712Domain"]>> | undefined;
  try {
    domain = await registry.eip712Domain({ blockTag });
  } catch {
    // No ERC-5267 (a revert or garbage): not our registry.
  }
  const matches =
    domain !== undefined &&
    domain.name === REGISTRY_EIP712_NAME &&
    domain.version === REGISTRY_EIP712_VERSION &&
    domain.chainId === chainId &&
    domain.verifyingContract.toLowerCase() === address.toLowerCase();
  if (!matches) {
    throw new UserError(
      `the contract at ${address} on ${where} is not a ReplicationRegistry (its EIP-712 domain is not ` +
        `"${REGISTRY_EIP712_NAME}" version ${REGISTRY_EIP712_VERSION} at that address): check --registry`,
    );
  }
  return getAddress(await registry.appAuth({ blockTag }));
}

/** A node's registration as its `NodeRegistered` event records it. */
export interface RegistrationRecord {
  evidence: RegistrationEvidence;
  blockNumber: number;
  transactionHash: string;
}

/** A log a reader did not take in, and why: one line an operator can act on (see {@link describeRefusedEvent}). */
export interface RefusedEvent {
  event: string;
  /** The node the log names, when its topic decodes. */
  node: string | undefined;
  blockNumber: number;
  logIndex: number;
  transactionHash: string;
  reason: string;
}

/** `refused event NodeRegistered in block 12, log 0: bootInfo.advisoryIds[0] is not UTF-8`. */
export function describeRefusedEvent(refused: RefusedEvent): string {
  return describeRefusedLog(
    refused.event,
    { blockNumber: refused.blockNumber, index: refused.logIndex },
    refused.reason,
  );
}

/** Thrown by {@link readRegistration} when the node's one registration is a log that is refused. */
export class RefusedEventError extends Error {
  override readonly name = "RefusedEventError";

  constructor(readonly refused: RefusedEvent) {
    super(describeRefusedEvent(refused));
  }
}

/** The logs of one event in a block range: those taken in, and those refused, each in chain order. */
export interface EventsRead<T> {
  records: T[];
  refused: RefusedEvent[];
}

type EventReader = Pick<RegistryView, "getAddress" | "runner">;
type RegistryEvent = "NodeRegistered" | "NodeOnboarded" | "GenesisSet" | "AttestationRefreshed";

/** The agent's ABI as an interface: every event and view read below is decoded with these fragments. */
export const registryAgentInterface = new Interface(REGISTRY_AGENT_ABI);

/**
 * The logs of `event` in `[fromBlock, toBlock]` whose indexed fields are `filter` (in order, from the first, which is
 * the node in all four; undefined matches any), each decoded on its own: `take` builds a record from a clean decoding,
 * anything else is refused with its reason.
 */
async function readEvents<T>(
  registry: EventReader,
  event: RegistryEvent,
  fromBlock: number,
  toBlock: number | undefined,
  filter: readonly (string | undefined)[],
  take: (decoded: Decoded, log: Log) => T,
): Promise<EventsRead<T>> {
  const fragment = registryAgentInterface.getEvent(event)!;
  const logs = await requireProvider(registry.runner).getLogs({
    address: await registry.getAddress(),
    topics: registryAgentInterface.encodeFilterTopics(fragment, [...filter]),
    fromBlock,
    toBlock: toBlock ?? "latest",
  });
  logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  const read: EventsRead<T> = { records: [], refused: [] };
  for (const log of logs) {
    const decoded = decodeEventLog(fragment, log);
    if (decoded.problems.length === 0) {
      read.records.push(take(decoded, log));
      continue;
    }
    const named = decoded.values["node"];
    read.refused.push({
      event,
      node: typeof named === "string" ? getAddress(named) : undefined,
      blockNumber: log.blockNumber,
      logIndex: log.index,
      transactionHash: log.transactionHash,
      reason: refusalReason(decoded),
    });
  }
  return read;
}

function registrationOf(decoded: Decoded, log: Log): RegistrationRecord {
  return {
    evidence: evidenceFromNodeRegistered(decoded.values as unknown as NodeRegisteredArgs),
    blockNumber: log.blockNumber,
    transactionHash: log.transactionHash,
  };
}

/**
 * The registration evidence of `node` (quote, event log, keys, boot info) from its `NodeRegistered` event; undefined
 * when there is none in `[fromBlock, toBlock]`. A node registers once, so a refused log is its registration: that
 * throws {@link RefusedEventError}, with the reason. Public RPCs cap `eth_getLogs` ranges: pass the registry's
 * deployment block as `fromBlock`.
 */
export async function readRegistration(
  registry: EventReader,
  node: string,
  fromBlock = 0,
  toBlock?: number,
): Promise<RegistrationRecord | undefined> {
  const { records, refused } = await readEvents(registry, "NodeRegistered", fromBlock, toBlock, [node], registrationOf);
  const [record] = records;
  const [refusal] = refused;
  if (refusal !== undefined && (record === undefined || refusal.blockNumber <= record.blockNumber)) {
    throw new RefusedEventError(refusal);
  }
  return record;
}

/** Every `NodeRegistered` event in `[fromBlock, toBlock]`, in chain order: the registrations, and the refused logs. */
export async function readRegistrations(
  registry: EventReader,
  fromBlock: number,
  toBlock: number,
): Promise<EventsRead<RegistrationRecord>> {
  return readEvents(registry, "NodeRegistered", fromBlock, toBlock, [], registrationOf);
}

/** A member's onboarding of a node, as its `NodeOnboarded` event records it. */
export interface OnboardingRecord {
  node: string;
  sponsor: string;
  quoteHash: string;
  ciphertext: string;
  blockNumber: number;
  transactionHash: string;
}

/** The `NodeOnboarded` events in `[fromBlock, toBlock]`, of `node` only when given; and the refused logs. */
export async function readOnboardings(
  registry: EventReader,
  fromBlock: number,
  toBlock: number,
  node?: string,
): Promise<EventsRead<OnboardingRecord>> {
  return readEvents(registry, "NodeOnboarded", fromBlock, toBlock, [node], ({ values }, log) => ({
    node: getAddress(values["node"] as string),
    sponsor: getAddress(values["sponsor"] as string),
    quoteHash: values["quoteHash"] as string,
    ciphertext: values["ciphertext"] as string,
    blockNumber: log.blockNumber,
    transactionHash: log.transactionHash,
  }));
}

/** A node's attestation refresh, as its `AttestationRefreshed` event records it. */
export interface RefreshRecord {
  node: string;
  quoteHash: string;
  nonce: bigint;
  tcbStatus: string;
  advisoryIds: string[];
  quote: string;
  eventLog: string;
  /** The policy's verdict on the refreshed boot info, and its reason when it does not allow it. */
  allowed: boolean;
  reason: string;
  blockNumber: number;
  logIndex: number;
  transactionHash: string;
}

/**
 * The `AttestationRefreshed` events in `[fromBlock, toBlock]`, of `node` (and with `quoteHash`) only when given; and
 * the refused logs. A refresh's strings are written by the node, so a log whose `tcbStatus`, advisories or reason are
 * not UTF-8 is refused, not thrown.
 */
export async function readRefreshes(
  registry: EventReader,
  fromBlock: number,
  toBlock: number | undefined,
  node?: string,
  quoteHash?: string,
): Promise<EventsRead<RefreshRecord>> {
  return readEvents(registry, "AttestationRefreshed", fromBlock, toBlock, [node, quoteHash], ({ values }, log) => {
    const attestation = values["attestation"] as { quote: string; eventLog: string };
    return {
      node: getAddress(values["node"] as string),
      quoteHash: values["quoteHash"] as string,
      nonce: values["nonce"] as bigint,
      tcbStatus: values["tcbStatus"] as string,
      advisoryIds: values["advisoryIds"] as string[],
      quote: attestation.quote,
      eventLog: attestation.eventLog,
      allowed: values["allowed"] as boolean,
      reason: values["reason"] as string,
      blockNumber: log.blockNumber,
      logIndex: log.index,
      transactionHash: log.transactionHash,
    };
  });
}

/** `IReplicationRegistry.NodeRecord` as plain values. */
export interface NodeRecordValues {
  status: bigint;
  registeredAt: bigint;
  sponsor: string;
  joinedAt: bigint;
  evictedAt: bigint;
  attestedAt: bigint;
  refreshes: bigint;
  quoteHash: string;
  encryptionPublicKey: string;
  bootInfo: AppBootInfo;
}

/**
 * `getNode(node)`, decoded field by field: its strings were written by the node (anyone), so a string that is not
 * UTF-8 does not throw: it is in its lossy form (U+FFFD) and named in `problems`. A result whose layout does not
 * decode throws ethers' BAD_DATA.
 */
export async function readNodeRecord(
  registry: EventReader,
  node: string,
  blockTag?: BlockTag,
): Promise<{ record: NodeRecordValues; problems: string[] }> {
  const decoded = await callView(
    requireProvider(registry.runner),
    await registry.getAddress(),
    registryAgentInterface.getFunction("getNode")!,
    [node],
    blockTag,
  );
  return { record: onlyValue(decoded) as unknown as NodeRecordValues, problems: decoded.problems };
}

/** The arguments of `register(node, encryptionPublicKey, bootInfo, attestation, keyChain, nodeSignature)`. */
export function registerArguments({
  registration: r,
  keyChain,
  signature,
}: Pick<SignedNodeRegistration, "registration" | "keyChain" | "signature">) {
  return [
    r.node,
    r.encryptionPublicKey,
    r.bootInfo,
    { quote: r.quote, eventLog: r.eventLog },
    keyChain,
    signature,
  ] as const;
}

/** The arguments of `refreshAttestation(node, attestation, tcbStatus, advisoryIds, nodeSignature)`. */
export function refreshArguments({ refresh: r, signature }: Pick<SignedRefresh, "refresh" | "signature">) {
  return [r.node, { quote: r.quote, eventLog: r.eventLog }, r.tcbStatus, r.advisoryIds, signature] as const;
}

export function requireProvider(runner: ContractRunner | null): Provider {
  const provider = runner?.provider;
  if (provider == null) throw new Error("the contract is not connected to a provider");
  return provider;
}
