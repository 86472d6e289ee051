/**
 * The binding between a member's TDX quote and the app's TLS key. The `report_data` of the quote a member serves at
 * `/attestation` MUST be
 *
 *     report_data[0..32]  = keccak256(abi.encode(string "dstack-devproof/tls/v1", bytes32 spkiSha256))
 *     report_data[32..64] = 32 zero bytes
 *
 * where `spkiSha256` is the SHA-256 of the DER SubjectPublicKeyInfo of the TLS key. Only code inside the TD chooses
 * `report_data`, and the quote's RTMR3 measures which app and compose hash that code is, so a valid quote with this
 * value says: this TLS key was chosen by that code. The tag keeps these quotes apart from the replication's
 * (`dstack-devproof/replication/v1`), so neither can be replayed as the other; `abi.encode` lets a contract recompute
 * the value. See docs/tls.md.
 */
import { AbiCoder, getBytes, hexlify, keccak256 } from "ethers";
import type { BytesLike } from "ethers";

import { REPORT_DATA_LENGTH, reportDataFromQuote } from "../replication/report-data.js";

/** The domain tag hashed into every TLS `report_data`. */
export const TLS_REPORT_DATA_TAG = "dstack-devproof/tls/v1";

/** The 64-byte `report_data` that binds the TLS key whose SPKI hashes to `spkiSha256`. */
export function tlsReportData(spkiSha256: BytesLike): Uint8Array {
  const hash = getBytes(spkiSha256);
  if (hash.length !== 32) throw new Error(`an SPKI hash has 32 bytes, got ${hash.length}`);
  const digest = keccak256(AbiCoder.defaultAbiCoder().encode(["string", "bytes32"], [TLS_REPORT_DATA_TAG, hash]));
  const reportData = new Uint8Array(REPORT_DATA_LENGTH);
  reportData.set(getBytes(digest), 0);
  return reportData;
}

/** Whether `reportData` binds the key `spkiSha256` names; with the expected value for messages. */
export function tlsBinding(
  reportData: BytesLike,
  spkiSha256: BytesLike,
): { bound: boolean; actual: string; expected: string } {
  const actual = getBytes(reportData);
  const expected = tlsReportData(spkiSha256);
  const bound = actual.length === expected.length && actual.every((byte, i) => byte === expected[i]);
  return { bound, actual: hexlify(actual), expected: hexlify(expected) };
}

/** Whether the `report_data` of `quote` (parsed, not verified) binds `spkiSha256`. */
export function quoteBindsTlsKey(quote: BytesLike, spkiSha256: BytesLike): boolean {
  return tlsBinding(reportDataFromQuote(quote), spkiSha256).bound;
}
