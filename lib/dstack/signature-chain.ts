/**
 * dstack's key signature chain: the proof, returned by the guest API's `GetKey`, that a derived key was issued by
 * dstack's KMS for one app.
 *
 * Formats (docs/evidence.md has the sources):
 * - `signature_chain = [sig0, kmsSig]`, each 65 bytes `r ‖ s ‖ v`, v the recovery id in {0, 1}, s low, signed over a
 *   raw keccak256 digest (no EIP-191 prefix);
 * - `sig0`: the app key signs `keccak256(utf8(purpose + ":" + lowercase hex of the derived public key, compressed,
 *   no 0x))`;
 * - `kmsSig`: the KMS root key signs `keccak256("dstack-kms-issued" ‖ ":" ‖ appId (20 raw bytes) ‖ app public key
 *   (33 bytes, compressed))`, the KMS's general format `prefix ‖ ":" ‖ appId ‖ message`;
 * - the KMS root is what `DstackKms.kmsInfo()` publishes as `k256Pubkey` (33 bytes, compressed).
 *
 * Any 65 bytes recover to some key, so a chain proves nothing until the key it ends in is compared with the KMS root:
 * {@link verifyKeyChain} does that; {@link recoverKeyChain} only recovers.
 */
import { secp256k1 } from "@noble/curves/secp256k1";
import { SigningKey, computeAddress, concat, getBytes, hexlify, keccak256, toUtf8Bytes } from "ethers";
import type { BytesLike } from "ethers";

import { DstackEvidenceError } from "./errors.js";

/** The prefix of the KMS's signature over an app key. */
export const KMS_ISSUED_PREFIX = "dstack-kms-issued";

/** Length of a dstack signature: `r ‖ s ‖ v`. */
export const DSTACK_SIGNATURE_LENGTH = 65;

/** Bytes as dstack's JSON API sends them (hex, with or without 0x) or as the SDK returns them. */
export type DstackBytes = BytesLike;

function bytesOf(value: DstackBytes, what: string, code: "signature-malformed" | "public-key-invalid"): Uint8Array {
  if (typeof value === "string") {
    const hex = value.startsWith("0x") || value.startsWith("0X") ? value.slice(2) : value;
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new DstackEvidenceError(code, `${what} is not hex: ${value}`);
    return getBytes(`0x${hex}`);
  }
  return getBytes(value);
}

/**
 * The 33-byte compressed form of a secp256k1 public key given compressed (33 bytes) or uncompressed (65 bytes,
 * `0x04 ‖ x ‖ y`); throws `public-key-invalid` unless it is a point of the curve.
 */
export function compressPublicKey(publicKey: DstackBytes, what = "the public key"): Uint8Array {
  const bytes = bytesOf(publicKey, what, "public-key-invalid");
  if (bytes.length !== 33 && bytes.length !== 65) {
    throw new DstackEvidenceError(
      "public-key-invalid",
      `${what} is ${bytes.length} bytes; a secp256k1 key is 33 (compressed) or 65 (uncompressed)`,
    );
  }
  try {
    return secp256k1.ProjectivePoint.fromHex(bytes).toRawBytes(true);
  } catch (error) {
    throw new DstackEvidenceError("public-key-invalid", `${what} ${hexlify(bytes)} is not a secp256k1 point`, {
      cause: error,
    });
  }
}

/** The Ethereum address of a secp256k1 public key (either form). */
export function publicKeyAddress(publicKey: DstackBytes): string {
  return computeAddress(hexlify(compressPublicKey(publicKey)));
}

function appIdBytes(appId: string): Uint8Array {
  const hex = appId.replace(/^0x/i, "");
  if (!/^[0-9a-fA-F]{40}$/.test(hex)) {
    throw new DstackEvidenceError("app-id-invalid", `app id ${JSON.stringify(appId)} is not 20 bytes of hex`);
  }
  return getBytes(`0x${hex}`);
}

