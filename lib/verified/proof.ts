/**
 * EIP-1186 proofs (`eth_getProof`) checked against a state root: the account's leaf in the state trie, and each
 * storage slot's leaf in the account's storage trie. The Merkle-Patricia walk is @ethereumjs/mpt's, the leaf
 * decoding @ethereumjs/rlp's; nothing an endpoint claims besides the proof nodes is used, and a claimed value that
 * differs from the proven one makes the whole answer a lie.
 */
import { verifyMerkleProof } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import {
  bytesToBigInt,
  bytesToHex,
  hexToBytes,
  KECCAK256_NULL_S,
  KECCAK256_RLP_S,
  setLengthLeft,
} from "@ethereumjs/util";

/** An account as its proof shows it; `exists` is false for a valid proof of absence. */
export interface ProvenAccount {
  exists: boolean;
  nonce: bigint;
  balance: bigint;
  storageRoot: string;
  codeHash: string;
}

/** The proven state of one account and of the slots asked for, at one state root. */
export interface ProvenStorage {
  account: ProvenAccount;
  /** slot → value (0 for a slot never written). */
  slots: Map<bigint, bigint>;
}

/** A proof that does not lead from the root to the value it is about, or an answer that is not a proof. */
export class ProofError extends Error {
  override name = "ProofError";
}

/** The root of an empty trie: an account without storage has it. */
export const EMPTY_TRIE_ROOT = KECCAK256_RLP_S;
/** The code hash of an account without code. */
export const EMPTY_CODE_HASH = KECCAK256_NULL_S;

const HEX = /^0x[0-9a-fA-F]*$/;

function proofNodes(proof: unknown, what: string): Uint8Array[] {
  if (
    !Array.isArray(proof) ||
    !proof.every((node) => typeof node === "string" && HEX.test(node) && node.length % 2 === 0)
  ) {
    throw new ProofError(`${what}: not a list of hex nodes`);
  }
  return proof.map((node: string) => hexToBytes(node as `0x${string}`));
}

/** The value at `key` in the trie with root `root`, or null when the proof shows it absent. */
async function provenValue(
  root: string,
  key: Uint8Array,
  nodes: Uint8Array[],
  what: string,
): Promise<Uint8Array | null> {
  // An empty trie has no nodes: its proofs are empty (geth), or its one node, the empty string `0x80` whose hash the
  // empty root is (Hardhat's EDR, for an account without storage); only an empty root admits either.
  if (nodes.length === 0 || (nodes.length === 1 && nodes[0]!.length === 1 && nodes[0]![0] === 0x80)) {
    if (root.toLowerCase() === EMPTY_TRIE_ROOT) return null;
    throw new ProofError(`${what}: an empty proof for a non-empty trie`);
  }
  try {
    return await verifyMerkleProof(key, nodes, { root: hexToBytes(root as `0x${string}`), useKeyHashing: true });
  } catch {
    throw new ProofError(`${what}: the proof does not lead from root ${root} to the key`);
  }
}

/** Checks an account proof against a state root; returns the account (`exists: false` if proven absent). */
export async function verifyAccountProof(
  stateRoot: string,
  address: string,
  accountProof: unknown,
): Promise<ProvenAccount> {
  const key = hexToBytes(address.toLowerCase() as `0x${string}`);
  if (key.length !== 20) throw new ProofError(`${address} is not an address`);
  const leaf = await provenValue(stateRoot, key, proofNodes(accountProof, "account proof"), `account ${address}`);
  if (leaf === null) {
    return { exists: false, nonce: 0n, balance: 0n, storageRoot: EMPTY_TRIE_ROOT, codeHash: EMPTY_CODE_HASH };
  }
  const decoded = RLP.decode(leaf);
  if (!Array.isArray(decoded) || decoded.length !== 4 || decoded.some((item) => !(item instanceof Uint8Array))) {
    throw new ProofError(`account ${address}: the proven leaf is not an account`);
  }
  const [nonce, balance, storageRoot, codeHash] = decoded as Uint8Array[];
  if (storageRoot!.length !== 32 || codeHash!.length !== 32) {
    throw new ProofError(`account ${address}: the proven leaf is not an account`);
  }
  return {
    exists: true,
    nonce: bytesToBigInt(nonce!),
    balance: bytesToBigInt(balance!),
    storageRoot: bytesToHex(storageRoot!),
    codeHash: bytesToHex(codeHash!),
  };
}

/** Checks a storage proof against an account's storage root; returns the slot's value (0 if proven absent). */
export async function verifyStorageProof(storageRoot: string, slot: bigint, proof: unknown): Promise<bigint> {
  const key = setLengthLeft(hexToBytes(`0x${slot.toString(16).padStart(64, "0")}`), 32);
  const leaf = await provenValue(storageRoot, key, proofNodes(proof, "storage proof"), `slot ${slotHex(slot)}`);
  if (leaf === null) return 0n;
  const decoded = RLP.decode(leaf);
  if (!(decoded instanceof Uint8Array) || decoded.length > 32) {
    throw new ProofError(`slot ${slotHex(slot)}: the proven leaf is not a storage value`);
  }
  return bytesToBigInt(decoded);
}

/** What `eth_getProof` answers (EIP-1186); only the proof nodes are trusted, and only once they verify. */
interface Eip1186Answer {
  address?: unknown;
  accountProof?: unknown;
  storageHash?: unknown;
  storageProof?: Array<{ key?: unknown; value?: unknown; proof?: unknown }>;
}

/**
 * Checks a whole `eth_getProof(address, slots)` answer against `stateRoot`: the account, then every slot asked for
 * against the proven storage root. A value or storage hash the endpoint claims beside its proofs must equal the
 * proven one, else the answer is refused as a lie.
 */
export async function verifyProofAnswer(
  stateRoot: string,
  address: string,
  slots: readonly bigint[],
  answer: unknown,
): Promise<ProvenStorage> {
  if (answer === null || typeof answer !== "object") throw new ProofError("the answer is not a proof");
  const proof = answer as Eip1186Answer;
  const account = await verifyAccountProof(stateRoot, address, proof.accountProof);
  if (
    typeof proof.storageHash === "string" &&
    account.exists &&
    proof.storageHash.toLowerCase() !== account.storageRoot
  ) {
    throw new ProofError(`it claims storage root ${proof.storageHash}, its proof shows ${account.storageRoot}`);
  }
  const items = Array.isArray(proof.storageProof) ? proof.storageProof : [];
  const values = new Map<bigint, bigint>();
  for (const slot of slots) {
    const item = items.find(
      (entry) => typeof entry.key === "string" && HEX.test(entry.key) && BigInt(entry.key) === slot,
    );
    if (item === undefined) throw new ProofError(`no proof for slot ${slotHex(slot)}`);
    const value = await verifyStorageProof(account.storageRoot, slot, item.proof);
    if (
      typeof item.value !== "string" ||
      !HEX.test(item.value) ||
      BigInt(item.value === "0x" ? "0x0" : item.value) !== value
    ) {
      throw new ProofError(`slot ${slotHex(slot)}: it claims ${String(item.value)}, its proof shows ${toHex(value)}`);
    }
    values.set(slot, value);
  }
  return { account, slots: values };
}

export function slotHex(slot: bigint): string {
  return `0x${slot.toString(16).padStart(64, "0")}`;
}

function toHex(value: bigint): string {
  return `0x${value.toString(16)}`;
}
