/**
 * The one verification of a node's evidence, run by members before they onboard a node, by `set-genesis` before the
 * owner picks the first member, by `onboard-node` and `verify-node`, by a joining node on its sponsors back to the
 * genesis member, and by a node on its own registration before it signs it. The rule: a node counts only on evidence
 * that dstack's genuine KMS would accept for this app — measured, never claimed.
 *
 * In this order, each refusal a {@link ReplicationVerificationError} whose message names the check and the field:
 * 1. the quote verifies with Intel DCAP and fresh collateral (the caller's `verifyQuote`);
 * 2. its `report_data` binds the node's address and encryption key;
 * 3. the event log replays to the quote's RTMR3;
 * 4. the boot info the node claims is what the quote and log measure, in the view dstack's KMS saw when it released
 *    the node's keys (`boot`: `mrSystem` without a key provider, `mrAggregated` over RTMR3 up to `boot-mr-done`),
 *    which is what the registry stores and asks the app's policy about; the app id is the registry's app;
 * 5. the measured `key-provider` event names the KMS whose CA key `kmsInfo().caPubkey` publishes;
 * 6. the node's key chain leads to `kmsInfo().k256Pubkey`, for the registry's app, and ends in the node's address;
 * 7. the claimed TCB status and advisories are those Intel's collateral gives the quote now.
 */
import { getAddress, getBytes } from "ethers";
import type { BytesLike } from "ethers";

import type { AppBootInfo } from "../bootInfo.js";
import { keyProviderRefusal } from "../dstack/key-provider.js";
import { kmsRootOf } from "../dstack/kms-info.js";
import type { KmsInfo, KmsRoot } from "../dstack/kms-info.js";
import type { RecoveredKeyChain } from "../dstack/signature-chain.js";
import { ReplicationVerificationError } from "./errors.js";
import type { ReplicationErrorCode } from "./errors.js";
import { NODE_KEY_PURPOSE, verifyNodeKeyChain } from "./key-chain.js";
import type { NodeKeyChain } from "./key-chain.js";
import { BOOT_EVENTS, compareBootInfo, measureBoot } from "./measured-boot.js";
import type { MeasuredBoot } from "./measured-boot.js";
import { pckPpid, tdMeasurements } from "./quote.js";
import type { VerifiedTdxQuote } from "./quote.js";
import { checkReportDataBinding, tdReportOfQuote } from "./report-data.js";

/** The aggregates the registry stores and the app's policy is asked about: what dstack's KMS saw at boot. */
export const STORED_BOOT_VIEW = "boot";

/** What a node shows: its registration (keys, boot info, key chain) and one attestation (a quote and its log). */
export interface NodeEvidence {
  node: string;
  encryptionPublicKey: BytesLike;
  /** The boot info it claims, with the TCB status and advisories of this attestation. */
  bootInfo: AppBootInfo;
  /** The TDX quote: its registration's, or its last refresh's. */
  quote: BytesLike;
  /** UTF-8 JSON of dstack's event log (its RTMR3 entries). */
  eventLog: BytesLike;
  keyChain: NodeKeyChain;
}

/** What the node is held to: the registry's app and the keys its KMS publishes. */
export interface EvidenceContext {
  /** The registry's app (its `appAuth()`): the app id every claim and the key chain must name. */
  appId: string;
  /** `kmsInfo()` of the registry's KMS. */
  kms: Pick<KmsInfo, "k256Pubkey" | "caPubkey">;
  /**
   * `enforce` (default): the claimed TCB status and advisories must be what the quote verifies with now. `report`:
   * a difference is returned as {@link CheckedEvidence.tcbNote}, for a joining node's check of sponsors that
   * attested in the past, whose platform Intel may judge otherwise today.
   */
  tcb?: "enforce" | "report";
}

