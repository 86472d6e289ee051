/**
 * The two sides of the replication protocol off-chain: what a member's agent checks before it onboards a
 * registered node, and what each side signs and sends.
 */
import { getBytes, hexlify } from "ethers";
import type { BytesLike, Signer, TypedDataDomain } from "ethers";

import { quoteHash, signOnboarding } from "./eip712.js";
import type { AppBootInfo } from "./eip712.js";
import { ReplicationVerificationError } from "./errors.js";
import { checkComposeHash, measuredComposeHash } from "./event-log.js";
import { verifyTdxQuote } from "./quote.js";
import type { QuoteCollateral, VerifiedTdxQuote } from "./quote.js";
import { checkReportDataBinding, tdReportOfQuote } from "./report-data.js";
import { encryptSecret } from "./secret.js";
import { bootInfoFromDecoded, type DecodedBootInfo } from "../bootInfo.js";
import { quoted, shownList } from "../untrusted/text.js";

/** A node's registration as the registry's `NodeRegistered` event carries it. */
export interface RegistrationEvidence {
  node: string;
  encryptionPublicKey: BytesLike;
  bootInfo: AppBootInfo;
  quote: BytesLike;
  /** UTF-8 JSON of dstack's event log (RTMR3 entries suffice); empty if the node published none. */
  eventLog: BytesLike;
}

/** Verifies a quote's DCAP chain; {@link verifyTdxQuote} unless a test substitutes a stand-in. */
export type QuoteVerifier = (quote: BytesLike, collateral: QuoteCollateral, nowSeconds: number) => VerifiedTdxQuote;

export interface VerifyRegistrationOptions {
  /** Collateral for the quote (from a PCCS, fresh). */
  collateral: QuoteCollateral;
  /** Verification time, unix seconds. */
  nowSeconds: number;
  /**
   * The DCAP verifier; defaults to {@link verifyTdxQuote}. Only tests, which have no TDX hardware to make quotes
   * for their own keys, pass anything else.
   */
  verifier?: QuoteVerifier;
  /**
   * Whether a registration without an event log is rejected (default true). Without one, the claimed compose
   * hash is not checked against what was measured; only turn this off when the log is checked another way.
   */
  requireEventLog?: boolean;
}

export interface VerifiedRegistration {
  quote: VerifiedTdxQuote;
  /** The compose hash measured into RTMR3; undefined only when no event log was required nor given. */
  measuredComposeHash: string | undefined;
}

/**
 * Everything a member checks off-chain before it onboards a node, in this order:
 * 1. the quote verifies (DCAP signature, certificate chain, CRLs, TCB info and QE identity, not revoked, not debug);
 * 2. the claimed `tcbStatus` and `advisoryIds` are what Intel's collateral says for this platform;
 * 3. `report_data` binds the node's address and encryption key (see `report-data.ts`);
 * 4. the event log replays to the quote's RTMR3 and its measured compose hash is the claimed one.
 *
 * It does not ask the app's policy: the agent reads `isNodeAllowed(node)` from the registry, and the registry
 * re-checks the policy when the onboarding lands. Throws {@link ReplicationVerificationError}.
 */
export function verifyRegistration(
  evidence: RegistrationEvidence,
  options: VerifyRegistrationOptions,
): VerifiedRegistration {
  const verified = (options.verifier ?? verifyTdxQuote)(evidence.quote, options.collateral, options.nowSeconds);
  return checkEvidenceAgainstQuote(evidence, verified, options.requireEventLog ?? true);
}

/**
 * Checks 2 to 4 of {@link verifyRegistration} against a quote that was already verified: the claimed TCB status and
 * advisories, the `report_data` binding and the measured compose hash. A node runs it on its own registration
 * before signing it, so it never publishes one that members would refuse.
 */
