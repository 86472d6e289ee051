/**
 * Where TimelockedAppAuth keeps what the guest agent decides on, and how to read it from proven storage.
 *
 * The slots are the compiler's (the contract's `storageLayout`): written out once here, in {@link APP_AUTH_STORAGE},
 * and checked against the build by test/lib/verified-layout.test.ts, so a change of the contract's storage fails
 * that test instead of making the agent read the wrong slots. Everything else is derived: a mapping's entry is at
 * `keccak256(key ‖ slot)`, an EnumerableSet's `_positions` mapping is its second slot (a hash is in the set iff its
 * position is not 0), a `string` is one slot when short (data and `2·length` in the last byte) or its length
 * (`2·length + 1`) with the data from `keccak256(slot)` on.
 */
import { concat, getBytes, hexlify, id as keccakOfText, keccak256, toBeHex, zeroPadValue } from "ethers";

import {
  composeHashProposalId,
  readComposeUri,
  TIMELOCKED_APP_AUTH_FUNCTIONS,
  TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL,
  type ComposeUriPointer,
  type Release,
} from "../release.js";
import { decodeUtf8 } from "../untrusted/decode.js";
import type { VerifiedHeader } from "./header.js";
import { ProofUnavailableError, type VerifiedChainReader } from "./reader.js";

/** A value kept at `slot`, `offset` bytes from the right, `bytes` long (the compiler's `storageLayout` entry). */
export interface StorageVariable {
  label: string;
  slot: bigint;
  offset: number;
  bytes: number;
  /** The compiler's type id without its AST numbers, e.g. "t_uint64", "t_struct(Bytes32Set)_storage". */
  type: string;
  /** For a struct, the compiler's name of it (two libraries may both name a struct `Set`). */
  typeLabel?: string;
}

/**
 * The storage variables of TimelockedAppAuth the agent reads (and the ones around them, so the test sees every
 * change). The struct layouts below are OpenZeppelin's EnumerableSet (`Bytes32Set { Set _inner }`,
 * `Set { bytes32[] _values; mapping(bytes32 => uint256) _positions }`) and the contract's own `Policy` (one word),
 * `ComposeHashEntry` (one word per compose hash) and `Proposal` (proposals of every other kind).
 */
export const APP_AUTH_STORAGE = {
  owner: { label: "_owner", slot: 0n, offset: 0, bytes: 20, type: "t_address" },
  pendingOwner: { label: "_pendingOwner", slot: 1n, offset: 0, bytes: 20, type: "t_address" },
  /** The policy word: notice, flags, OS pins, the current release and the bounds of the compose-hash list. */
  policy: {
    label: "_policy",
    slot: 2n,
    offset: 0,
    bytes: 32,
    type: "t_struct(Policy)_storage",
    typeLabel: "struct TimelockedAppAuth.Policy",
  },
  /** One word per compose hash (`ComposeHashEntry`): zero iff never proposed, or cancelled, or removed. */
  composeHashEntries: {
    label: "_composeHashEntries",
    slot: 3n,
    offset: 0,
    bytes: 32,
    type: "t_mapping(t_bytes32,t_struct(ComposeHashEntry)_storage)",
  },
  /** The compose-hash list by position: allowed in `[allowedStart, allowedEnd)`, proposed up to `proposedEnd`. */
  composeHashList: {
    label: "_composeHashList",
    slot: 4n,
    offset: 0,
    bytes: 32,
    type: "t_mapping(t_uint256,t_bytes32)",
  },
  /** The current release once the owner removed it (then `currentPosition` is 0). */
  removedCurrentRelease: { label: "_removedCurrentRelease", slot: 5n, offset: 0, bytes: 32, type: "t_bytes32" },
  devices: {
    label: "_devices",
    slot: 6n,
    offset: 0,
    bytes: 64,
    type: "t_struct(Bytes32Set)_storage",
    typeLabel: "struct EnumerableSet.Bytes32Set",
  },
  proposals: {
    label: "_proposals",
    slot: 8n,
    offset: 0,
    bytes: 32,
    type: "t_mapping(t_bytes32,t_struct(Proposal)_storage)",
  },
  openProposalIds: {
    label: "_openProposalIds",
    slot: 9n,
    offset: 0,
    bytes: 64,
    type: "t_struct(Bytes32Set)_storage",
    typeLabel: "struct EnumerableSet.Bytes32Set",
  },
  /** `Bytes32Set[2]`, one per `OsMeasurement` (0: mrSystem, 1: OS image hash), two slots each (128 bytes). */
  osMeasurements: {
    label: "_osMeasurements",
    slot: 11n,
    offset: 0,
    bytes: 128,
    type: "t_array(t_struct(Bytes32Set)_storage)_storage",
  },
} as const satisfies Record<string, StorageVariable>;

