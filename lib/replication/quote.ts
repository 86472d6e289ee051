/**
 * TDX quote verification with `@phala/dcap-qvl`: the quote's ECDSA signature, the PCK certificate chain up to
 * Intel's root, the CRLs, the signed TCB info and QE identity (the collateral), and the TCB status. dcap-qvl
 * rejects revoked platforms and debug TDs.
 */
import { verify } from "@phala/dcap-qvl";
import type { Collateral } from "@phala/dcap-qvl";
import { getBytes } from "ethers";
import type { BytesLike } from "ethers";

import { ReplicationVerificationError } from "./errors.js";

/** Collateral for one quote, as dcap-qvl (and a PCCS) returns it. */
export type QuoteCollateral = Collateral;

/** What a verified TDX quote attests. */
export interface VerifiedTdxQuote {
  /** Intel's TCB status for the platform, e.g. "UpToDate" (what dstack puts in `AppBootInfo.tcbStatus`). */
  tcbStatus: string;
  /** Intel security advisories that apply to the platform. */
  advisoryIds: string[];
  reportData: Uint8Array;
  mrTd: Uint8Array;
  rtmr0: Uint8Array;
  rtmr1: Uint8Array;
  rtmr2: Uint8Array;
  rtmr3: Uint8Array;
}

/**
 * Verify a TDX quote against its collateral at `nowSeconds` (unix seconds). Throws
 * {@link ReplicationVerificationError} (`quote-invalid`, `quote-not-tdx`) with dcap-qvl's reason.
 *
 * The time is explicit: production passes the current time with fresh collateral from a PCCS; tests pass a time
 * inside their stored collateral's validity window.
 */
export function verifyTdxQuote(quote: BytesLike, collateral: QuoteCollateral, nowSeconds: number): VerifiedTdxQuote {
  let verified;
  try {
    verified = verify(getBytes(quote), collateral, nowSeconds);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ReplicationVerificationError("quote-invalid", `the quote does not verify: ${reason}`, { cause: error });
  }
  const td = verified.report.asTd10();
  if (td === null) throw new ReplicationVerificationError("quote-not-tdx", "the quote is not a TDX quote");
  return {
    tcbStatus: verified.status,
    advisoryIds: [...verified.advisory_ids],
    reportData: Uint8Array.from(td.reportData),
    mrTd: Uint8Array.from(td.mrTd),
    rtmr0: Uint8Array.from(td.rtMr0),
    rtmr1: Uint8Array.from(td.rtMr1),
    rtmr2: Uint8Array.from(td.rtMr2),
    rtmr3: Uint8Array.from(td.rtMr3),
  };
}
