/**
 * The EIP-712 messages of the ReplicationRegistry, as its contract hashes them. The contract is the reference:
 * `test/ReplicationRegistry.ts` checks these types against its typehashes and digests.
 */
import { TypedDataEncoder, getBytes, keccak256, toUtf8Bytes, toUtf8String } from "ethers";
import type { BytesLike, Signer, TypedDataDomain, TypedDataField } from "ethers";
import type { AppBootInfo } from "../bootInfo.js";

export type { AppBootInfo };

/** EIP-712 domain name of the registry. */
export const REGISTRY_EIP712_NAME = "ReplicationRegistry";
/** EIP-712 domain version of the registry. */
export const REGISTRY_EIP712_VERSION = "2";

/** What a node signs to register (the registry's `Registration` struct). */
export interface Registration {
  node: string;
  encryptionPublicKey: BytesLike;
  bootInfo: AppBootInfo;
  /** The raw TDX quote. */
  quote: BytesLike;
  /** dstack's event log as UTF-8 JSON bytes (see {@link encodeEventLogBytes}); empty when not published. */
  eventLog: BytesLike;
}

/** What a node signs to refresh its attestation (the registry's `AttestationRefresh` struct). */
export interface AttestationRefresh {
  node: string;
  /** The node's refresh count before this one (the registry's `refreshes`): each refresh signature works once. */
  nonce: bigint | number;
  /** The new TDX quote; its `report_data` binds the node's keys as at registration. */
  quote: BytesLike;
  /** Its event log, as UTF-8 JSON bytes. */
  eventLog: BytesLike;
  /** What Intel's collateral gives the new quote now. */
  tcbStatus: string;
  advisoryIds: string[];
}

/** What a member signs to onboard a node (the registry's `Onboarding` struct). */
export interface Onboarding {
  node: string;
  /** `keccak256` of the quote the node registered with, as the registry stores it. */
  quoteHash: string;
  /** The shared secret encrypted to the node's encryption key. */
  ciphertext: BytesLike;
}

const APP_BOOT_INFO_FIELDS: TypedDataField[] = [
  { name: "appId", type: "address" },
  { name: "composeHash", type: "bytes32" },
  { name: "instanceId", type: "address" },
  { name: "deviceId", type: "bytes32" },
  { name: "mrAggregated", type: "bytes32" },
  { name: "mrSystem", type: "bytes32" },
  { name: "osImageHash", type: "bytes32" },
  { name: "tcbStatus", type: "string" },
  { name: "advisoryIds", type: "string[]" },
];

/** EIP-712 types of a registration. */
export const REGISTRATION_TYPES: Record<string, TypedDataField[]> = {
  Registration: [
    { name: "node", type: "address" },
    { name: "encryptionPublicKey", type: "bytes" },
    { name: "bootInfo", type: "AppBootInfo" },
    { name: "quote", type: "bytes" },
    { name: "eventLog", type: "bytes" },
  ],
  AppBootInfo: APP_BOOT_INFO_FIELDS,
};

/** EIP-712 types of an attestation refresh. */
export const ATTESTATION_REFRESH_TYPES: Record<string, TypedDataField[]> = {
  AttestationRefresh: [
    { name: "node", type: "address" },
    { name: "nonce", type: "uint64" },
    { name: "quote", type: "bytes" },
    { name: "eventLog", type: "bytes" },
    { name: "tcbStatus", type: "string" },
    { name: "advisoryIds", type: "string[]" },
  ],
};

/** EIP-712 types of an onboarding. */
export const ONBOARDING_TYPES: Record<string, TypedDataField[]> = {
  Onboarding: [
    { name: "node", type: "address" },
    { name: "quoteHash", type: "bytes32" },
    { name: "ciphertext", type: "bytes" },
  ],
};

/** The registry's EIP-712 domain on `chainId` at `registry`. */
export function registryDomain(chainId: bigint | number, registry: string): TypedDataDomain {
  return { name: REGISTRY_EIP712_NAME, version: REGISTRY_EIP712_VERSION, chainId, verifyingContract: registry };
}

/** The digest a node signs to register (equals the contract's `registrationDigest`). */
export function registrationDigest(domain: TypedDataDomain, registration: Registration): string {
  return TypedDataEncoder.hash(domain, REGISTRATION_TYPES, registration);
}

/** The digest a node signs to refresh its attestation (equals the contract's `refreshDigest` at that nonce). */
export function refreshDigest(domain: TypedDataDomain, refresh: AttestationRefresh): string {
  return TypedDataEncoder.hash(domain, ATTESTATION_REFRESH_TYPES, refresh);
}

/** The digest a member signs to onboard (equals the contract's `onboardingDigest`). */
export function onboardingDigest(domain: TypedDataDomain, onboarding: Onboarding): string {
  return TypedDataEncoder.hash(domain, ONBOARDING_TYPES, onboarding);
}

/** Sign a registration with the node's in-TEE Ethereum key. */
export async function signRegistration(
  signer: Pick<Signer, "signTypedData">,
  domain: TypedDataDomain,
  registration: Registration,
): Promise<string> {
  return signer.signTypedData(domain, REGISTRATION_TYPES, registration);
}

/** Sign an attestation refresh with the node's in-TEE Ethereum key. */
export async function signRefresh(
  signer: Pick<Signer, "signTypedData">,
  domain: TypedDataDomain,
  refresh: AttestationRefresh,
): Promise<string> {
  return signer.signTypedData(domain, ATTESTATION_REFRESH_TYPES, refresh);
}

/** Sign an onboarding with a member's in-TEE Ethereum key. */
export async function signOnboarding(
  signer: Pick<Signer, "signTypedData">,
  domain: TypedDataDomain,
  onboarding: Onboarding,
): Promise<string> {
  return signer.signTypedData(domain, ONBOARDING_TYPES, onboarding);
}

/** `keccak256` of a quote, as the registry stores it. */
export function quoteHash(quote: BytesLike): string {
  return keccak256(quote);
}

/** The event log bytes a node publishes in its registration: UTF-8 JSON of the entries. */
export function encodeEventLogBytes(json: string): Uint8Array {
  return toUtf8Bytes(json);
}

/** The event log JSON from a registration's bytes ("" when none was published). */
export function decodeEventLogBytes(bytes: BytesLike): string {
  return toUtf8String(getBytes(bytes));
}
