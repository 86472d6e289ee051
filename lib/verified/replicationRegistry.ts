/**
 * Where ReplicationRegistry keeps what a node's replicator decides on, and how to read it from proven storage: the
 * genesis member, the member count, and each node's record (status, sponsor, times, quote hash, encryption key and
 * boot info), all proven with `eth_getProof` against a verified header (./reader.ts). Nothing here is an `eth_call`
 * answer.
 *
 * The slots are the compiler's (the contract's `storageLayout`): written out once here, and checked against the build
 * by test/lib/verified-registry-layout.test.ts. Everything else is derived as in ./timelockedAppAuth.ts: a mapping's
 * entry is at `keccak256(key ‖ slot)` (an address key left-padded to 32 bytes), a struct's members follow its first
 * slot, `bytes` and `string` are one slot when short or a length slot with data from `keccak256(slot)` on, and a
 * dynamic array keeps its length in its slot and its elements from `keccak256(slot)` on.
 *
 * A record's strings, key and advisories are written by the node (anyone): a string that is not UTF-8 is returned in
 * its lossy form and named in the record's `problems` (as `getNode`'s poison-proof reader does), and a record whose
 * values are longer than a reader should take in is returned as unreadable; neither throws.
 */
import { getAddress, keccak256, toBeHex } from "ethers";

import type { AppBootInfo } from "../bootInfo.js";
import { nodeStatusOf, type NodeStatus } from "../replication/enums.js";
import type { VerifiedHeader } from "./header.js";
import type { VerifiedChainReader } from "./reader.js";
import {
  decodeString,
  mappingSlot,
  stringLayout,
  StringTooLongError,
  unpack,
  type StorageVariable,
} from "./timelockedAppAuth.js";

/** The storage variables of ReplicationRegistry, as the compiler lays them out (EIP712's fallbacks come first). */
export const REGISTRY_STORAGE = {
  nameFallback: { label: "_nameFallback", slot: 0n, offset: 0, bytes: 32, type: "t_string_storage" },
  versionFallback: { label: "_versionFallback", slot: 1n, offset: 0, bytes: 32, type: "t_string_storage" },
  genesis: { label: "_genesis", slot: 2n, offset: 0, bytes: 20, type: "t_address" },
  nodes: {
    label: "_nodes",
    slot: 3n,
    offset: 0,
    bytes: 32,
    type: "t_mapping(t_address,t_struct(NodeRecord)_storage)",
  },
  members: { label: "_members", slot: 4n, offset: 0, bytes: 64, type: "t_struct(AddressSet)_storage" },
} as const satisfies Record<string, StorageVariable>;

/** Members of the structs above: slot from the struct's start, offset and size (the compiler's layout). */
export const REGISTRY_STRUCT_MEMBERS = {
  NodeRecord: {
    status: { slot: 0n, offset: 0, bytes: 1 },
    registeredAt: { slot: 0n, offset: 1, bytes: 8 },
    sponsor: { slot: 0n, offset: 9, bytes: 20 },
    joinedAt: { slot: 1n, offset: 0, bytes: 8 },
    evictedAt: { slot: 1n, offset: 8, bytes: 8 },
    attestedAt: { slot: 1n, offset: 16, bytes: 8 },
    refreshes: { slot: 1n, offset: 24, bytes: 8 },
    quoteHash: { slot: 2n, offset: 0, bytes: 32 },
    encryptionPublicKey: { slot: 3n, offset: 0, bytes: 32 },
    bootInfo: { slot: 4n, offset: 0, bytes: 288 },
  },
  AppBootInfo: {
    appId: { slot: 0n, offset: 0, bytes: 20 },
    composeHash: { slot: 1n, offset: 0, bytes: 32 },
    instanceId: { slot: 2n, offset: 0, bytes: 20 },
    deviceId: { slot: 3n, offset: 0, bytes: 32 },
    mrAggregated: { slot: 4n, offset: 0, bytes: 32 },
    mrSystem: { slot: 5n, offset: 0, bytes: 32 },
    osImageHash: { slot: 6n, offset: 0, bytes: 32 },
    tcbStatus: { slot: 7n, offset: 0, bytes: 32 },
    advisoryIds: { slot: 8n, offset: 0, bytes: 32 },
  },
  AddressSet: { _inner: { slot: 0n, offset: 0, bytes: 64 } },
  Set: { _values: { slot: 0n, offset: 0, bytes: 32 }, _positions: { slot: 1n, offset: 0, bytes: 32 } },
} as const;

/** `IReplicationRegistry.ATTESTATION_PERIOD` (a constant of the contract's code; the layout test checks it). */
export const ATTESTATION_PERIOD_SECONDS = 30n * 24n * 3600n;

