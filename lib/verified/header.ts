/**
 * A block header as an endpoint reports it, checked to hash to the hash it claims: the state root, the number and the
 * time come from the fields that make up the hash, so once a hash is vouched for (by a quorum, or a light client),
 * every field below is too. The hashing is @ethereumjs/block's, with the hardfork chosen from the fields present:
 * each fork appended fields to the header (London `baseFeePerGas`; Shanghai `withdrawalsRoot`; Cancun `blobGasUsed`,
 * `excessBlobGas`, `parentBeaconBlockRoot`; Prague `requestsHash`), and the OP Stack (Base) keeps the same layout —
 * its forks fill the same fields (Ecotone the Cancun ones, Isthmus `requestsHash`), as Hardhat's `op` chain shows.
 */
import { createBlockHeaderFromRPC, type JSONRPCBlock } from "@ethereumjs/block";
import { createCustomCommon, Hardfork, Mainnet, type Common } from "@ethereumjs/common";
import { bytesToHex } from "@ethereumjs/util";

import { quantityToNumber } from "./rpc.js";

/** The fields of a header the reader relies on, all covered by `hash`. */
export interface VerifiedHeader {
  number: number;
  /** keccak256 of the RLP of the header's fields, lower case. */
  hash: string;
  parentHash: string;
  /** The root of the state trie after this block: what every account proof is checked against. */
  stateRoot: string;
  /** Chain time (seconds). */
  timestamp: number;
}

/** An endpoint's header does not hash to the hash it reports (or is not a header at all): it is not believed. */
export class HeaderMismatchError extends Error {
  override name = "HeaderMismatchError";
}

/** The newest fork whose header fields are all present. */
function hardforkOf(block: Record<string, unknown>): Hardfork {
  if (block["requestsHash"] != null) return Hardfork.Prague;
  if (block["parentBeaconBlockRoot"] != null || block["blobGasUsed"] != null) return Hardfork.Cancun;
  if (block["withdrawalsRoot"] != null) return Hardfork.Shanghai;
  if (block["baseFeePerGas"] != null) return Hardfork.London;
  return Hardfork.Berlin;
}

const commons = new Map<Hardfork, Common>();

/**
 * A chain whose forks all start at block 0: only the header's layout matters here, and no block-number rule of
 * Ethereum mainnet (the DAO fork's extra data) may apply to another chain's blocks.
 */
function commonFor(hardfork: Hardfork): Common {
  let common = commons.get(hardfork);
  if (common === undefined) {
    common = createCustomCommon(
      {
        name: "header-layout",
        hardforks: Mainnet.hardforks
          .filter((fork) => fork.name !== Hardfork.Dao)
          .map((fork) => ({ name: fork.name, block: 0 })),
      },
      Mainnet,
      { hardfork },
    );
    commons.set(hardfork, common);
  }
  return common;
}

/** The hash a header's fields (as `eth_getBlockByNumber` returns them) make, whatever hash the answer claims. */
export function computeHeaderHash(block: Record<string, unknown>): string {
  const header = createBlockHeaderFromRPC(block as unknown as JSONRPCBlock, { common: commonFor(hardforkOf(block)) });
  return bytesToHex(header.hash());
}

/**
 * Recomputes the hash of a header as `eth_getBlockByNumber` returns it and checks it against the hash the endpoint
 * claims. Throws {@link HeaderMismatchError} when they differ or the answer is not a header.
 */
export function headerFromRpcBlock(block: unknown): VerifiedHeader {
  if (block === null || typeof block !== "object") throw new HeaderMismatchError("the answer is not a block");
  const fields = block as Record<string, unknown>;
  const claimed = typeof fields["hash"] === "string" ? fields["hash"].toLowerCase() : undefined;
  if (claimed === undefined || !/^0x[0-9a-f]{64}$/.test(claimed))
    throw new HeaderMismatchError("the block has no hash");
  let hash: string;
  let stateRoot: string;
  let parentHash: string;
  try {
    const header = createBlockHeaderFromRPC(fields as unknown as JSONRPCBlock, {
      common: commonFor(hardforkOf(fields)),
    });
    hash = bytesToHex(header.hash());
    stateRoot = bytesToHex(header.stateRoot);
    parentHash = bytesToHex(header.parentHash);
  } catch (error) {
    throw new HeaderMismatchError(`the block's fields are not a header: ${(error as Error).message.split("\n")[0]}`);
  }
  if (hash !== claimed) {
    throw new HeaderMismatchError(`its header fields hash to ${hash}, not to the hash it reports (${claimed})`);
  }
  return {
    number: quantityToNumber(fields["number"], "block number"),
    hash,
    parentHash,
    stateRoot,
    timestamp: quantityToNumber(fields["timestamp"], "block timestamp"),
  };
}
