/**
 * dstack's `key-provider` RTMR3 event: which key provider a CVM got its keys from, measured at boot.
 *
 * Its payload is compact JSON `{"name":…,"id":…}` (UTF-8): `name` is `kms`, `local-sgx`, `tpm` or `none`; for `kms`,
 * `id` is the lowercase hex of the KMS's root CA public key as DER SubjectPublicKeyInfo (a P-256 key), the same
 * bytes `DstackKms.kmsInfo()` publishes as `caPubkey`. The event enters `mrSystem` (as sha256 of the payload), so a
 * CVM that took its keys from another KMS has another `mrSystem`. docs/evidence.md has the sources.
 */
import { createPublicKey } from "node:crypto";

import { getBytes, hexlify } from "ethers";
import type { BytesLike } from "ethers";

import { DstackEvidenceError } from "./errors.js";

/** The key provider a CVM measured. */
export interface KeyProviderInfo {
  /** `kms`, `local-sgx`, `tpm`, `none` (or whatever a future dstack names). */
  name: string;
  /** The provider's identity as measured (for `kms`: hex of the KMS root CA's SubjectPublicKeyInfo DER). */
  id: string;
  /** `id` as bytes (0x-hex); "0x" when it is empty. */
  idBytes: string;
}

/** Parses a `key-provider` payload; throws `key-provider-malformed` unless it is `{"name": string, "id": hex}`. */
export function parseKeyProviderPayload(payload: BytesLike): KeyProviderInfo {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(getBytes(payload)));
  } catch (error) {
    throw new DstackEvidenceError("key-provider-malformed", "the key-provider payload is not UTF-8 JSON", {
      cause: error,
    });
  }
  const info = value as { name?: unknown; id?: unknown } | null;
  if (info === null || typeof info !== "object" || typeof info.name !== "string" || typeof info.id !== "string") {
    throw new DstackEvidenceError(
      "key-provider-malformed",
      `the key-provider payload is not {"name": string, "id": string}: ${JSON.stringify(value)}`,
    );
  }
  if (!/^([0-9a-fA-F]{2})*$/.test(info.id)) {
    throw new DstackEvidenceError("key-provider-malformed", `the key-provider id is not hex: ${info.id}`);
  }
  return { name: info.name, id: info.id, idBytes: hexlify(getBytes(`0x${info.id}`)) };
}

/**
 * The `key-provider` payload dstack measures for a KMS whose root CA key is `caPublicKey` (DER
 * SubjectPublicKeyInfo): byte for byte what the CVM's setup writes (serde's compact JSON, `name` then `id`).
 */
export function kmsKeyProviderPayload(caPublicKey: BytesLike): Uint8Array {
  const id = hexlify(getBytes(caPublicKey)).slice(2);
  return new TextEncoder().encode(JSON.stringify({ name: "kms", id }));
}

/**
 * Why `info` does not name the KMS whose `kmsInfo().caPubkey` is `caPublicKey`, or undefined when it does: the
 * provider must be `kms`, and its id the same DER bytes, a P-256 public key.
 */
export function keyProviderRefusal(info: KeyProviderInfo, caPublicKey: BytesLike): string | undefined {
  const expected = hexlify(getBytes(caPublicKey));
  if (info.name !== "kms") {
    return `the key provider is "${info.name}", not dstack's KMS`;
  }
  if (info.idBytes.toLowerCase() !== expected.toLowerCase()) {
    return `the key provider is the KMS with CA key ${info.idBytes}, not the KMS root CA key ${expected}`;
  }
  try {
    const key = createPublicKey({ key: Buffer.from(getBytes(expected)), format: "der", type: "spki" });
    if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
      return `the KMS root CA key ${expected} is not a P-256 key`;
    }
  } catch {
    return `the KMS root CA key ${expected} is not a DER SubjectPublicKeyInfo`;
  }
  return undefined;
}