/** Members of the structs above, by the compiler's name of the struct: slot from its start, offset and size. */
export const STRUCT_MEMBERS = {
  Bytes32Set: { _inner: { slot: 0n, offset: 0, bytes: 64 } },
  Set: { _values: { slot: 0n, offset: 0, bytes: 32 }, _positions: { slot: 1n, offset: 0, bytes: 32 } },
  Policy: {
    noticePeriod: { slot: 0n, offset: 0, bytes: 4 },
    upgradesDisabled: { slot: 0n, offset: 4, bytes: 1 },
    allowAnyDevice: { slot: 0n, offset: 5, bytes: 1 },
    requireTcbUpToDate: { slot: 0n, offset: 6, bytes: 1 },
    /** Bit `1 << OsMeasurement` set iff that OS measurement is pinned. */
    pinnedOsFields: { slot: 0n, offset: 7, bytes: 1 },
    releaseSetAt: { slot: 0n, offset: 8, bytes: 5 },
    /** The current release's position + 1; 0: none, or removed by the owner. */
    currentPosition: { slot: 0n, offset: 13, bytes: 4 },
    allowedStart: { slot: 0n, offset: 17, bytes: 4 },
    allowedEnd: { slot: 0n, offset: 21, bytes: 4 },
    proposedEnd: { slot: 0n, offset: 25, bytes: 4 },
    /** How many proposals of the kinds other than AddComposeHash are open (the set's length). */
    otherProposals: { slot: 0n, offset: 29, bytes: 1 },
  },
  ComposeHashEntry: {
    /** 0: none, 1: proposed, 2: allowed. */
    status: { slot: 0n, offset: 0, bytes: 1 },
    position: { slot: 0n, offset: 1, bytes: 4 },
    readyAt: { slot: 0n, offset: 5, bytes: 8 },
    uriBlock: { slot: 0n, offset: 13, bytes: 8 },
    allowedAt: { slot: 0n, offset: 21, bytes: 8 },
  },
  Proposal: {
    kind: { slot: 0n, offset: 0, bytes: 1 },
    readyAt: { slot: 0n, offset: 1, bytes: 8 },
    value: { slot: 1n, offset: 0, bytes: 32 },
  },
} as const;

/** `ComposeHashEntry.status` as the contract numbers it. */
export const COMPOSE_HASH_STATUS = { none: 0n, proposed: 1n, allowed: 2n } as const;

/** `keccak256(key ‖ slot)`: the slot of a mapping's entry for a 32-byte key. */
export function mappingSlot(key: string, slot: bigint): bigint {
  return BigInt(keccak256(concat([zeroPadValue(key, 32), toBeHex(slot, 32)])));
}

/** Where a Bytes32Set at `setSlot` keeps the position of `value` (0: not in the set). */
export function setPositionSlot(setSlot: bigint, value: string): bigint {
  return mappingSlot(value, setSlot + STRUCT_MEMBERS.Bytes32Set._inner.slot + STRUCT_MEMBERS.Set._positions.slot);
}

/** `OsMeasurement` as the contract numbers it: the index into `_osMeasurements` and the bit of `_pinnedOsFields`. */
export const OS_MEASUREMENT = { mrSystem: 0, osImageHash: 1 } as const;
export type OsMeasurementName = keyof typeof OS_MEASUREMENT;

/** Where the Bytes32Set of pinned values of `field` keeps the position of `value` (0: not pinned). */
export function osMeasurementPositionSlot(field: OsMeasurementName, value: string): bigint {
  const slotsPerSet = BigInt(STRUCT_MEMBERS.Bytes32Set._inner.bytes / 32);
  return setPositionSlot(APP_AUTH_STORAGE.osMeasurements.slot + BigInt(OS_MEASUREMENT[field]) * slotsPerSet, value);
}

/** Whether `field` is pinned, from the policy word. */
export function osFieldPinned(policyWord: bigint, field: OsMeasurementName): boolean {
  return (unpack(policyWord, STRUCT_MEMBERS.Policy.pinnedOsFields) & (1n << BigInt(OS_MEASUREMENT[field]))) !== 0n;
}

