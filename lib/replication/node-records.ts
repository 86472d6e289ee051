/**
 * A node's evidence as the registry's chain records it, and the chain of sponsors that admitted it. Reads go through
 * the agent's ABI (registry-view.ts), so tasks and the guest agent share them.
 *
 * A node's latest evidence is its registration (`NodeRegistered`: keys, key chain, boot info) with the boot info the
 * registry stores now (its last attestation's TCB status and advisories) and the quote and event log of its last
 * attestation: its registration's, or the `AttestationRefreshed` event whose quote hash the registry stores.
 *
 * Every byte of those events and of the record is the node's choice, so they are read through the poison-proof
 * readers of registry-view.ts: a refused log throws {@link RefusedEventError} (for the node whose evidence it is, and
 * nobody else), a record whose strings are not UTF-8 is refused with `record-unreadable`.
 */
import { ZeroAddress, getAddress, hexlify } from "ethers";

import { bootInfoFromDecoded } from "../bootInfo.js";
import type { AppBootInfo } from "../bootInfo.js";
import { quoteHash } from "./eip712.js";
import { nodeStatusOf } from "./enums.js";
import type { NodeStatus } from "./enums.js";
import { ReplicationVerificationError, describeVerificationFailure } from "./errors.js";
import { readKmsInfo } from "../dstack/kms-info.js";
import type { KmsInfo, KmsRoot } from "../dstack/kms-info.js";
import { checkKmsRoot, verifyNodeEvidence } from "./node-evidence.js";
import type { CheckedEvidence, EvidenceContext, NodeEvidence, VerifyQuote } from "./node-evidence.js";
import {
  RefusedEventError,
  describeRefusedEvent,
  readNodeRecord,
  readRefreshes,
  readRegistration,
  requireProvider,
} from "./registry-view.js";
import type { EventsRead, NodeRecordValues, RefreshRecord, RegistryView } from "./registry-view.js";

/** An event the registry's state refers to is not in the block range read. */
export class MissingEventError extends Error {
  override readonly name = "MissingEventError";
}

/** What every node of a registry is held to: its app and its KMS's keys (see node-evidence.ts). */
export interface RegistryEvidenceContext {
  /** The registry's app (its `appAuth()`). */
  appId: string;
  /** The registry's KMS contract (`kms()`). */
  kmsAddress: string;
  /** Its `kmsInfo()`. */
  kms: KmsInfo;
  /** The root the registry is bound to, which the KMS still publishes. */
  kmsRoot: KmsRoot;
}

/**
 * Reads the registry's app, its KMS and the KMS's `kmsInfo()` (at `blockTag`, default latest), and checks that the
 * KMS still publishes the root the registry is bound to (`kms-root-changed` otherwise).
 */
export async function readEvidenceContext(
  registry: Pick<RegistryView, "appAuth" | "kms" | "kmsRoot" | "runner">,
  blockTag?: number,
): Promise<RegistryEvidenceContext> {
  const [appId, kmsAddress, boundRoot] = await Promise.all([
    registry.appAuth({ blockTag }),
    registry.kms({ blockTag }),
    registry.kmsRoot({ blockTag }),
  ]);
  const kms = await readKmsInfo(requireProvider(registry.runner), kmsAddress, blockTag);
  return { appId: getAddress(appId), kmsAddress: getAddress(kmsAddress), kms, kmsRoot: checkKmsRoot(boundRoot, kms) };
}

/** What the registry stores about a node, as plain values. */
export interface NodeRecordView {
  status: NodeStatus;
  registeredAt: bigint;
  /** The member that signed its onboarding; undefined for the genesis member and non-members. */
  sponsor: string | undefined;
  joinedAt: bigint;
  evictedAt: bigint;
  attestedAt: bigint;
  refreshes: bigint;
  quoteHash: string;
  encryptionPublicKey: string;
  bootInfo: AppBootInfo;
}

