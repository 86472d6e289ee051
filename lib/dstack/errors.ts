/** Why a piece of dstack evidence (a key's signature chain, a key-provider event, KMS info) was refused. */
export type DstackEvidenceErrorCode =
  | "signature-chain-malformed"
  | "signature-malformed"
  | "public-key-invalid"
  | "app-id-invalid"
  | "kms-root-mismatch"
  | "kms-info-unset"
  | "message-signature-mismatch"
  | "app-key-mismatch"
  | "key-provider-malformed";

/** A piece of dstack evidence does not hold; `code` says which check failed, the message names the values. */
export class DstackEvidenceError extends Error {
  override readonly name = "DstackEvidenceError";

  constructor(
    readonly code: DstackEvidenceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