/** Where the word of `composeHash` (its `ComposeHashEntry`) is. */
export function composeHashEntrySlot(composeHash: string): bigint {
  return mappingSlot(composeHash, APP_AUTH_STORAGE.composeHashEntries.slot);
}

/** Where position `position` of the compose-hash list is. */
export function composeHashListSlot(position: bigint): bigint {
  return mappingSlot(toBeHex(position, 32), APP_AUTH_STORAGE.composeHashList.slot);
}

/** Whether the word of a compose hash says it is allowed. */
export function composeHashAllowed(entryWord: bigint): boolean {
  return unpack(entryWord, STRUCT_MEMBERS.ComposeHashEntry.status) === COMPOSE_HASH_STATUS.allowed;
}

/** The value `variable` holds in the word `word` of its slot. */
export function unpack(word: bigint, variable: { offset: number; bytes: number }): bigint {
  return (word >> BigInt(variable.offset * 8)) & ((1n << BigInt(variable.bytes * 8)) - 1n);
}

/** The longest URI the agent reads; a longer string is refused rather than proven slot by slot. */
export const MAX_URI_BYTES = 4096;

/** A stored string longer than {@link MAX_URI_BYTES}: its data is not read. */
export class StringTooLongError extends Error {
  override name = "StringTooLongError";

  constructor(
    readonly length: bigint,
    max = MAX_URI_BYTES,
  ) {
    super(`a string of ${length} bytes, longer than the ${max} the agent reads`);
  }
}

/**
 * The length of a `string` whose slot holds `word`, and the slots of its data (none when short). Throws
 * {@link StringTooLongError} past `max` (default {@link MAX_URI_BYTES}).
 */
export function stringLayout(
  slot: bigint,
  word: bigint,
  max = MAX_URI_BYTES,
): { length: number; dataSlots: bigint[]; short: boolean } {
  if ((word & 1n) === 0n) return { length: Number((word & 0xffn) / 2n), dataSlots: [], short: true };
  const length = (word - 1n) / 2n;
  if (length > BigInt(max)) throw new StringTooLongError(length, max);
  const start = BigInt(keccak256(toBeHex(slot, 32)));
  const count = Math.ceil(Number(length) / 32);
  return {
    length: Number(length),
    dataSlots: Array.from({ length: count }, (_, i) => start + BigInt(i)),
    short: false,
  };
}

/**
 * The text of a `string` from its slot's word and (when long) its data words: `valid` unless its bytes are not UTF-8
 * (then the lossy form; an owner can store any bytes).
 */
export function decodeString(
  word: bigint,
  layout: { length: number; short: boolean },
  data: bigint[],
): { text: string; valid: boolean } {
  const words = layout.short ? [word] : data;
  const bytes = Buffer.concat(words.map((w) => Buffer.from(w.toString(16).padStart(64, "0"), "hex")));
  return decodeUtf8(bytes.subarray(0, layout.length));
}

const hex32 = (value: bigint) => `0x${value.toString(16).padStart(64, "0")}`;

/** What the reconciler decides on, proven at one header. */
export interface ProvenReleaseView {
  /** The current release; undefined before the first release. */
  release: Release | undefined;
  /** For the current release's hash and each hash asked about: whether it is allowed. */
  allowed: Map<string, boolean>;
}

/**
 * The current release (hash, URI, when it was set, whether it is still allowed) and whether each of `hashesToCheck`
 * is allowed, proven against `header`. Mirrors `currentRelease()` and `allowedComposeHashes(hash)`. At most three
 * proof requests (the policy word with the hashes asked about, the current release's list position, its word), then
 * one `eth_getLogs` for its URI: the ChangeProposed log at the block its word names, held to the word's `readyAt`
 * (an endpoint whose log does not match is passed over for the next).
 */