/** `getNode(node)`, as {@link readNodeRecord} decodes it, with its status named and its zero sponsor undefined. */
export function nodeRecordFromDecoded(decoded: NodeRecordValues): NodeRecordView {
  return {
    status: nodeStatusOf(decoded.status),
    registeredAt: decoded.registeredAt,
    sponsor: decoded.sponsor === ZeroAddress ? undefined : getAddress(decoded.sponsor),
    joinedAt: decoded.joinedAt,
    evictedAt: decoded.evictedAt,
    attestedAt: decoded.attestedAt,
    refreshes: decoded.refreshes,
    quoteHash: decoded.quoteHash,
    encryptionPublicKey: decoded.encryptionPublicKey,
    bootInfo: bootInfoFromDecoded(decoded.bootInfo),
  };
}

type Reader = Pick<RegistryView, "getAddress" | "runner">;

/**
 * `node`'s record at `blockTag`. A record whose strings are not UTF-8 (only a node that registered or refreshed with
 * such strings has one) is refused: `record-unreadable`, naming the fields.
 */
export async function readNodeRecordView(registry: Reader, node: string, blockTag?: number): Promise<NodeRecordView> {
  const { record, problems } = await readNodeRecord(registry, node, blockTag);
  if (problems.length > 0) throw recordUnreadable(node, problems);
  return nodeRecordFromDecoded(record);
}

function recordUnreadable(node: string, problems: string[]): ReplicationVerificationError {
  return new ReplicationVerificationError(
    "record-unreadable",
    `the registry's record of ${getAddress(node)}: ${problems.join("; ")}`,
  );
}

/** Where to read: events from `fromBlock` (the registry's deployment block) to `toBlock`, state at `toBlock`. */
export interface ReadRange {
  fromBlock?: number;
  /** The block the view is taken at (default: latest). */
  toBlock?: number;
  /**
   * Most blocks per `eth_getLogs` (public RPCs cap the range); needs `toBlock`. Without it, each event is sought in
   * one query over the whole range.
   */
  logRange?: number;
}

/**
 * The events a reader finds in `range`, in chunks of `logRange` from the end when set; stops at the first chunk with
 * any, taken in or refused.
 */
async function lastEvents<T>(
  range: ReadRange,
  query: (fromBlock: number, toBlock: number | undefined) => Promise<EventsRead<T>>,
): Promise<EventsRead<T>> {
  const fromBlock = range.fromBlock ?? 0;
  if (range.logRange === undefined || range.toBlock === undefined) return query(fromBlock, range.toBlock);
  for (let to = range.toBlock; to >= fromBlock; to -= range.logRange) {
    const found = await query(Math.max(fromBlock, to - range.logRange + 1), to);
    if (found.records.length > 0 || found.refused.length > 0) return found;
  }
  return { records: [], refused: [] };
}

/** The events a filter finds in `range`, in chunks of `logRange` from the start when set; stops at the first with any. */
async function firstEvents<T>(
  range: ReadRange,
  query: (fromBlock: number, toBlock: number | undefined) => Promise<T[]>,
): Promise<T[]> {
  const fromBlock = range.fromBlock ?? 0;
  if (range.logRange === undefined || range.toBlock === undefined) return query(fromBlock, range.toBlock);
  for (let from = fromBlock; from <= range.toBlock; from += range.logRange) {
    const found = await query(from, Math.min(range.toBlock, from + range.logRange - 1));
    if (found.length > 0) return found;
  }
  return [];
}

/**
 * Where a reader takes a node's record and the genesis member from instead of `getNode` and `genesis()` answers: the
 * guest agent's replicator passes records proven against a verified header (lib/verified/replicationRegistry.ts), so
 * that the events (hints: logs cannot be proven by storage proofs) are only believed where they match them.
 */
export interface RecordSource {
  /**
   * The record of `node`, with the strings that are not UTF-8 named in `problems` (in their lossy form in the record);
   * throws `record-unreadable` for a record no reader takes in.
   */
  record(node: string): Promise<{ record: NodeRecordView; problems: string[] }>;
  /** The genesis member; the zero address before one was set. */
  genesis(): Promise<string>;
}

/**
 * An event does not match the registry's state: a log that names another node, a key other than the one stored, a
 * quote whose hash is not the one stored. The registry writes both from the same call, so only an endpoint that
 * lies (or a node that reorged away) shows them apart: the evidence is not used, and read again later.
 */
