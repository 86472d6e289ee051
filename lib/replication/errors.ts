import { shown } from "../untrusted/text.js";

/** Why a registration (or a piece of its evidence) was rejected. */
export type ReplicationErrorCode =
  | "quote-invalid"
  | "quote-not-tdx"
  | "tcb-status-mismatch"
  | "advisory-ids-mismatch"
  | "report-data-mismatch"
  | "event-log-missing"
  | "event-log-invalid"
  | "rtmr-mismatch"
  | "compose-hash-missing"
  | "compose-hash-mismatch"
  | "boot-info-mismatch"
  | "key-provider-mismatch"
  | "key-chain-invalid"
  | "kms-root-changed"
  | "record-unreadable"
  | "sponsor-chain-invalid";

/** A check of the replication protocol failed; `code` says which one. */
export class ReplicationVerificationError extends Error {
  override readonly name = "ReplicationVerificationError";

  constructor(
    readonly code: ReplicationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Each check that can refuse a node, in one line (the error's message adds the values that failed). */
export const VERIFICATION_FAILURES: Record<ReplicationErrorCode, string> = {
  "quote-invalid": "its TDX quote does not verify against Intel's collateral (DCAP)",
  "quote-not-tdx": "its quote is not a TDX quote",
  "tcb-status-mismatch": "the TCB status it claims is not the one its quote verifies with",
  "advisory-ids-mismatch": "the Intel advisories it claims are not those of its quote",
  "report-data-mismatch": "its quote's report_data does not bind its address and registered encryption key",
  "event-log-missing": "its registration carries no event log, so its compose hash cannot be checked",
  "event-log-invalid": "its event log is malformed",
  "rtmr-mismatch": "its event log does not replay to its quote's RTMR3",
  "compose-hash-missing": "no compose hash was measured into its RTMR3",
  "compose-hash-mismatch": "the compose hash measured into its RTMR3 is not the one it claims",
  "boot-info-mismatch": "the boot info it claims is not what its quote and event log measure",
  "key-provider-mismatch": "its key-provider event does not name the KMS's CA key (kmsInfo().caPubkey)",
  "key-chain-invalid": "its key is not one dstack's KMS issued to this app (signature chain to kmsInfo().k256Pubkey)",
  "kms-root-changed": "the KMS no longer publishes the root this registry is bound to",
  "record-unreadable": "its record in the registry holds strings that are not UTF-8, or more than a reader takes in",
  "sponsor-chain-invalid": "its chain of sponsors does not reach a genesis member whose evidence verifies",
};

/**
 * One line saying which check refused a node and with which values. The values come from the node's registration
 * (anyone's input): the line is escaped and capped before any log or terminal shows it.
 */
export function describeVerificationFailure(error: ReplicationVerificationError): string {
  return shown(`${VERIFICATION_FAILURES[error.code]}: ${error.message}`, 2000);
}