/**
 * What the app key signs for a derived key (`sig0`): `purpose ":" hex`, where hex is the lowercase hex of the
 * compressed derived public key without 0x, as UTF-8 bytes.
 */
export function appKeyMessage(purpose: string, derivedPublicKey: DstackBytes): Uint8Array {
  const hex = hexlify(compressPublicKey(derivedPublicKey, "the derived public key")).slice(2);
  return toUtf8Bytes(`${purpose}:${hex}`);
}

/** What dstack's KMS signs with its root key: `prefix ‖ ":" ‖ appId (20 raw bytes) ‖ message`. */
export function kmsSignedMessage(prefix: string, appId: string, message: DstackBytes): Uint8Array {
  return getBytes(concat([toUtf8Bytes(`${prefix}:`), appIdBytes(appId), getBytes(message)]));
}

/** What the KMS root signs for an app key (`kmsSig`). */
export function kmsIssuedMessage(appId: string, appPublicKey: DstackBytes): Uint8Array {
  return kmsSignedMessage(KMS_ISSUED_PREFIX, appId, compressPublicKey(appPublicKey, "the app public key"));
}

/**
 * The compressed public key that signed `keccak256(message)` with a dstack signature. Throws
 * `signature-malformed` unless the signature is 65 bytes, v is 0 or 1, r and s are in range and s is low: the only
 * shape dstack's signer produces, so each signature has one encoding.
 */
