/**
 * What dstack's KMS contract publishes about the KMS's keys: `DstackKms.kmsInfo()`, the public getter of
 * `struct KmsInfo { bytes k256Pubkey; bytes caPubkey; bytes quote; bytes eventlog; }`, set by the contract's owner
 * (`setKmsInfo`, which emits `KmsInfoSet(bytes k256Pubkey)`).
 * - `k256Pubkey`: the KMS root's secp256k1 key, 33 bytes compressed; the end of every key signature chain
 *   (signature-chain.ts).
 * - `caPubkey`: the KMS root CA's P-256 key, DER SubjectPublicKeyInfo; what a CVM's `key-provider` event names
 *   (key-provider.ts).
 * The KMS contract is a UUPS proxy whose owner can change both at once: trusting these values is trusting the KMS and
 * its owner. `contracts/reference/KmsStandIn.sol` has the same functions; a test keeps the two in step.
 */
import { Contract, getBytes, hexlify } from "ethers";
import type { ContractRunner } from "ethers";

import { DstackEvidenceError } from "./errors.js";
import { compressPublicKey, publicKeyAddress } from "./signature-chain.js";

/** Upstream `DstackKms`'s KMS-info surface. */
export const KMS_INFO_ABI = [
  "function kmsInfo() view returns (bytes k256Pubkey, bytes caPubkey, bytes quote, bytes eventlog)",
  "function setKmsInfo((bytes k256Pubkey, bytes caPubkey, bytes quote, bytes eventlog) info)",
  "event KmsInfoSet(bytes k256Pubkey)",
] as const;

/** `kmsInfo()`, as 0x-hex. */
export interface KmsInfo {
  k256Pubkey: string;
  caPubkey: string;
  quote: string;
  eventlog: string;
}

/** The KMS root as a signature chain ends in it. */
export interface KmsRoot {
  /** 33 bytes, compressed, 0x-hex. */
  publicKey: string;
  /** Its Ethereum address (what `ecrecover` gives on-chain). */
  address: string;
  /** The KMS root CA key the `key-provider` event names (DER SubjectPublicKeyInfo, 0x-hex). */
  caPublicKey: string;
}

/** Reads `kmsInfo()` of the KMS contract at `address` (at `blockTag`, default latest). */
export async function readKmsInfo(
  runner: ContractRunner,
  address: string,
  blockTag?: string | number,
): Promise<KmsInfo> {
  const contract = new Contract(address, KMS_INFO_ABI, runner);
  const [k256Pubkey, caPubkey, quote, eventlog] = (await contract
    .getFunction("kmsInfo")
    .staticCall(blockTag === undefined ? {} : { blockTag })) as [string, string, string, string];
  return { k256Pubkey, caPubkey, quote, eventlog };
}

/**
 * The KMS root `info` publishes; throws `kms-info-unset` when it publishes none, `public-key-invalid` when `k256Pubkey`
 * is not a secp256k1 key.
 */
export function kmsRootOf(info: Pick<KmsInfo, "k256Pubkey" | "caPubkey">): KmsRoot {
  if (getBytes(info.k256Pubkey).length === 0) {
    throw new DstackEvidenceError("kms-info-unset", "the KMS publishes no k256Pubkey (kmsInfo is not set)");
  }
  const publicKey = hexlify(compressPublicKey(info.k256Pubkey, "the KMS's k256Pubkey"));
  return { publicKey, address: publicKeyAddress(publicKey), caPublicKey: hexlify(getBytes(info.caPubkey)) };
}

/** The KMS root that the KMS contract at `address` publishes now (or at `blockTag`): {@link readKmsInfo}, then
 * {@link kmsRootOf}. */
export async function readKmsRoot(
  runner: ContractRunner,
  address: string,
  blockTag?: string | number,
): Promise<KmsRoot> {
  return kmsRootOf(await readKmsInfo(runner, address, blockTag));
}
