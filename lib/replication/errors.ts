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
  | "compose-hash-mismatch";

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