export class EvidenceMismatchError extends Error {
  override readonly name = "EvidenceMismatchError";
}

/** A node's latest evidence and where it was recorded. */
export interface NodeEvidenceRecord {
  evidence: NodeEvidence;
  record: NodeRecordView;
  registration: { blockNumber: number; transactionHash: string };
  /** The refresh the evidence's quote comes from; undefined when it is its registration's. */
  refresh: { blockNumber: number; transactionHash: string; nonce: bigint } | undefined;
}

/**
 * `node`'s latest evidence; undefined when it never registered. Throws {@link MissingEventError} when an event the
 * registry's state refers to is missing in the range (pass the registry's deployment block as `fromBlock`),
 * {@link RefusedEventError} when that event is a log that is refused, and `record-unreadable` (see
 * {@link readNodeRecordView}).
 */
export async function readNodeEvidence(
  registry: Reader,
  node: string,
  range: ReadRange = {},
  source?: RecordSource,
): Promise<NodeEvidenceRecord | undefined> {
  const fromBlock = range.fromBlock ?? 0;
  const blockTag = range.toBlock;
  let record: NodeRecordView;
  let problems: string[] = [];
  if (source === undefined) {
    const read = await readNodeRecord(registry, node, blockTag);
    record = nodeRecordFromDecoded(read.record);
    problems = read.problems;
  } else {
    ({ record, problems } = await source.record(node));
  }
  if (record.status === "None") return undefined;
  const [registered] = await firstEvents(range, async (from, to) => {
    const found = await readRegistration(registry, node, from, to);
    return found === undefined ? [] : [found];
  });
  if (registered === undefined) {
    throw new MissingEventError(`no NodeRegistered event of ${getAddress(node)} since block ${fromBlock}`);
  }
  const evidence: NodeEvidence = { ...registered.evidence, bootInfo: record.bootInfo };
  let refresh: NodeEvidenceRecord["refresh"];
  if (quoteHash(registered.evidence.quote).toLowerCase() !== record.quoteHash.toLowerCase()) {
    const events = await lastEvents(range, (from, to) => readRefreshes(registry, from, to, node, record.quoteHash));
    const last = latest(events);
    if (last instanceof RefusedEventError) throw last;
    if (last === undefined) {
      throw new MissingEventError(
        `no AttestationRefreshed event of ${getAddress(node)} with quote hash ${record.quoteHash} since block ${fromBlock}`,
      );
    }
    evidence.quote = last.quote;
    evidence.eventLog = last.eventLog;
    refresh = { blockNumber: last.blockNumber, transactionHash: last.transactionHash, nonce: last.nonce };
  }
  // Its events decoded, so such a record is one its events do not explain; refused all the same.
  if (problems.length > 0) throw recordUnreadable(node, problems);
  // The events are bound to the record the registry keeps: same node, same key, the quote it stores the hash of.
  if (getAddress(registered.evidence.node) !== getAddress(node)) {
    throw new EvidenceMismatchError(
      `the NodeRegistered log read for ${getAddress(node)} names ${registered.evidence.node}`,
    );
  }
  if (
    hexlify(registered.evidence.encryptionPublicKey).toLowerCase() !== hexlify(record.encryptionPublicKey).toLowerCase()
  ) {
    throw new EvidenceMismatchError(
      `the NodeRegistered log of ${getAddress(node)} carries another encryption key than the registry stores`,
    );
  }
  if (quoteHash(evidence.quote).toLowerCase() !== record.quoteHash.toLowerCase()) {
    throw new EvidenceMismatchError(
      `the quote read for ${getAddress(node)} hashes to ${quoteHash(evidence.quote)}, not to the ${record.quoteHash} the registry stores`,
    );
  }
  return {
    evidence,
    record,
    registration: { blockNumber: registered.blockNumber, transactionHash: registered.transactionHash },
    refresh,
  };
}