/** The most advisories of one record read; more is a node flooding its record, which is refused, not read slowly. */
export const MAX_PROVEN_ADVISORIES = 64;
/** The longest key or string of a record read (1,024 slots); a longer one is refused, not read slowly. */
export const MAX_RECORD_STRING_BYTES = 32 * 1024;

/** A node's record, proven. Its shape is node-records.ts's `NodeRecordView`. */
export interface ProvenNodeRecord {
  status: NodeStatus;
  registeredAt: bigint;
  /** The member that signed its onboarding; undefined for the genesis member and non-members. */
  sponsor: string | undefined;
  joinedAt: bigint;
  evictedAt: bigint;
  attestedAt: bigint;
  refreshes: bigint;
  /** Lower-case hex. */
  quoteHash: string;
  /** Lower-case hex. */
  encryptionPublicKey: string;
  /** Its strings as text; one that is not UTF-8 is in its lossy form (U+FFFD) and named in `problems`. */
  bootInfo: AppBootInfo;
  /** The strings that are not UTF-8 (only the node that wrote them can have made them so); empty for most. */
  problems: string[];
}

/** A record that is proven but that no reader takes in: the node wrote more than a reader reads. */
export interface UnreadableRecord {
  status: NodeStatus;
  unreadable: string;
}

/** What the replicator decides on, proven at one header. */
export interface ProvenRegistryView {
  /** The genesis member; undefined before the owner set one. */
  genesis: string | undefined;
  memberCount: bigint;
  records: Map<string, ProvenNodeRecord | UnreadableRecord>;
}

const hex32 = (value: bigint) => `0x${value.toString(16).padStart(64, "0")}`;
const address = (value: bigint) => getAddress(`0x${value.toString(16).padStart(40, "0")}`);

/** The first slot of `_nodes[node]`. */
export function nodeRecordSlot(node: string): bigint {
  return mappingSlot(getAddress(node), REGISTRY_STORAGE.nodes.slot);
}

/** The slot holding the number of members (`_members._inner._values.length`). */
export const MEMBER_COUNT_SLOT =
  REGISTRY_STORAGE.members.slot +
  REGISTRY_STRUCT_MEMBERS.AddressSet._inner.slot +
  REGISTRY_STRUCT_MEMBERS.Set._values.slot;

const R = REGISTRY_STRUCT_MEMBERS.NodeRecord;
const B = REGISTRY_STRUCT_MEMBERS.AppBootInfo;

/** The slots of a record's fixed part: its packed words, quote hash, key word and the boot info's slots. */
function fixedSlots(base: bigint): bigint[] {
  const boot = base + R.bootInfo.slot;
  return [base, base + 1n, base + 2n, base + R.encryptionPublicKey.slot, ...Object.values(B).map((m) => boot + m.slot)];
}

/** Where a `bytes`/`string` at `slot` holding `word` keeps its data (none when short); throws when too long. */
function bytesLayout(slot: bigint, word: bigint) {
  return stringLayout(slot, word, MAX_RECORD_STRING_BYTES);
}

/**
 * The genesis member, the member count and the records of `nodes`, proven against `header`. Three rounds of proofs at
 * most, each batching every node: the fixed slots, then the data of long keys and strings with the advisories' slots,
 * then the data of long advisories.
 */
