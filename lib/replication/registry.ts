/**
 * Reading a deployed ReplicationRegistry: connection with checks, a node's registration evidence from its event,
 * members and pending registrations, and which ground (if any) allows an eviction. Free of Hardhat, so tasks,
 * scripts and the guest agent's replicator share it with any ethers provider or signer.
 */
import { getAddress, isError } from "ethers";
import type { ContractRunner } from "ethers";

import { ReplicationRegistry__factory } from "../../types/ethers-contracts/index.js";
import type { ReplicationRegistry } from "../../types/ethers-contracts/index.js";
import type { AppBootInfo } from "./eip712.js";
import { checkRegistry, nodeStatusOf, readNodeRecord, readRegistrations, requireProvider } from "./registry-view.js";
import type { NodeStatus, RefusedEvent } from "./registry-view.js";
import { bootInfoFromDecoded } from "../bootInfo.js";

export {
  EVICTION_CAUSES,
  NODE_STATUSES,
  RefusedEventError,
  describeRefusedEvent,
  evictionCauseOf,
  nodeStatusOf,
  readRegistration,
} from "./registry-view.js";
export type { EvictionCause, NodeStatus, RefusedEvent, RegistrationRecord } from "./registry-view.js";

/** The registry's full ABI, to decode its events and custom errors. */
export const registryInterface = ReplicationRegistry__factory.createInterface();

/**
 * Connects to the ReplicationRegistry at `address` after checking that there is code there and that its EIP-712
 * domain is the registry's, on this chain and at this address (see {@link checkRegistry}).
 * @param where how to name the network in messages, e.g. `network "localhost" (chain 31337)`.
 */
export async function connectRegistry(
  address: string,
  runner: ContractRunner,
  where: string,
): Promise<ReplicationRegistry> {
  const registry = ReplicationRegistry__factory.connect(address, runner);
  await checkRegistry(registry, where);
  return registry;
}

/** One node as `nodes` shows it and an agent reads it. */
export interface NodeView {
  address: string;
  status: NodeStatus;
  isGenesis: boolean;
  registeredAt: bigint;
  joinedAt: bigint;
  evictedAt: bigint;
  /** The member that onboarded it; undefined for the genesis member and for non-members. */
  sponsor: string | undefined;
  quoteHash: string;
  bootInfo: AppBootInfo;
  /** When its last attestation (registration or refresh) was submitted, and when it stops counting. */
  attestedAt: bigint;
  attestationExpiresAt: bigint;
  /** Whether its last attestation is older than the registry's period at the block read. */
  expired: boolean;
  /** How many times it refreshed its attestation. */
  refreshes: bigint;
  /** Whether the app's policy allows its registered boot info now, and if not, its reason. */
  allowed: boolean;
  reason: string;
  /**
   * Why its record is not what its types say, e.g. `bootInfo.tcbStatus is not UTF-8` (anyone can register such a
   * node); `bootInfo` then holds the lossy strings (U+FFFD in place of each bad sequence). Undefined: clean.
   */
  unreadable?: string;
}

export interface RegistryNodes {
  /** Everything below was read at this block, so the view is consistent. */
  blockNumber: number;
  timestamp: bigint;
  genesis: string | undefined;
  members: NodeView[];
  /** Registered and waiting to be onboarded (neither member nor evicted), oldest first. */
  pending: NodeView[];
  /** Nodes whose `getNode` answer does not decode at all, with why: listed, not dropped. */
  unreadable: Array<{ address: string; reason: string }>;
  /** `NodeRegistered` logs that were refused (the node they name, when known, is still read through `getNode`). */
  refused: RefusedEvent[];
}

const ZERO_ADDRESS = `0x${"0".repeat(40)}`;

/**
 * Reads the members (paged, `pageSize` per call) and the pending registrations (from `NodeRegistered` events since
 * `fromBlock`) at one block, each with whether the app's policy allows it now.
 */
