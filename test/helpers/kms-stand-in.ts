/**
 * A stand-in for dstack's KMS keys, for tests and the demo: a root secp256k1 key (what `kmsInfo().k256Pubkey`
 * publishes and every key signature chain ends in) and a root CA P-256 key (what `kmsInfo().caPubkey` publishes and
 * a CVM's `key-provider` event names). Keys are derived as dstack derives them:
 * - the app key: `HKDF-SHA256(salt "RATLS", ikm = KMS root key, info = appId (20 bytes) ‖ "app-key")`, signed by the
 *   root over `"dstack-kms-issued:" ‖ appId ‖ compressed app public key`;
 * - `GetKey(path)`: `HKDF-SHA256(salt "RATLS", ikm = app key, info = path)`, signed by the app key over
 *   `purpose + ":" + hex(compressed derived public key)`.
 * {@link ROGUE_KMS} is another KMS with the same code and other keys: what a node boots with when its host points it
 * at a KMS the app did not choose.
 */
import { hkdfSync } from "node:crypto";

import { p256 } from "@noble/curves/p256";
import { SigningKey, concat, getBytes, hexlify, id } from "ethers";

import { kmsKeyProviderPayload } from "../../lib/dstack/key-provider.js";
import { appKeyMessage, dstackSign, kmsIssuedMessage } from "../../lib/dstack/signature-chain.js";

/** DER prefix of a P-256 SubjectPublicKeyInfo with an uncompressed point (what dstack's KMS publishes as caPubkey). */
const P256_SPKI_PREFIX = "0x3059301306072a8648ce3d020106082a8648ce3d030107034200";

/** One KMS's keys. */
export interface StandInKms {
  name: string;
  /** The root secp256k1 key. */
  root: SigningKey;
  /** The root CA's public key, DER SubjectPublicKeyInfo (P-256). */
  caPublicKey: string;
}

/** A KMS whose keys are fixed by `label`. */
export function standInKms(name: string, label: string): StandInKms {
  const caPrivate = getBytes(id(`${label} CA key`));
  return {
    name,
    root: new SigningKey(id(`${label} root key`)),
    caPublicKey: hexlify(concat([P256_SPKI_PREFIX, p256.getPublicKey(caPrivate, false)])),
  };
}

/** The KMS of the stand-in world: the one the apps in tests use. */
export const STAND_IN_KMS = standInKms("stand-in dstack KMS", "stand-in dstack KMS");

/** A KMS the apps did not choose. */
export const ROGUE_KMS = standInKms("rogue KMS", "rogue dstack KMS");

/** The stand-in KMS's root key (signs every app key). */
export const STAND_IN_KMS_ROOT = STAND_IN_KMS.root;

function hkdf(key: string | Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", getBytes(key), new TextEncoder().encode("RATLS"), info, 32));
}

/** The app key `kms` derives for `appId`: one per app, shared by all its instances. */
export function standInAppKey(appId: string, kms: StandInKms = STAND_IN_KMS): SigningKey {
  const info = getBytes(concat([appId, new TextEncoder().encode("app-key")]));
  return new SigningKey(hkdf(kms.root.privateKey, info));
}

/** The 32-byte key `GetKey(path)` derives for an app whose keys come from `kms`. */
export function standInDerivedKey(appId: string, keyPath: string, kms: StandInKms = STAND_IN_KMS): Uint8Array {
  return hkdf(standInAppKey(appId, kms).privateKey, new TextEncoder().encode(keyPath));
}

/** `GetKey`'s answer for `keyPath` and `purpose`: the key and `[sig0, kmsSig]`, as bytes. */
export function standInGetKey(
  appId: string,
  keyPath: string,
  purpose: string,
  kms: StandInKms = STAND_IN_KMS,
): { key: Uint8Array; signatureChain: [Uint8Array, Uint8Array] } {
  const appKey = standInAppKey(appId, kms);
  const key = standInDerivedKey(appId, keyPath, kms);
  const derivedPublic = new SigningKey(key).compressedPublicKey;
  return {
    key,
    signatureChain: [
      dstackSign(appKey, appKeyMessage(purpose, derivedPublic)),
      dstackSign(kms.root, kmsIssuedMessage(appId, appKey.compressedPublicKey)),
    ],
  };
}

/** The `key-provider` payload a CVM whose keys come from `kms` measures. */
export function standInKeyProviderPayload(kms: StandInKms = STAND_IN_KMS): Uint8Array {
  return kmsKeyProviderPayload(kms.caPublicKey);
}
