/**
 * A message signed by a key that `GetKey` derived, checked all the way to the KMS root: the derived key signed the
 * message, the app key signed the derived key (`sig0`), the KMS root signed the app key for this app (`kmsSig`).
 * `contracts/lib/DstackSignatureChain.sol` (`verifySignedDigest`) makes the same checks in the same order, with the
 * same verdicts (test/lib/dstack-signed-message.test.ts runs both over test/fixtures/dstack/signed-message-verdicts.json).
 *
 * dstack fixes the chain's formats (signature-chain.ts) but not how an app signs with its derived key. A key derived
 * for the purpose `ethereum` is an Ethereum key, so the message signature here is Ethereum's: 65 bytes `r ‖ s ‖ v` with
 * v 27 or 28 and s low, over a 32-byte digest, which is what ethers' `signMessage` (EIP-191, {@link personalDigest})
 * and `signTypedData` (EIP-712) produce and OpenZeppelin's `ECDSA.recover` accepts.
 *
 * Refusals, each with its code (DstackEvidenceError) and the values that failed:
 * - `message-signature-mismatch`: the derived key did not sign this digest (a tampered message or signature);
 * - `app-key-mismatch`: `sig0` was not made by the app key given, over this purpose and derived key (a tampered
 *   purpose or derived key). Only when the app key is given (the on-chain verifier always needs it); without it the
 *   chain is walked from `sig0` and such a tampering surfaces as `kms-root-mismatch`;
 * - `kms-root-mismatch`: `kmsSig` over this app id and app key was not made by the KMS root (another app id, an app
 *   key issued to another app, another KMS, a forged chain);
 * - `signature-malformed`, `public-key-invalid`, `signature-chain-malformed`, `app-id-invalid`: bad encodings.
 */
import { secp256k1 } from "@noble/curves/secp256k1";
import { computeAddress, getBytes, hashMessage, hexlify } from "ethers";
import type { BytesLike } from "ethers";

import { DstackEvidenceError } from "./errors.js";
import {
  compressPublicKey,
  verifyKeyChain,
  type KeySignatureChain,
  type RecoveredKeyChain,
} from "./signature-chain.js";

/** A digest signed by a derived key, and the chain that derived key came with (its app key optional, see there). */
export interface DstackSignedMessage extends KeySignatureChain {
  /** The 32 bytes the derived key signed (e.g. {@link personalDigest} of a message, or an EIP-712 digest). */
  digest: BytesLike;
  /** 65 bytes `r ‖ s ‖ v`, v 27 or 28 (Ethereum's convention), s low. */
  signature: BytesLike;
}

/** What a verified message proves: who signed it, and the chain up to the KMS root. */
export interface VerifiedSignedMessage extends RecoveredKeyChain {
  /** The digest, 0x-hex. */
  digest: string;
}

/** Hex as dstack's JSON sends it may lack the 0x. */
function withPrefix(value: BytesLike): BytesLike {
  return typeof value === "string" && !/^0x/i.test(value) ? `0x${value}` : value;
}

/** The EIP-191 digest ethers' `signMessage` signs for `message` (text as UTF-8, or bytes). */
export function personalDigest(message: string | Uint8Array): string {
  return hashMessage(message);
}

/**
 * The compressed public key that signed `digest` with an Ethereum signature; throws `signature-malformed` unless it
 * is 65 bytes with v 27 or 28, r and s in range and s low (OpenZeppelin's `ECDSA.tryRecover` rules).
 */
export function recoverEthereumSigner(
  digest: BytesLike,
  signature: BytesLike,
  what = "the message signature",
): Uint8Array {
  const hash = getBytes(withPrefix(digest));
  if (hash.length !== 32) {
    throw new DstackEvidenceError("signature-malformed", `the digest is ${hash.length} bytes; a signed digest is 32`);
  }
  let bytes: Uint8Array;
  try {
    bytes = getBytes(withPrefix(signature));
  } catch (error) {
    throw new DstackEvidenceError("signature-malformed", `${what} is not hex`, { cause: error });
  }
  if (bytes.length !== 65) {
    throw new DstackEvidenceError("signature-malformed", `${what} is ${bytes.length} bytes; it must be 65 (r ‖ s ‖ v)`);
  }
  const v = bytes[64]!;
  if (v !== 27 && v !== 28) {
    throw new DstackEvidenceError(
      "signature-malformed",
      `${what} has v = ${v}; an Ethereum signature's v is 27 or 28 (dstack's 0/1 is for the chain only)`,
    );
  }
  try {
    const parsed = secp256k1.Signature.fromCompact(bytes.subarray(0, 64));
    if (parsed.hasHighS()) throw new Error("s is in the upper half of the curve order");
    return parsed
      .addRecoveryBit(v - 27)
      .recoverPublicKey(hash)
      .toRawBytes(true);
  } catch (error) {
    throw new DstackEvidenceError(
      "signature-malformed",
      `${what} does not recover a key: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/**
 * Checks that the derived key of `signed` signed its digest, then its chain ({@link verifyKeyChain}): that the key
 * was issued by the KMS whose root is `kmsRoot` (what `DstackKms.kmsInfo().k256Pubkey` publishes; readKmsRoot in kms-info.ts reads it) to the app
 * `signed.appId` for `signed.purpose`. Throws {@link DstackEvidenceError} naming the first link that fails.
 */
export function verifySignedMessage(signed: DstackSignedMessage, kmsRoot: BytesLike): VerifiedSignedMessage {
  // Keys first, then the links from the message up, as the on-chain verifier does.
  compressPublicKey(kmsRoot, "the KMS root key");
  if (signed.signatureChain.length !== 2) {
    throw new DstackEvidenceError(
      "signature-chain-malformed",
      `the signature chain has ${signed.signatureChain.length} signatures; GetKey returns two: [app, KMS]`,
    );
  }
  const derived = hexlify(compressPublicKey(signed.derivedPublicKey, "the derived public key"));
  if (signed.appPublicKey !== undefined) compressPublicKey(signed.appPublicKey, "the app public key");
  const signer = hexlify(recoverEthereumSigner(signed.digest, signed.signature));
  if (signer !== derived) {
    throw new DstackEvidenceError(
      "message-signature-mismatch",
      `the message signature was made by ${computeAddress(signer)}, not by the derived key ${computeAddress(derived)} ` +
        `(${derived}): the message or its signature is not what that key signed`,
    );
  }
  return { digest: hexlify(getBytes(withPrefix(signed.digest))), ...verifyKeyChain(signed, kmsRoot) };
}