export async function readRegistryNodes(
  registry: ReplicationRegistry,
  options: { fromBlock?: number; pageSize?: number } = {},
): Promise<RegistryNodes> {
  const provider = requireProvider(registry.runner);
  const block = await provider.getBlock("latest");
  if (block === null) throw new Error("the node returned no latest block");
  const at = { blockTag: block.number };
  const pageSize = options.pageSize ?? 100;

  const count = await registry.memberCount(at);
  const members: string[] = [];
  for (let offset = 0n; offset < count; offset += BigInt(pageSize)) {
    members.push(...(await registry.getMembers(offset, pageSize, at)));
  }
  const registered = await readRegistrations(registry, options.fromBlock ?? 0, block.number);
  const genesis = await registry.genesis(at);

  const unreadable: RegistryNodes["unreadable"] = [];
  const view = async (address: string): Promise<NodeView | undefined> => {
    let read: Awaited<ReturnType<typeof readNodeRecord>>;
    try {
      read = await readNodeRecord(registry, address, block.number);
    } catch (error) {
      if (!isError(error, "BAD_DATA")) throw error;
      unreadable.push({
        address: getAddress(address),
        reason: `its getNode answer does not decode (${error.shortMessage})`,
      });
      return undefined;
    }
    const { record, problems } = read;
    const [[allowed, reason], attestationExpiresAt] = await Promise.all([
      registry.isNodeAllowed(address, at),
      registry.attestationExpiresAt(address, at),
    ]);
    return {
      address: getAddress(address),
      status: nodeStatusOf(record.status),
      isGenesis: genesis !== ZERO_ADDRESS && getAddress(address) === getAddress(genesis),
      registeredAt: record.registeredAt,
      joinedAt: record.joinedAt,
      evictedAt: record.evictedAt,
      sponsor: record.sponsor === ZERO_ADDRESS ? undefined : record.sponsor,
      quoteHash: record.quoteHash,
      bootInfo: bootInfoFromDecoded(record.bootInfo),
      attestedAt: record.attestedAt,
      attestationExpiresAt,
      expired: BigInt(block.timestamp) >= attestationExpiresAt,
      refreshes: record.refreshes,
      allowed,
      reason,
      ...(problems.length === 0 ? {} : { unreadable: problems.join("; ") }),
    };
  };

  const memberViews = (await Promise.all(members.map(view))).filter((node) => node !== undefined);
  const named = [
    ...registered.records.map((r) => ({ node: r.evidence.node as string | undefined, block: r.blockNumber })),
    ...registered.refused.map((r) => ({ node: r.node, block: r.blockNumber })),
  ].sort((a, b) => a.block - b.block);
  const candidates = [...new Set(named.flatMap(({ node }) => (node === undefined ? [] : [getAddress(node)])))];
  const pending = (await Promise.all(candidates.map(view))).filter((node) => node?.status === "Registered");
  return {
    blockNumber: block.number,
    timestamp: BigInt(block.timestamp),
    genesis: genesis === ZERO_ADDRESS ? undefined : genesis,
    members: memberViews,
    pending: pending as NodeView[],
    unreadable,
    refused: registered.refused,
  };
}

/** Which of `evict`'s grounds lets `sender` remove the member `node`, checked in the contract's order. */
export type EvictionGround =
  | { cause: "Left" }
  | { cause: "NoLongerAllowed"; reason: string }
  | { cause: "AttestationExpired"; expiredAt: bigint }
  | { cause: "RemovedByOwner"; owner: string }
  | { cause: undefined; owner: string; expiresAt: bigint };

/**
 * The ground `evict(node)` sent by `sender` would use at `now` (the chain's time of the next block); `cause` undefined
 * when none applies (it would revert).
 */
export async function evictionGround(
  registry: ReplicationRegistry,
  node: string,
  sender: string,
  owner: string,
  now: bigint,
): Promise<EvictionGround> {
  if (getAddress(sender) === getAddress(node)) return { cause: "Left" };
  const [allowed, reason] = await registry.isNodeAllowed(node);
  if (!allowed) return { cause: "NoLongerAllowed", reason };
  const expiresAt = await registry.attestationExpiresAt(node);
  if (now >= expiresAt) return { cause: "AttestationExpired", expiredAt: expiresAt };
  if (getAddress(sender) === getAddress(owner)) return { cause: "RemovedByOwner", owner };
  return { cause: undefined, owner, expiresAt };
}