/** What was verified, for the lines a task or an agent prints. */
export interface CheckedEvidence {
  quote: VerifiedTdxQuote;
  measured: MeasuredBoot;
  kmsRoot: KmsRoot;
  keyChain: RecoveredKeyChain;
  /** With `tcb: "report"`: how the quote's TCB today differs from the claim; undefined when it does not. */
  tcbNote: string | undefined;
}

const fail = (code: ReplicationErrorCode, message: string): never => {
  throw new ReplicationVerificationError(code, message);
};

/** The KMS root the registry is bound to must be the one its KMS still publishes; returns it. */
export function checkKmsRoot(registryKmsRoot: string, kms: Pick<KmsInfo, "k256Pubkey" | "caPubkey">): KmsRoot {
  const root = kmsRootOf(kms);
  if (getAddress(root.address) !== getAddress(registryKmsRoot)) {
    fail(
      "kms-root-changed",
      `the registry is bound to the KMS root ${getAddress(registryKmsRoot)}, but its KMS now publishes ` +
        `${root.publicKey} (${root.address}): a new KMS root needs a new registry`,
    );
  }
  return root;
}

/**
 * Checks 2 to 7 against a quote already verified with Intel DCAP (check 1). Throws
 * {@link ReplicationVerificationError}.
 */
export function checkNodeEvidence(
  evidence: NodeEvidence,
  verified: VerifiedTdxQuote,
  context: EvidenceContext,
): CheckedEvidence {
  checkReportDataBinding(verified.reportData, evidence.node, evidence.encryptionPublicKey);

  const eventLog = getBytes(evidence.eventLog);
  if (eventLog.length === 0) fail("event-log-missing", "the attestation carries no event log");
  const measured = measureBoot(verified, eventLog);

  const claimed = evidence.bootInfo;
  if (getAddress(claimed.appId) !== getAddress(context.appId)) {
    fail("boot-info-mismatch", `appId claimed ${claimed.appId} but this registry serves app ${context.appId}`);
  }
  const refusals = compareBootInfo(claimed, measured, { view: STORED_BOOT_VIEW });
  const boot = refusals.filter((r) => r.field !== "tcbStatus" && r.field !== "advisoryIds");
  if (boot.length > 0) {
    const code = boot.length === 1 && boot[0]!.field === "composeHash" ? "compose-hash-mismatch" : "boot-info-mismatch";
    fail(code, boot.map((r) => r.message).join("; "));
  }

  const kmsRoot = kmsRootOf(context.kms);
  if (measured.keyProvider === undefined) {
    fail(
      "key-provider-mismatch",
      measured.keyProviderPayload === undefined
        ? `no ${BOOT_EVENTS.keyProvider} event was measured`
        : `the ${BOOT_EVENTS.keyProvider} payload ${measured.keyProviderPayload} is not dstack's {"name","id"} JSON`,
    );
  } else {
    const why = keyProviderRefusal(measured.keyProvider, kmsRoot.caPublicKey);
    if (why !== undefined) fail("key-provider-mismatch", why);
  }

  const keyChain = verifyNodeKeyChain(evidence.node, context.appId, evidence.keyChain, kmsRoot.publicKey);

  let tcbNote: string | undefined;
  const tcb = refusals.filter((r) => r.field === "tcbStatus" || r.field === "advisoryIds");
  if (tcb.length > 0) {
    if ((context.tcb ?? "enforce") === "enforce") {
      fail(
        tcb[0]!.field === "tcbStatus" ? "tcb-status-mismatch" : "advisory-ids-mismatch",
        tcb.map((r) => r.message).join("; "),
      );
    }
    tcbNote = tcb.map((r) => r.message).join("; ");
  }
  return { quote: verified, measured, kmsRoot, keyChain, tcbNote };
}

/** Verifies a quote completely (collateral, then DCAP), as `quoteVerificationFrom` of collateral.ts gives it. */
export type VerifyQuote = (quote: BytesLike) => Promise<VerifiedTdxQuote>;