export async function readProvenRelease(
  reader: VerifiedChainReader,
  appAuth: string,
  header: VerifiedHeader,
  hashesToCheck: readonly string[],
): Promise<ProvenReleaseView> {
  const S = APP_AUTH_STORAGE;
  const P = STRUCT_MEMBERS.Policy;
  const E = STRUCT_MEMBERS.ComposeHashEntry;
  const known = [...new Set(hashesToCheck.map((hash) => hash.toLowerCase()))];
  const first = await reader.readStorage(
    appAuth,
    [S.policy.slot, S.removedCurrentRelease.slot, ...known.map(composeHashEntrySlot)],
    header,
  );
  if (!first.account.exists) throw new Error(`no account at ${appAuth} at block ${header.number}`);
  const value = (slot: bigint, storage = first) => storage.slots.get(slot) ?? 0n;
  const allowed = new Map<string, boolean>();
  for (const hash of known) allowed.set(hash, composeHashAllowed(value(composeHashEntrySlot(hash))));

  const policy = value(S.policy.slot);
  const setAt = unpack(policy, P.releaseSetAt);
  const position = unpack(policy, P.currentPosition);
  if (position === 0n) {
    // No release yet, or the owner removed the current one: then it is named, not allowed, and has no URI.
    const removed = hex32(value(S.removedCurrentRelease.slot));
    if (BigInt(removed) === 0n) return { release: undefined, allowed };
    allowed.set(removed, false);
    return { release: { composeHash: removed, uri: "", setAt, allowed: false }, allowed };
  }
  const listSlot = composeHashListSlot(position - 1n);
  const current = hex32(value(listSlot, await reader.readStorage(appAuth, [listSlot], header)));
  const entrySlot = composeHashEntrySlot(current);
  const entry = first.slots.has(entrySlot)
    ? value(entrySlot)
    : value(entrySlot, await reader.readStorage(appAuth, [entrySlot], header));
  const isAllowed = composeHashAllowed(entry);
  allowed.set(current, isAllowed);
  const uri = isAllowed
    ? await readComposeUriFromEndpoints(reader, appAuth, current, {
        uriBlock: unpack(entry, E.uriBlock),
        readyAt: unpack(entry, E.readyAt),
      })
    : { uri: "" };
  return { release: { composeHash: current, ...uri, setAt, allowed: isAllowed }, allowed };
}

/** {@link readComposeUri} from the first endpoint whose log matches proven storage. */
async function readComposeUriFromEndpoints(
  reader: VerifiedChainReader,
  appAuth: string,
  composeHash: string,
  pointer: ComposeUriPointer,
): Promise<Pick<Release, "uri" | "uriProblem">> {
  const problems: string[] = [];
  for (const source of reader.logSources()) {
    try {
      return await readComposeUri(source, appAuth, composeHash, pointer);
    } catch (error) {
      problems.push(error instanceof Error ? error.message : String(error));
    }
  }
  throw new ProofUnavailableError(
    `no RPC endpoint gave the ChangeProposed log that proven storage points at for ${composeHash}: ${problems.join("; ")}`,
    [],
  );
}

/** The selectors of {@link TIMELOCKED_APP_AUTH_FUNCTIONS}, as numbers (the dispatcher pushes them right-aligned). */
const INTERFACE_SELECTORS = TIMELOCKED_APP_AUTH_FUNCTIONS.map(
  (signature) => [signature, BigInt(keccakOfText(signature).slice(0, 10))] as const,
);

/**
 * The constants `code` pushes (the immediates of PUSH1 to PUSH32, read in instruction order so that push data is
 * never taken for an instruction). The metadata trailer is read as instructions too, which can only add values.
 */
export function pushedConstants(code: string): Set<bigint> {
  const bytes = getBytes(code);
  const constants = new Set<bigint>();
  for (let pc = 0; pc < bytes.length; pc++) {
    const op = bytes[pc]!;
    if (op >= 0x60 && op <= 0x7f) {
      const size = op - 0x5f;
      const data = bytes.subarray(pc + 1, pc + 1 + size);
      constants.add(data.length === 0 ? 0n : BigInt(hexlify(data)));
      pc += size;
    }
  }
  return constants;
}

/**
 * The functions of `ITimelockedAppAuth` whose selectors `code` never pushes, so cannot dispatch: none for
 * TimelockedAppAuth's code, optimized or not.
 *
 * Not the interface id itself: `supportsInterface` compares with `type(ITimelockedAppAuth).interfaceId`, a left-aligned
 * `bytes4`, and the optimizer's constant optimizer may push it in another form (a shifted constant), so its 4 bytes
 * need not be anywhere in that code. The dispatcher's
 * selectors are compared right-aligned, as the plain PUSH of their value.
 */
export function missingInterfaceFunctions(code: string): string[] {
  const constants = pushedConstants(code);
  return INTERFACE_SELECTORS.filter(([, selector]) => !constants.has(selector)).map(([signature]) => signature);
}

/**
 * Checks that `appAuth` holds code, proven against `header`, that dispatches every function of TimelockedAppAuth's
 * interface — a check of the configuration (a wrong address or chain), made on proven bytes rather than on an
 * `eth_call` answer.
 */