export function checkEvidenceAgainstQuote(
  evidence: RegistrationEvidence,
  verified: VerifiedTdxQuote,
  requireEventLog = true,
): VerifiedRegistration {
  if (evidence.bootInfo.tcbStatus !== verified.tcbStatus) {
    throw new ReplicationVerificationError(
      "tcb-status-mismatch",
      `the node claims TCB status ${quoted(evidence.bootInfo.tcbStatus, 64)}, its quote verifies as "${verified.tcbStatus}"`,
    );
  }
  const claimedAdvisories = [...evidence.bootInfo.advisoryIds].sort();
  const actualAdvisories = [...verified.advisoryIds].sort();
  if (claimedAdvisories.join(",") !== actualAdvisories.join(",")) {
    throw new ReplicationVerificationError(
      "advisory-ids-mismatch",
      `the node claims advisories [${shownList(claimedAdvisories)}], its quote has [${actualAdvisories.join(", ")}]`,
    );
  }

  checkReportDataBinding(verified.reportData, evidence.node, evidence.encryptionPublicKey);

  const eventLog = getBytes(evidence.eventLog);
  let measured: string | undefined;
  if (eventLog.length > 0) {
    measured = measuredComposeHash(eventLog, verified.rtmr3);
    if (measured.toLowerCase() !== evidence.bootInfo.composeHash.toLowerCase()) {
      throw new ReplicationVerificationError(
        "compose-hash-mismatch",
        `the measured compose hash ${measured} is not the claimed ${evidence.bootInfo.composeHash}`,
      );
    }
  } else if (requireEventLog) {
    throw new ReplicationVerificationError("event-log-missing", "the registration carries no event log");
  }
  return { quote: verified, measuredComposeHash: measured };
}

/**
 * The checks of {@link verifyRegistration} that need no collateral, run against the quote's contents without
 * verifying its signature: `report_data` binds the node's address and key, and the event log (required) replays to
 * the quote's RTMR3 and measures the claimed compose hash. A host runs them before it pays for a registration that
 * members would refuse; alone they prove nothing, since anyone can write an unsigned quote. Throws
 * {@link ReplicationVerificationError}.
 */
export function checkRegistrationConsistency(evidence: RegistrationEvidence): void {
  const td = tdReportOfQuote(evidence.quote);
  checkReportDataBinding(td.reportData, evidence.node, evidence.encryptionPublicKey);
  if (getBytes(evidence.eventLog).length === 0) {
    throw new ReplicationVerificationError("event-log-missing", "the registration carries no event log");
  }
  checkComposeHash(getBytes(evidence.eventLog), td.rtMr3, evidence.bootInfo.composeHash);
}

/** The fields of a `NodeRegistered` event as ethers decodes them (a `Result` has these properties). */
export interface NodeRegisteredArgs {
  node: string;
  encryptionPublicKey: string;
  bootInfo: DecodedBootInfo;
  attestation: { quote: string; eventLog: string };
}

/** The evidence a `NodeRegistered` event carries, as plain values. */
export function evidenceFromNodeRegistered(args: NodeRegisteredArgs): RegistrationEvidence {
  const b = args.bootInfo;
  return {
    node: args.node,
    encryptionPublicKey: args.encryptionPublicKey,
    bootInfo: bootInfoFromDecoded(b),
    quote: args.attestation.quote,
    eventLog: args.attestation.eventLog,
  };
}

/** An onboarding ready to submit: `registry.onboard(node, ciphertext, signature)`. */
export interface PreparedOnboarding {
  node: string;
  ciphertext: string;
  signature: string;
}

/**
 * A member's side of an onboarding: encrypt `secret` to the node's registered key and sign it for the node and
 * its registered quote. Call it only after {@link verifyRegistration} and the policy check passed.
 */
export async function prepareOnboarding(args: {
  member: Pick<Signer, "signTypedData">;
  domain: TypedDataDomain;
  node: string;
  quote: BytesLike;
  encryptionPublicKey: BytesLike;
  secret: BytesLike;
}): Promise<PreparedOnboarding> {
  const ciphertext = hexlify(encryptSecret(args.encryptionPublicKey, args.secret));
  const signature = await signOnboarding(args.member, args.domain, {
    node: args.node,
    quoteHash: quoteHash(args.quote),
    ciphertext,
  });
  return { node: args.node, ciphertext, signature };
}