/** Checks 1 to 7: the quote with `verifyQuote` (Intel DCAP, fresh collateral), then {@link checkNodeEvidence}. */
export async function verifyNodeEvidence(
  evidence: NodeEvidence,
  context: EvidenceContext & { verifyQuote: VerifyQuote },
): Promise<CheckedEvidence> {
  return checkNodeEvidence(evidence, await context.verifyQuote(evidence.quote), context);
}

/**
 * Checks 2 to 6 on the quote's contents without verifying its signature (the TCB claim is taken as is): what a host
 * runs before it pays for a registration that members would refuse. Alone it proves nothing, since anyone can write
 * an unsigned quote; the key chain check is the registry's own.
 */
export function checkNodeEvidenceConsistency(evidence: NodeEvidence, context: EvidenceContext): CheckedEvidence {
  const unverified: VerifiedTdxQuote = {
    ...tdMeasurements(tdReportOfQuote(evidence.quote)),
    tcbStatus: evidence.bootInfo.tcbStatus,
    advisoryIds: [...evidence.bootInfo.advisoryIds],
    ppid: pckPpid(evidence.quote),
  };
  return checkNodeEvidence(evidence, unverified, context);
}

/** The boot info a verified quote and its log measure, in the view the registry stores: what a node registers. */
export function measuredBootInfo(measured: MeasuredBoot): AppBootInfo {
  const missing = (["appId", "composeHash", "instanceId", "osImageHash"] as const).filter(
    (f) => measured[f] === undefined,
  );
  if (missing.length > 0) {
    fail("boot-info-mismatch", `the event log measures no ${missing.map((f) => BOOT_EVENTS[f]).join(", ")} event`);
  }
  const instance = measured.instanceId === "0x" ? `0x${"00".repeat(20)}` : measured.instanceId!;
  return {
    appId: getAddress(measured.appId!),
    composeHash: measured.composeHash!,
    instanceId: getAddress(instance),
    deviceId: measured.deviceId,
    mrAggregated: measured[STORED_BOOT_VIEW].mrAggregated,
    mrSystem: measured[STORED_BOOT_VIEW].mrSystem,
    osImageHash: measured.osImageHash!,
    tcbStatus: measured.tcbStatus,
    advisoryIds: [...measured.advisoryIds],
  };
}

/** What was verified, one `[label, text]` per line, for tasks, agents and the demo. */
export function describeCheckedEvidence(checked: CheckedEvidence, appId: string): Array<[string, string]> {
  const m = checked.measured;
  const advisories = checked.quote.advisoryIds;
  return [
    ["report_data", "binds the node's address and its registered encryption key"],
    [
      "measured",
      `app ${m.appId}, compose hash ${m.composeHash}, instance ${m.instanceId}, device ${m.deviceId} ` +
        "(sha256 of its PCK certificate's PPID)",
    ],
    [
      "OS",
      `mrSystem ${m.boot.mrSystem}, mrAggregated ${m.boot.mrAggregated} (as dstack's KMS saw them at boot), ` +
        `OS image ${m.osImageHash}`,
    ],
    ["key provider", `the KMS whose CA key kmsInfo().caPubkey publishes (${shortHex(checked.kmsRoot.caPublicKey)})`],
    [
      "key chain",
      `its key was issued by the KMS root ${checked.kmsRoot.publicKey} (${checked.kmsRoot.address}) to app ${appId} ` +
        `for "${NODE_KEY_PURPOSE}" (app key ${checked.keyChain.appPublicKey})`,
    ],
    [
      "TCB",
      `${checked.quote.tcbStatus}, ${advisories.length === 0 ? "no advisories" : `advisories ${advisories.join(", ")}`}` +
        (checked.tcbNote === undefined ? "" : ` (differs from its attestation: ${checked.tcbNote})`),
    ],
  ];
}

function shortHex(hex: string): string {
  return hex.length <= 26 ? hex : `${hex.slice(0, 14)}…${hex.slice(-8)}`;
}
