/**
 * Encryption of the app's shared secret to a node's key, with ECIES (`eciesjs`): secp256k1 ECDH with an ephemeral
 * key, HKDF-SHA256, AES-256-GCM. The scheme's parameters are pinned here rather than read from eciesjs's global
 * configuration, so every node and member agree on them whatever else runs in the process.
 */
import { PrivateKey, decrypt, encrypt } from "eciesjs";
import { Config } from "eciesjs/config";
import { getBytes } from "ethers";
import type { BytesLike } from "ethers";

/** The pinned ECIES parameters (eciesjs 0.5 defaults, written out). */
function eciesConfig(): Config {
  const config = new Config();
  config.ellipticCurve = "secp256k1";
  config.isEphemeralKeyCompressed = false;
  config.isHkdfKeyCompressed = false;
  config.symmetricAlgorithm = "aes-256-gcm";
  config.symmetricNonceLength = 16;
  return config;
}

/** A node's encryption key pair; the public key is what it registers. */
export interface EncryptionKeyPair {
  /** 32-byte secp256k1 private key; never leaves the TEE. */
  privateKey: Uint8Array;
  /** 33-byte compressed secp256k1 public key. */
  publicKey: Uint8Array;
}

/** A fresh random key pair. */
export function generateEncryptionKeyPair(): EncryptionKeyPair {
  return keyPairOf(new PrivateKey(undefined, "secp256k1"));
}

/** The key pair of a given 32-byte private key (e.g. one derived in the TEE with dstack's `GetKey`). */
export function encryptionKeyPairFromPrivateKey(privateKey: BytesLike): EncryptionKeyPair {
  return keyPairOf(new PrivateKey(getBytes(privateKey), "secp256k1"));
}

function keyPairOf(key: PrivateKey): EncryptionKeyPair {
  return { privateKey: Uint8Array.from(key.secret), publicKey: Uint8Array.from(key.publicKey.toBytes(true)) };
}

/** Encrypt `secret` to a node's registered encryption public key (compressed or uncompressed secp256k1). */
export function encryptSecret(recipientPublicKey: BytesLike, secret: BytesLike): Uint8Array {
  return encrypt(getBytes(recipientPublicKey), getBytes(secret), eciesConfig());
}

/** Decrypt a ciphertext made by {@link encryptSecret}; throws if it was not made for this key or was altered. */
export function decryptSecret(privateKey: BytesLike, ciphertext: BytesLike): Uint8Array {
  return decrypt(getBytes(privateKey), getBytes(ciphertext), eciesConfig());
}
