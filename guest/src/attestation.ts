/**
 * The replicator's evidence decisions, apart from its loop (replicator.ts): what every node is held to (the registry's
 * app and its KMS's keys, read at the confirmed block), a pending node's latest evidence and its verification, the
 * chain of sponsors a joining node checks before it stores the secret, and when this node refreshes its own
 * attestation. Every check is lib/replication's `verifyNodeEvidence`, the one tasks and auditors run.
 */
import {
  RefusedEventError,
  ReplicationVerificationError,
  describeCheckedEvidence,
  describeRefusedEvent,
  describeVerificationFailure,
  readEvidenceContext,
  readNodeEvidence,
  verifyNodeEvidence,
  verifySponsorChain,
} from "../../lib/replication/index.js";
import type {
  CheckedEvidence,
  NodeEvidenceRecord,
  QuoteVerification,
  RecordSource,
  RefusedEvent,
  RegistryEvidenceContext,
  RegistryView,
  VerifiedSponsor,
} from "../../lib/replication/index.js";

/**
 * How old this node's last attestation may get before it refreshes it: a quarter of the registry's 30-day period, so
 * that a refresh a host withholds or a PCCS that is down for days leaves three more chances before it expires.
 */
export const REFRESH_AFTER_SECONDS = 7 * 24 * 3600;

/** Whether a node whose last attestation is `attestedAt` refreshes at chain time `now`. */
export function refreshDue(attestedAt: bigint, now: number): boolean {
  return BigInt(now) - attestedAt >= BigInt(REFRESH_AFTER_SECONDS);
}

/**
 * The outcome of checking a node's evidence: verified, refused for good (`event`: the registry log of its evidence
 * that was refused, when that was why), or not decidable now.
 */
export type EvidenceVerdict =
  | { kind: "verified"; checked: CheckedEvidence; read: NodeEvidenceRecord; summary: string }
  | { kind: "refused"; reason: string; code: string; event?: RefusedEvent }
  | { kind: "retry"; reason: string };

/** Reads and verifies evidence for the replicator, caching what a confirmed block makes final. */
export class EvidenceChecks {
  private context: { block: number; value: RegistryEvidenceContext } | undefined;

  constructor(
    private readonly verifyQuote: QuoteVerification,
    private readonly logRange: number,
  ) {}

  /** The registry's app and its KMS's keys at `block` (read once per confirmed block). */
  async contextAt(registry: RegistryView, block: number): Promise<RegistryEvidenceContext> {
    if (this.context?.block !== block) this.context = { block, value: await readEvidenceContext(registry, block) };
    return this.context.value;
  }

  /**
   * A pending node's latest evidence (its registration, and its last refresh's quote if it refreshed), verified
   * against the registry's app and KMS. A failed check is final for that quote, and so is evidence that is not what
   * its types say (a refused log, a record whose strings are not UTF-8: the node wrote them); a read or PCCS failure
   * is retried.
   */
  async verifyPending(
    registry: RegistryView,
    node: string,
    registeredAt: number,
    block: number,
    source?: RecordSource,
  ): Promise<EvidenceVerdict> {
    let context: RegistryEvidenceContext;
    let read: NodeEvidenceRecord | undefined;
    try {
      context = await this.contextAt(registry, block);
      read = await readNodeEvidence(
        registry,
        node,
        {
          fromBlock: registeredAt,
          toBlock: block,
          logRange: this.logRange,
        },
        source,
      );
    } catch (error) {
      if (error instanceof RefusedEventError) {
        return {
          kind: "refused",
          reason: describeRefusedEvent(error.refused),
          code: "event-refused",
          event: error.refused,
        };
      }
      if (error instanceof ReplicationVerificationError) {
        if (error.code === "record-unreadable") {
          return { kind: "refused", reason: describeVerificationFailure(error), code: error.code };
        }
        return { kind: "retry", reason: describeVerificationFailure(error) };
      }
      return { kind: "retry", reason: `cannot read its evidence yet: ${messageOf(error)}` };
    }
    if (read === undefined) return { kind: "retry", reason: "it is not registered at the confirmed block" };
    try {
      const checked = await verifyNodeEvidence(read.evidence, {
        appId: context.appId,
        kms: context.kms,
        verifyQuote: this.verifyQuote,
      });
      return { kind: "verified", checked, read, summary: summarize(checked, context) };
    } catch (error) {
      if (error instanceof ReplicationVerificationError) {
        return { kind: "refused", reason: describeVerificationFailure(error), code: error.code };
      }
      return { kind: "retry", reason: `cannot verify it yet: ${messageOf(error)}` };
    }
  }

  /**
   * The chain of sponsors from `node` back to the genesis member, each one's evidence verified: what a joining node
   * checks before it stores the secret it was sent. A chain that does not reach a genesis member whose evidence
   * verifies is returned as `refused` (with the one line saying why); read or PCCS failures throw.
   */
  async sponsorChain(
    registry: RegistryView,
    node: string,
    fromBlock: number,
    block: number,
    source?: RecordSource,
  ): Promise<{ kind: "verified"; chain: VerifiedSponsor[] } | { kind: "refused"; reason: string; code: string }> {
    const context = await this.contextAt(registry, block);
    try {
      const chain = await verifySponsorChain(
        registry,
        node,
        { appId: context.appId, kms: context.kms, verifyQuote: this.verifyQuote },
        { fromBlock, toBlock: block, logRange: this.logRange },
        source,
      );
      return { kind: "verified", chain };
    } catch (error) {
      if (!(error instanceof ReplicationVerificationError)) throw error;
      return { kind: "refused", reason: describeVerificationFailure(error), code: error.code };
    }
  }
}

/** One line of what was verified: the KMS root, the app, and what was measured. */
export function summarize(checked: CheckedEvidence, context: RegistryEvidenceContext): string {
  const m = checked.measured;
  return (
    `quote verified (TCB ${checked.quote.tcbStatus}), report_data binds its keys, measured compose hash ` +
    `${m.composeHash}, mrSystem ${m.boot.mrSystem}, device ${m.deviceId}, key provider the KMS's CA, key issued by ` +
    `KMS root ${context.kmsRoot.address} to app ${context.appId}`
  );
}

/** The lines of {@link describeCheckedEvidence}, for structured logs. */
export function evidenceFields(checked: CheckedEvidence, appId: string): Record<string, string> {
  return Object.fromEntries(describeCheckedEvidence(checked, appId));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
}
