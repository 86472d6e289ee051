/**
 * TDX quote verification with `@phala/dcap-qvl`: the quote's ECDSA signature, the PCK certificate chain up to
 * Intel's root, the CRLs, the signed TCB info and QE identity (the collateral), and the TCB status. dcap-qvl
 * rejects revoked platforms and debug TDs.
 */
import { Quote, utils as dcapUtils, oids as dcapOids, verify } from "@phala/dcap-qvl";
import type { Collateral, TDReport10 } from "@phala/dcap-qvl";
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
  /** MRCONFIGID, MROWNER, MROWNERCONFIG: set by the host at launch; dstack's `mrAggregated` covers them when set. */
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr0: Uint8Array;
  rtmr1: Uint8Array;
  rtmr2: Uint8Array;
  rtmr3: Uint8Array;
  /**
   * The platform's PPID from the PCK certificate the quote verified against (empty if the certificate has none):
   * dstack's KMS derives the device id as `sha256(ppid)`.
   */
  ppid: Uint8Array;
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
  const ppid = verified.ppid.length > 0 ? Uint8Array.from(verified.ppid) : pckPpid(quote, collateral);
  return { ...tdMeasurements(td), tcbStatus: verified.status, advisoryIds: [...verified.advisory_ids], ppid };
}

/**
 * The TD report registers a quote states, read WITHOUT verifying its signature: for the owner's own measurements
 * (e.g. the OS values to pin), never as evidence about someone else's node. Throws
 * {@link ReplicationVerificationError} when the bytes are not a TDX quote.
 */
export function readTdRegisters(quote: BytesLike): ReturnType<typeof tdMeasurements> {
  let td: TDReport10 | null;
  try {
    td = Quote.parse(getBytes(quote)).report.asTd10();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ReplicationVerificationError("quote-invalid", `not a quote: ${reason}`, { cause: error });
  }
  if (td === null) throw new ReplicationVerificationError("quote-not-tdx", "the quote is not a TDX quote");
  return tdMeasurements(td);
}

/** The TD report fields of a {@link VerifiedTdxQuote}, copied out of dcap-qvl's report. */
export function tdMeasurements(td: TDReport10): Omit<VerifiedTdxQuote, "tcbStatus" | "advisoryIds" | "ppid"> {
  return {
    reportData: Uint8Array.from(td.reportData),
    mrTd: Uint8Array.from(td.mrTd),
    mrConfigId: Uint8Array.from(td.mrConfigId),
    mrOwner: Uint8Array.from(td.mrOwner),
    mrOwnerConfig: Uint8Array.from(td.mrOwnerConfig),
    rtmr0: Uint8Array.from(td.rtMr0),
    rtmr1: Uint8Array.from(td.rtMr1),
    rtmr2: Uint8Array.from(td.rtMr2),
    rtmr3: Uint8Array.from(td.rtMr3),
  };
}

/** dcap-qvl's helpers this file uses beyond its typings (present in its utils module since 0.3). */
const findExtension = (dcapUtils as unknown as { findExtension(path: string[], raw: unknown): Buffer }).findExtension;

/**
 * The PPID in the PCK certificate of a quote: the leaf of the collateral's `pck_certificate_chain` when it has one,
 * else of the quote's own certification data, the one dcap-qvl verifies. dcap-qvl 0.3.9 leaves `ppid` empty (it
 * fails to decode the certificate's SGX type and drops the error), so the PPID is read here from the same
 * certificate; a test notices when dcap-qvl starts returning it. Empty when there is no PPID to read.
 */
export function pckPpid(quote: BytesLike, collateral?: QuoteCollateral): Uint8Array {
  try {
    const chain = (collateral as { pck_certificate_chain?: string } | undefined)?.pck_certificate_chain;
    const certs =
      chain !== undefined
        ? dcapUtils.extractCerts(Buffer.from(chain, "utf8"))
        : dcapUtils.extractCerts(Buffer.from(Quote.parse(getBytes(quote)).rawCertChain()));
    const leaf = certs[0];
    if (leaf === undefined) return new Uint8Array();
    const ppid = findExtension([dcapOids["PPID"]!], dcapUtils.getIntelExtension(leaf));
    return Uint8Array.from(ppid);
  } catch {
    return new Uint8Array();
  }
}