export async function readProvenRegistry(
  reader: VerifiedChainReader,
  registry: string,
  header: VerifiedHeader,
  nodes: readonly string[],
): Promise<ProvenRegistryView> {
  const unique = [...new Set(nodes.map((node) => getAddress(node)))];
  const bases = new Map(unique.map((node) => [node, nodeRecordSlot(node)]));
  const first = await reader.readStorage(
    registry,
    [REGISTRY_STORAGE.genesis.slot, MEMBER_COUNT_SLOT, ...[...bases.values()].flatMap(fixedSlots)],
    header,
  );
  if (!first.account.exists) throw new Error(`no account at ${registry} at block ${header.number}`);
  const values = new Map(first.slots);
  const at = (slot: bigint) => values.get(slot) ?? 0n;
  const genesisWord = unpack(at(REGISTRY_STORAGE.genesis.slot), REGISTRY_STORAGE.genesis);

  // Round 2: the data of the key and of the TCB status, and each advisory's slot.
  type Pending = { node: string; base: bigint; problem?: string; advisoryCount: number; advisoryStart: bigint };
  const pending: Pending[] = [];
  const second: bigint[] = [];
  for (const [node, base] of bases) {
    const boot = base + R.bootInfo.slot;
    const entry: Pending = {
      node,
      base,
      advisoryCount: 0,
      advisoryStart: BigInt(keccak256(toBeHex(boot + B.advisoryIds.slot, 32))),
    };
    pending.push(entry);
    try {
      second.push(...bytesLayout(base + R.encryptionPublicKey.slot, at(base + R.encryptionPublicKey.slot)).dataSlots);
      second.push(...bytesLayout(boot + B.tcbStatus.slot, at(boot + B.tcbStatus.slot)).dataSlots);
    } catch (error) {
      entry.problem = tooLong(error);
      continue;
    }
    const count = at(boot + B.advisoryIds.slot);
    if (count > BigInt(MAX_PROVEN_ADVISORIES)) {
      entry.problem = `${count} advisories, more than the ${MAX_PROVEN_ADVISORIES} a reader takes in`;
      continue;
    }
    entry.advisoryCount = Number(count);
    for (let i = 0; i < entry.advisoryCount; i++) second.push(entry.advisoryStart + BigInt(i));
  }
  if (second.length > 0)
    for (const [slot, value] of (await reader.readStorage(registry, second, header)).slots) values.set(slot, value);

  // Round 3: the data of long advisories.
  const third: bigint[] = [];
  for (const entry of pending) {
    if (entry.problem !== undefined) continue;
    try {
      for (let i = 0; i < entry.advisoryCount; i++) {
        const slot = entry.advisoryStart + BigInt(i);
        third.push(...bytesLayout(slot, at(slot)).dataSlots);
      }
    } catch (error) {
      entry.problem = tooLong(error);
    }
  }
  if (third.length > 0)
    for (const [slot, value] of (await reader.readStorage(registry, third, header)).slots) values.set(slot, value);

  const records = new Map<string, ProvenNodeRecord | UnreadableRecord>();
  for (const entry of pending) {
    const { node, base } = entry;
    const word0 = at(base);
    const status = nodeStatusOf(unpack(word0, R.status));
    if (entry.problem !== undefined) {
      records.set(node, { status, unreadable: entry.problem });
      continue;
    }
    const problems: string[] = [];
    const text = (slot: bigint, what: string) => {
      const word = at(slot);
      const layout = bytesLayout(slot, word);
      const decoded = decodeString(
        word,
        layout,
        layout.dataSlots.map((s) => at(s)),
      );
      if (!decoded.valid) problems.push(`${what} is not UTF-8`);
      return decoded.text;
    };
    const keyWord = at(base + R.encryptionPublicKey.slot);
    const keyLayout = bytesLayout(base + R.encryptionPublicKey.slot, keyWord);
    const keyWords = keyLayout.short ? [keyWord] : keyLayout.dataSlots.map((s) => at(s));
    const key = `0x${keyWords
      .map((w) => w.toString(16).padStart(64, "0"))
      .join("")
      .slice(0, keyLayout.length * 2)}`;
    const boot = base + R.bootInfo.slot;
    const word1 = at(base + 1n);
    const sponsor = unpack(word0, R.sponsor);
    const bootInfo: AppBootInfo = {
      appId: address(at(boot + B.appId.slot) & ((1n << 160n) - 1n)),
      composeHash: hex32(at(boot + B.composeHash.slot)),
      instanceId: address(at(boot + B.instanceId.slot) & ((1n << 160n) - 1n)),
      deviceId: hex32(at(boot + B.deviceId.slot)),
      mrAggregated: hex32(at(boot + B.mrAggregated.slot)),
      mrSystem: hex32(at(boot + B.mrSystem.slot)),
      osImageHash: hex32(at(boot + B.osImageHash.slot)),
      tcbStatus: text(boot + B.tcbStatus.slot, "bootInfo.tcbStatus"),
      advisoryIds: Array.from({ length: entry.advisoryCount }, (_, i) =>
        text(entry.advisoryStart + BigInt(i), `bootInfo.advisoryIds[${i}]`),
      ),
    };
    records.set(node, {
      problems,
      status,
      registeredAt: unpack(word0, R.registeredAt),
      sponsor: sponsor === 0n ? undefined : address(sponsor),
      joinedAt: unpack(word1, R.joinedAt),
      evictedAt: unpack(word1, R.evictedAt),
      attestedAt: unpack(word1, R.attestedAt),
      refreshes: unpack(word1, R.refreshes),
      quoteHash: hex32(at(base + R.quoteHash.slot)),
      encryptionPublicKey: key,
      bootInfo,
    });
  }
  return {
    genesis: genesisWord === 0n ? undefined : address(genesisWord),
    memberCount: at(MEMBER_COUNT_SLOT),
    records,
  };
}

/** Whether a record is one a reader takes in. */
export function isReadable(record: ProvenNodeRecord | UnreadableRecord | undefined): record is ProvenNodeRecord {
  return record !== undefined && !("unreadable" in record);
}

function tooLong(error: unknown): string {
  if (error instanceof StringTooLongError) return `the registry's record holds ${error.message}`;
  throw error;
}