/** The last of the refreshes read, or the refusal of the last log when that log was refused. */
function latest(read: EventsRead<RefreshRecord>): RefreshRecord | RefusedEventError | undefined {
  const record = read.records.at(-1);
  const refused = read.refused.at(-1);
  if (
    refused !== undefined &&
    (record === undefined ||
      refused.blockNumber > record.blockNumber ||
      (refused.blockNumber === record.blockNumber && refused.logIndex > record.logIndex))
  ) {
    return new RefusedEventError(refused);
  }
  return record;
}

/** One link of a sponsor chain: a node and what its evidence showed. */
export interface VerifiedSponsor {
  node: string;
  /** Its sponsor; undefined for the genesis member. */
  sponsor: string | undefined;
  checked: CheckedEvidence;
}

/**
 * Walks from `node`'s sponsor to the genesis member, reading and verifying each one's latest evidence with
 * {@link verifyNodeEvidence} (their TCB is reported, not enforced: they attested in the past, and Intel may judge
 * their platform otherwise today; the registry checked it when they sponsored). Returns the chain, sponsor first,
 * genesis last. Throws {@link ReplicationVerificationError}: `sponsor-chain-invalid` when the chain does not reach the
 * registry's genesis member, or the code of the check an ancestor failed, its message naming the ancestor.
 */
export async function verifySponsorChain(
  registry: Reader & Pick<RegistryView, "genesis">,
  node: string,
  context: EvidenceContext & { verifyQuote: VerifyQuote },
  range: ReadRange = {},
  source?: RecordSource,
): Promise<VerifiedSponsor[]> {
  const genesis = getAddress(
    source === undefined ? await registry.genesis({ blockTag: range.toBlock }) : await source.genesis(),
  );
  if (genesis === ZeroAddress) {
    throw new ReplicationVerificationError("sponsor-chain-invalid", "the registry has no genesis member");
  }
  // Only its sponsor's address is taken from the starting node's record: a lossy string there changes nothing.
  const start =
    source === undefined
      ? nodeRecordFromDecoded((await readNodeRecord(registry, node, range.toBlock)).record)
      : (await source.record(node)).record;
  const chain: VerifiedSponsor[] = [];
  const seen = new Set<string>([getAddress(node)]);
  let next = getAddress(node) === genesis ? undefined : start.sponsor;
  if (next === undefined && getAddress(node) !== genesis) {
    throw new ReplicationVerificationError(
      "sponsor-chain-invalid",
      `${getAddress(node)} has no sponsor and is not the genesis member ${genesis}`,
    );
  }
  while (next !== undefined) {
    const current = next;
    if (seen.has(current)) {
      throw new ReplicationVerificationError("sponsor-chain-invalid", `sponsor ${current} appears twice in the chain`);
    }
    seen.add(current);
    const role = current === genesis ? "the genesis member" : "sponsor";
    let read: NodeEvidenceRecord | undefined;
    let checked: CheckedEvidence;
    try {
      read = await readNodeEvidence(registry, current, range, source);
      if (read === undefined) {
        throw new ReplicationVerificationError("sponsor-chain-invalid", `${role} ${current} never registered`);
      }
      checked = await verifyNodeEvidence(read.evidence, { ...context, tcb: "report" });
    } catch (error) {
      if (error instanceof RefusedEventError) {
        throw new ReplicationVerificationError(
          "sponsor-chain-invalid",
          `${role} ${current}: ${describeRefusedEvent(error.refused)}`,
          { cause: error },
        );
      }
      if (!(error instanceof ReplicationVerificationError)) throw error;
      if (error.code === "sponsor-chain-invalid") throw error;
      throw new ReplicationVerificationError(
        "sponsor-chain-invalid",
        `${role} ${current}: ${describeVerificationFailure(error)}`,
        { cause: error },
      );
    }
    chain.push({ node: current, sponsor: read.record.sponsor, checked });
    if (current === genesis) break;
    if (read.record.sponsor === undefined) {
      throw new ReplicationVerificationError(
        "sponsor-chain-invalid",
        `sponsor ${current} has no sponsor and is not the genesis member ${genesis}`,
      );
    }
    next = read.record.sponsor;
  }
  return chain;
}