export function recoverSigner(message: Uint8Array, signature: DstackBytes, what = "the signature"): Uint8Array {
  const bytes = bytesOf(signature, what, "signature-malformed");
  if (bytes.length !== DSTACK_SIGNATURE_LENGTH) {
    throw new DstackEvidenceError(
      "signature-malformed",
      `${what} is ${bytes.length} bytes; dstack signs with 65 bytes r ‖ s ‖ v`,
    );
  }
  const v = bytes[64]!;
  if (v !== 0 && v !== 1) {
    throw new DstackEvidenceError(
      "signature-malformed",
      `${what} has v = ${v}; dstack's recovery id is 0 or 1 (no 27/28 offset)`,
    );
  }
  try {
    const parsed = secp256k1.Signature.fromCompact(bytes.subarray(0, 64));
    if (parsed.hasHighS()) throw new Error("s is in the upper half of the curve order");
    const digest = getBytes(keccak256(message));
    return parsed.addRecoveryBit(v).recoverPublicKey(digest).toRawBytes(true);
  } catch (error) {
    throw new DstackEvidenceError(
      "signature-malformed",
      `${what} does not recover a key: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

/** A dstack signature (65 bytes `r ‖ s ‖ v`, v in {0, 1}) of `keccak256(message)`; for stand-ins and tests. */
export function dstackSign(key: SigningKey, message: Uint8Array): Uint8Array {
  const signature = key.sign(keccak256(message));
  return getBytes(concat([signature.r, signature.s, new Uint8Array([signature.yParity])]));
}

/** What a chain is about: the key `GetKey` derived, for which app and purpose, and the chain it returned. */
export interface KeySignatureChain {
  /** The app's id (its auth contract address), 20 bytes. */
  appId: string;
  /** The `purpose` of the `GetKey` call. */
  purpose: string;
  /** The derived public key, compressed or uncompressed. */
  derivedPublicKey: DstackBytes;
  /** `[sig0, kmsSig]` as `GetKey` returns it (hex or bytes). */
  signatureChain: readonly DstackBytes[];
  /**
   * The app key the chain names (either form), as the on-chain verifier takes it; when given, a `sig0` made by
   * another key is refused as `app-key-mismatch` (a changed purpose or derived key) before the KMS link is checked.
   */
  appPublicKey?: DstackBytes | undefined;
}

/** The keys a signature chain leads through; public keys are 0x-hex of the compressed form. */
export interface RecoveredKeyChain {
  derivedPublicKey: string;
  derivedAddress: string;
  /** The app key, recovered from `sig0`. */
  appPublicKey: string;
  /** The key that signed `kmsSig`: the KMS root if the chain is genuine. */
  kmsRootPublicKey: string;
  kmsRootAddress: string;
}

/** Recovers the app key from `sig0` and the KMS key from `kmsSig`, without deciding whether to trust them. */
export function recoverKeyChain(chain: KeySignatureChain): RecoveredKeyChain {
  if (chain.signatureChain.length !== 2) {
    throw new DstackEvidenceError(
      "signature-chain-malformed",
      `the signature chain has ${chain.signatureChain.length} signatures; GetKey returns two: [app, KMS]`,
    );
  }
  const [sig0, kmsSig] = chain.signatureChain as [DstackBytes, DstackBytes];
  const derived = compressPublicKey(chain.derivedPublicKey, "the derived public key");
  const appKey = recoverSigner(appKeyMessage(chain.purpose, derived), sig0, "the app signature (sig0)");
  const kmsKey = recoverSigner(kmsIssuedMessage(chain.appId, appKey), kmsSig, "the KMS signature (kmsSig)");
  return {
    derivedPublicKey: hexlify(derived),
    derivedAddress: computeAddress(hexlify(derived)),
    appPublicKey: hexlify(appKey),
    kmsRootPublicKey: hexlify(kmsKey),
    kmsRootAddress: computeAddress(hexlify(kmsKey)),
  };
}

/**
 * Checks that `derivedPublicKey` was issued by dstack's KMS whose root is `kmsRoot` (the `k256Pubkey` of
 * `DstackKms.kmsInfo()`, either form) to the app `appId`, for `purpose`. Returns the keys of the chain; throws
 * {@link DstackEvidenceError} (`kms-root-mismatch` when the chain leads anywhere else: another KMS, another app,
 * another purpose or key, or a forged link; `app-key-mismatch` when the chain names its app key and `sig0` was not
 * made by it). lib/dstack/signed-message.ts checks a message signed by the derived key, then calls this.
 */
export function verifyKeyChain(chain: KeySignatureChain, kmsRoot: DstackBytes): RecoveredKeyChain {
  const expected = hexlify(compressPublicKey(kmsRoot, "the KMS root key"));
  if (chain.signatureChain.length !== 2) {
    throw new DstackEvidenceError(
      "signature-chain-malformed",
      `the signature chain has ${chain.signatureChain.length} signatures; GetKey returns two: [app, KMS]`,
    );
  }
  const [sig0, kmsSig] = chain.signatureChain as [DstackBytes, DstackBytes];
  const derived = hexlify(compressPublicKey(chain.derivedPublicKey, "the derived public key"));
  const claimed =
    chain.appPublicKey === undefined ? undefined : hexlify(compressPublicKey(chain.appPublicKey, "the app public key"));
  const appKey = hexlify(recoverSigner(appKeyMessage(chain.purpose, derived), sig0, "the app signature (sig0)"));
  if (claimed !== undefined && appKey !== claimed) {
    throw new DstackEvidenceError(
      "app-key-mismatch",
      `sig0 over purpose ${JSON.stringify(chain.purpose)} and derived key ${derived} was made by ` +
        `${computeAddress(appKey)}, not by the app key ${computeAddress(claimed)}: the purpose, the derived key or ` +
        "sig0 was changed",
    );
  }
  const kmsKey = hexlify(recoverSigner(kmsIssuedMessage(chain.appId, appKey), kmsSig, "the KMS signature (kmsSig)"));
  if (kmsKey !== expected) {
    throw new DstackEvidenceError(
      "kms-root-mismatch",
      `the signature chain of ${derived} for app ${chain.appId} and purpose ${JSON.stringify(chain.purpose)} leads ` +
        `to ${kmsKey}, not to the KMS root ${expected}`,
    );
  }
  return {
    derivedPublicKey: derived,
    derivedAddress: computeAddress(derived),
    appPublicKey: appKey,
    kmsRootPublicKey: kmsKey,
    kmsRootAddress: computeAddress(kmsKey),
  };
}