export async function checkProvenAppAuth(
  reader: VerifiedChainReader,
  appAuth: string,
  header: VerifiedHeader,
): Promise<void> {
  const code = await reader.readCode(appAuth, header);
  if (code === "0x") {
    throw new Error(
      `no contract at ${appAuth} at block ${header.number}: check the AppAuth address and the RPC's chain`,
    );
  }
  const missing = missingInterfaceFunctions(code);
  if (missing.length > 0) {
    throw new Error(
      `the contract at ${appAuth} is not a TimelockedAppAuth (its code does not dispatch ${missing.length} of the ` +
        `${INTERFACE_SELECTORS.length} functions of interface ${TIMELOCKED_APP_AUTH_INTERFACE_ID_LITERAL}, e.g. ${missing[0]})`,
    );
  }
}

/** An open proposal as the contract stores it (its state is derived from `readyAt`, as the contract does). */
export interface ProvenProposal {
  id: string;
  /** The `ChangeKind` number. */
  kind: number;
  readyAt: bigint;
  value: string;
}

/** The most open proposals read in one view; more is an owner flooding the list, and is refused, not read slowly. */
export const MAX_PROVEN_PROPOSALS = 256;

/**
 * The open proposals, in the order of `getProposals()` (compose hashes from the list's tail, then the others from the
 * `_openProposalIds` set), with what storage holds for each, proven against `header`: one proof for the policy word
 * and the set's length, one for the list positions and the set's ids, one for the hashes' words and the proposals.
 */
export async function readProvenProposals(
  reader: VerifiedChainReader,
  appAuth: string,
  header: VerifiedHeader,
): Promise<ProvenProposal[]> {
  const S = APP_AUTH_STORAGE;
  const P = STRUCT_MEMBERS.Policy;
  const E = STRUCT_MEMBERS.ComposeHashEntry;
  const valuesSlot = S.openProposalIds.slot + STRUCT_MEMBERS.Bytes32Set._inner.slot + STRUCT_MEMBERS.Set._values.slot;
  const first = await reader.readStorage(appAuth, [S.policy.slot, valuesSlot], header);
  const policy = first.slots.get(S.policy.slot) ?? 0n;
  const allowedEnd = unpack(policy, P.allowedEnd);
  const proposedEnd = unpack(policy, P.proposedEnd);
  const length = first.slots.get(valuesSlot) ?? 0n;
  const composeCount = proposedEnd > allowedEnd ? proposedEnd - allowedEnd : 0n;
  if (length + composeCount > BigInt(MAX_PROVEN_PROPOSALS)) {
    throw new Error(`${length + composeCount} open proposals, more than the ${MAX_PROVEN_PROPOSALS} read in one view`);
  }
  if (length + composeCount === 0n) return [];
  // A dynamic array's elements start at keccak256(its slot).
  const start = BigInt(keccak256(toBeHex(valuesSlot, 32)));
  const idSlots = Array.from({ length: Number(length) }, (_, i) => start + BigInt(i));
  const listSlots = Array.from({ length: Number(composeCount) }, (_, i) => composeHashListSlot(allowedEnd + BigInt(i)));
  const second = await reader.readStorage(appAuth, [...listSlots, ...idSlots], header);
  const hashes = listSlots.map((slot) => hex32(second.slots.get(slot) ?? 0n));
  const idList = idSlots.map((slot) => hex32(second.slots.get(slot) ?? 0n));
  const bases = idList.map((id) => mappingSlot(id, S.proposals.slot));
  const fields = await reader.readStorage(
    appAuth,
    [
      ...hashes.map(composeHashEntrySlot),
      ...bases.flatMap((base) => [base + STRUCT_MEMBERS.Proposal.kind.slot, base + STRUCT_MEMBERS.Proposal.value.slot]),
    ],
    header,
  );
  const composeProposals = hashes.map((hash) => ({
    id: composeHashProposalId(hash),
    kind: 0,
    readyAt: unpack(fields.slots.get(composeHashEntrySlot(hash)) ?? 0n, E.readyAt),
    value: hash,
  }));
  return [
    ...composeProposals,
    ...idList.map((id, i) => {
      const word = fields.slots.get(bases[i]! + STRUCT_MEMBERS.Proposal.kind.slot) ?? 0n;
      return {
        id,
        kind: Number(unpack(word, STRUCT_MEMBERS.Proposal.kind)),
        readyAt: unpack(word, STRUCT_MEMBERS.Proposal.readyAt),
        value: hex32(fields.slots.get(bases[i]! + STRUCT_MEMBERS.Proposal.value.slot) ?? 0n),
      };
    }),
  ];
}
