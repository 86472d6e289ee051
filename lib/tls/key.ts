/**
 * The app's TLS key, derived from the app's replicated secret (lib/replication, docs/replication.md) so that every
 * member of the app holds the same key and nobody else does: not the developer, not the host, not a CA.
 *
 *     okm = HKDF-SHA256(ikm = secret, salt = "dstack-devproof/tls", info = "dstack-devproof/tls/v1/p256", 48 bytes)
 *     d   = (OS2IP(okm) mod (n - 1)) + 1            n: the order of NIST P-256
 *
 * 48 bytes (64 bits more than the order) make the reduction's bias negligible, as FIPS 186-5 A.2.1 does. The
 * label versions the scheme: a v2 derives an unrelated key. The private key exists only in the memory of the guest
 * agent and in the TEE's encrypted storage it writes it to; what leaves the TEE is its public half, named by the
 * SHA-256 of its DER SubjectPublicKeyInfo (the "SPKI hash", as in HPKP and dstack's `ct_monitor`).
 */
import { createHash, createPrivateKey, createPublicKey, hkdfSync } from "node:crypto";
import type { KeyObject } from "node:crypto";

import { p256 } from "@noble/curves/p256";

/** HKDF salt and info of the derivation; changing either changes every app's TLS key. */
export const TLS_KEY_SALT = "dstack-devproof/tls";
export const TLS_KEY_INFO = "dstack-devproof/tls/v1/p256";

/** Shortest replicated secret accepted (the replicator makes 32 random bytes). */
export const MIN_SECRET_BYTES = 32;

/** The app's TLS key pair. */
export interface TlsKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKCS#8 PEM of the private key: what a TLS server loads. Secret. */
  privateKeyPem: string;
  /** DER SubjectPublicKeyInfo of the public key. */
  spki: Uint8Array;
  /** `0x` + sha256(spki), the key's public name. */
  spkiSha256: string;
}

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/** The P-256 private scalar the scheme above derives from `secret`, as 32 big-endian bytes. */
export function deriveTlsScalar(secret: Uint8Array): Uint8Array {
  if (secret.length < MIN_SECRET_BYTES) {
    throw new Error(`the replicated secret has ${secret.length} bytes; at least ${MIN_SECRET_BYTES} are needed`);
  }
  const okm = new Uint8Array(hkdfSync("sha256", secret, TLS_KEY_SALT, TLS_KEY_INFO, 48));
  const n = p256.CURVE.n;
  const d = (BigInt(`0x${Buffer.from(okm).toString("hex")}`) % (n - 1n)) + 1n;
  return Uint8Array.from(Buffer.from(d.toString(16).padStart(64, "0"), "hex"));
}

/** The app's TLS key for `secret`: the same on every member that holds the secret. */
export function deriveTlsKey(secret: Uint8Array): TlsKey {
  const d = deriveTlsScalar(secret);
  const point = p256.getPublicKey(d, false); // 0x04 ‖ x ‖ y
  const jwk = {
    kty: "EC",
    crv: "P-256",
    d: base64url(d),
    x: base64url(point.subarray(1, 33)),
    y: base64url(point.subarray(33, 65)),
  };
  const privateKey = createPrivateKey({ key: jwk, format: "jwk" });
  const publicKey = createPublicKey(privateKey);
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  return {
    privateKey,
    publicKey,
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    spki,
    spkiSha256: spkiSha256(spki),
  };
}

/** `0x` + sha256 of a DER SubjectPublicKeyInfo. */
export function spkiSha256(spki: Uint8Array): string {
  return `0x${createHash("sha256").update(spki).digest("hex")}`;
}
