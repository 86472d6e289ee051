/**
 * The binding between a node's TDX quote and the keys it registers.
 *
 * `report_data` (64 bytes, the TD report's user data) of a registering node's quote MUST be
 *
 *     report_data[0..32]  = keccak256(abi.encode(string "dstack-devproof/replication/v1",
 *                                                address node, bytes encryptionPublicKey))
 *     report_data[32..64] = 32 zero bytes
 *
 * where `node` is the node's in-TEE Ethereum address (the registration signer) and `encryptionPublicKey` the exact
 * bytes it registers. The tag versions the scheme and keeps these quotes apart from any other use of
 * `report_data`. Only code inside the TD can choose `report_data`, so a valid quote with this value shows that the
 * holder of both keys is that TD. Chain and registry are bound by the node's EIP-712 signature, not here.
 */
import { Quote } from "@phala/dcap-qvl";
import type { TDReport10 } from "@phala/dcap-qvl";
import { AbiCoder, getAddress, getBytes, hexlify, keccak256 } from "ethers";
import type { BytesLike } from "ethers";

import { ReplicationVerificationError } from "./errors.js";

/** The domain tag hashed into every replication `report_data`. */
export const REPORT_DATA_TAG = "dstack-devproof/replication/v1";

/** Length of a TDX `report_data`. */
export const REPORT_DATA_LENGTH = 64;

/** Byte offset of `report_data` in a TDX v4 quote: 48-byte header + 520 bytes of TD report before it. */
export const TDX_V4_REPORT_DATA_OFFSET = 568;

/** The 64-byte `report_data` a node puts in its quote for `node` and `encryptionPublicKey`. */
export function replicationReportData(node: string, encryptionPublicKey: BytesLike): Uint8Array {
  const digest = keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["string", "address", "bytes"],
      [REPORT_DATA_TAG, getAddress(node), getBytes(encryptionPublicKey)],
    ),
  );
  const reportData = new Uint8Array(REPORT_DATA_LENGTH);
  reportData.set(getBytes(digest), 0);
  return reportData;
}

/** The TD report of a TDX quote (v4 or v5), parsed with dcap-qvl. Parsing verifies nothing. */
export function tdReportOfQuote(quote: BytesLike): TDReport10 {
  let parsed: Quote;
  try {
    parsed = Quote.parse(getBytes(quote));
  } catch (error) {
    throw new ReplicationVerificationError("quote-invalid", "the quote cannot be parsed", { cause: error });
  }
  const td = parsed.report.asTd10();
  if (td === null) throw new ReplicationVerificationError("quote-not-tdx", "the quote is not a TDX quote");
  return td;
}

/** The `report_data` of a TDX quote (v4 or v5), parsed with dcap-qvl. Parsing verifies nothing. */
export function reportDataFromQuote(quote: BytesLike): Uint8Array {
  return Uint8Array.from(tdReportOfQuote(quote).reportData);
}

/** Throws unless `reportData` binds `node` and `encryptionPublicKey` as defined above. */
export function checkReportDataBinding(reportData: BytesLike, node: string, encryptionPublicKey: BytesLike): void {
  const actual = getBytes(reportData);
  const expected = replicationReportData(node, encryptionPublicKey);
  if (actual.length !== expected.length || !actual.every((byte, i) => byte === expected[i])) {
    throw new ReplicationVerificationError(
      "report-data-mismatch",
      `report_data ${hexlify(actual)} does not bind node ${node} and its encryption key (expected ${hexlify(expected)})`,
    );
  }
}

/** Throws unless `quote`'s `report_data` binds `node` and `encryptionPublicKey`. Does not verify the quote. */
export function checkQuoteBinding(quote: BytesLike, node: string, encryptionPublicKey: BytesLike): void {
  checkReportDataBinding(reportDataFromQuote(quote), node, encryptionPublicKey);
}
