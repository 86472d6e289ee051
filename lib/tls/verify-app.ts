/**
 * Checking a live app end to end, from what it serves and what the chain says: the rules behind
 * `npx hardhat verify-app` (tasks/verify-app.ts reads the network and prints). One line per check, PASS, WARN or
 * FAIL (INFO lines only inform); the app passes only when every check PASSes.
 *
 *   served certificate → its key's SPKI hash
 *   /attestation quote → Intel DCAP (collateral, TCB) → report_data binds that SPKI hash
 *   event log → replays to the quote's RTMR3 → the app id and compose hash dstack measured at boot
 *   chain → that compose hash is allowed by the app's policy and is its current release; the DevProof report
 */
import { createHash } from "node:crypto";

import { hexlify } from "ethers";

import type { DevProofReport, Level, ReportLine } from "../devproof-report.js";
import { formatTable, shortHex } from "../format.js";
import { ReplicationVerificationError } from "../replication/errors.js";
import { measureBoot } from "../replication/measured-boot.js";
import type { QuoteVerification } from "../replication/collateral.js";
import type { VerifiedTdxQuote } from "../replication/quote.js";
import { shown } from "../untrusted/text.js";
import { TlsAttestationFormatError, parseTlsAttestation } from "./attestation.js";
import type { TlsAttestation } from "./attestation.js";
import { certificateFacts } from "./certificate.js";
import type { CertificateFacts } from "./certificate.js";
import { tlsBinding } from "./report-data.js";
import type { ServedApp } from "./served.js";

export type AppLine = ReportLine;

/** What the served certificate and attestation establish, before the chain is asked. */
export interface ServedEvidence {
  lines: AppLine[];
  certificate: CertificateFacts | undefined;
  /** The app id and compose hash the quote's RTMR3 measures; undefined when the evidence does not hold. */
  measured: { appId: string | undefined; composeHash: string } | undefined;
  /** The served app-compose.json when its sha256 is the measured compose hash. */
  appCompose: { text: string; sha256: string } | undefined;
}

export interface CheckServedOptions {
  /** The app id (its AppAuth's address) the user expects. */
  app: string;
  /** Collateral, then DCAP: `quoteVerificationFrom(...)`. */
  verifyQuote: QuoteVerification;
  /** The TLS key the user expects (`--tls-key`): e.g. the one the registry publishes, or one noted earlier. */
  expectedSpkiSha256?: string | undefined;
  /** The time validity is judged at (default: now). */
  now?: Date;
}

const line = (id: string, level: Level, title: string, evidence: string): AppLine => ({ id, level, title, evidence });

/** The checks that need no chain: the certificate, the quote, the binding, the measured boot. */
export async function checkServedApp(served: ServedApp, options: CheckServedOptions): Promise<ServedEvidence> {
  const lines: AppLine[] = [];
  const result: ServedEvidence = { lines, certificate: undefined, measured: undefined, appCompose: undefined };
  const now = options.now ?? new Date();

  let cert: CertificateFacts;
  try {
    cert = certificateFacts(served.certificate);
  } catch (error) {
    lines.push(line("tls.certificate", "FAIL", "the served certificate cannot be parsed", messageOf(error)));
    return result;
  }
  result.certificate = cert;
  const valid = cert.notBefore <= now && now <= cert.notAfter;
  lines.push(
    line(
      "tls.certificate",
      valid ? "PASS" : "FAIL",
      valid ? "certificate served, within its validity" : "the served certificate is outside its validity",
      `key ${cert.spkiSha256}; ${shown(cert.subject)}, issued by ${shown(cert.issuer)}; ` +
        `${cert.notBefore.toISOString()} – ${cert.notAfter.toISOString()}`,
    ),
  );
  lines.push(
    line(
      "tls.webpki",
      "INFO",
      served.webPkiTrusted ? "trusted by the system's CAs" : "not trusted by the system's CAs",
      served.webPkiTrusted
        ? "a CA vouches for the name; the checks below vouch for the key"
        : `${served.webPkiError ?? "untrusted"}: browsers warn; only the attestation below vouches for this key`,
    ),
  );
  if (options.expectedSpkiSha256 !== undefined) {
    const same = options.expectedSpkiSha256.toLowerCase() === cert.spkiSha256;
    lines.push(
      line(
        "tls.expected-key",
        same ? "PASS" : "FAIL",
        same ? "the served key is the app's TLS key" : "the served key is NOT the app's TLS key",
        `served ${cert.spkiSha256}, expected ${options.expectedSpkiSha256.toLowerCase()}`,
      ),
    );
  }

  let doc: TlsAttestation;
  try {
    if (served.attestation.status !== 200) {
      throw new TlsAttestationFormatError(`the attestation path answered HTTP ${served.attestation.status}`);
    }
    doc = parseTlsAttestation(served.attestation.body);
  } catch (error) {
    if (!(error instanceof TlsAttestationFormatError)) throw error;
    lines.push(line("attestation.document", "FAIL", "no usable attestation document", error.message));
    return result;
  }

  let verified: VerifiedTdxQuote;
  try {
    verified = await options.verifyQuote(doc.quote);
  } catch (error) {
    lines.push(line("attestation.quote", "FAIL", "the quote does not verify (Intel DCAP)", messageOf(error)));
    return result;
  }
  const upToDate = verified.tcbStatus === "UpToDate";
  lines.push(
    line(
      "attestation.quote",
      upToDate ? "PASS" : "WARN",
      upToDate ? "TDX quote verified, TCB up to date" : `TDX quote verified, but TCB status is ${verified.tcbStatus}`,
      `TCB ${shown(verified.tcbStatus)}${verified.advisoryIds.length > 0 ? `, advisories ${verified.advisoryIds.map((id) => shown(id)).join(", ")}` : ""}; MRTD ${shortHex(hexlify(verified.mrTd), 8, 8)}`,
    ),
  );

  const binding = tlsBinding(verified.reportData, cert.spkiSha256);
  lines.push(
    line(
      "attestation.binding",
      binding.bound ? "PASS" : "FAIL",
      binding.bound
        ? "the quote binds the served certificate's key"
        : "the quote does NOT bind the served certificate's key",
      binding.bound
        ? `report_data ${shortHex(binding.actual, 8, 8)} = tlsReportData(${cert.spkiSha256})`
        : `report_data ${shortHex(binding.actual, 8, 8)}, expected ${shortHex(binding.expected, 8, 8)} for key ${cert.spkiSha256}` +
            (doc.spkiSha256 !== cert.spkiSha256 ? ` (the document names key ${doc.spkiSha256})` : ""),
    ),
  );

  let measuredAppId: string | undefined;
  let measuredComposeHash: string | undefined;
  try {
    const boot = measureBoot(verified, doc.eventLog);
    measuredAppId = boot.appId;
    measuredComposeHash = boot.composeHash;
  } catch (error) {
    if (!(error instanceof ReplicationVerificationError)) throw error;
    lines.push(line("attestation.boot", "FAIL", "the event log does not replay to the quote's RTMR3", error.message));
    return result;
  }
  if (measuredComposeHash === undefined) {
    lines.push(line("attestation.boot", "FAIL", "no compose hash was measured into RTMR3", "no compose-hash event"));
    return result;
  }
  lines.push(
    line(
      "attestation.boot",
      "PASS",
      "event log replays to RTMR3",
      `measured compose hash ${measuredComposeHash}, app id ${measuredAppId ?? "none"}`,
    ),
  );
  const sameApp = measuredAppId !== undefined && measuredAppId.toLowerCase() === options.app.toLowerCase();
  lines.push(
    line(
      "attestation.app",
      sameApp ? "PASS" : "FAIL",
      sameApp ? "the quote is of this app" : "the quote is of ANOTHER app",
      `measured app id ${measuredAppId ?? "none"}, expected ${options.app.toLowerCase()}`,
    ),
  );
  result.measured = { appId: measuredAppId, composeHash: measuredComposeHash };

  if (doc.appCompose === undefined) {
    lines.push(
      line("attestation.app-compose", "INFO", "no app-compose.json served", "the report below reads the chain only"),
    );
  } else {
    const sha256 = `0x${createHash("sha256").update(doc.appCompose, "utf8").digest("hex")}`;
    const same = sha256 === measuredComposeHash.toLowerCase();
    lines.push(
      line(
        "attestation.app-compose",
        same ? "PASS" : "FAIL",
        same
          ? "the served app-compose.json is the measured one"
          : "the served app-compose.json is NOT the measured one",
        `sha256 of its bytes ${sha256}, measured ${measuredComposeHash}`,
      ),
    );
    if (same) result.appCompose = { text: doc.appCompose, sha256 };
  }
  return result;
}

/** What the chain says about the measured compose hash. */
export interface ChainFacts {
  /** Whether the app's policy allows the hash now; undefined when the policy does not answer. */
  allowed: boolean | undefined;
  /** The policy's current release (TimelockedAppAuth), undefined when it has none or is not one. */
  currentRelease: { composeHash: string; uri: string } | undefined;
  timelocked: boolean;
}

/** The chain's lines: allowed, current, and the DevProof report's verdict. */
export function chainLines(composeHash: string, chain: ChainFacts, report: DevProofReport | undefined): AppLine[] {
  const lines: AppLine[] = [];
  const hash = composeHash.toLowerCase();
  lines.push(
    chain.allowed === true
      ? line("chain.allowed", "PASS", "the measured compose hash is allowed by the app's policy", hash)
      : line(
          "chain.allowed",
          "FAIL",
          chain.allowed === false
            ? "the measured compose hash is NOT allowed by the app's policy"
            : "the app's policy does not answer whether the compose hash is allowed",
          `${hash}: the KMS would refuse this code its keys at its next boot`,
        ),
  );
  if (!chain.timelocked) {
    lines.push(line("chain.current", "FAIL", "the policy names no current release", "not a TimelockedAppAuth"));
  } else if (chain.currentRelease === undefined) {
    lines.push(line("chain.current", "FAIL", "the policy has no current release yet", hash));
  } else {
    const current = chain.currentRelease.composeHash.toLowerCase() === hash;
    lines.push(
      line(
        "chain.current",
        current ? "PASS" : "FAIL",
        current ? "it is the current release" : "it is NOT the current release",
        current
          ? `${hash} (${shown(chain.currentRelease.uri)})`
          : `serving ${hash}, current is ${chain.currentRelease.composeHash} (${shown(chain.currentRelease.uri)}): a stale or rogue member`,
      ),
    );
  }
  if (report !== undefined) {
    const fails = report.lines.filter((l) => l.level === "FAIL").length;
    lines.push(
      line(
        "devproof.stage",
        report.stage >= 1 ? "PASS" : "FAIL",
        report.stageTitle.split(" — ")[0] ?? report.stageTitle,
        `DevProof report at block ${report.blockNumber}: ${report.lines.length} lines, ${fails} FAIL (below)`,
      ),
    );
  }
  return lines;
}

/** The verdict: PASS only when every check (not INFO) passes. */
export function verdictOf(lines: readonly AppLine[]): "PASS" | "FAIL" {
  return lines.every((l) => l.level === "PASS" || l.level === "INFO") ? "PASS" : "FAIL";
}

/** The lines as a table: level, check, evidence. */
export function renderAppLines(lines: readonly AppLine[]): string {
  return formatTable(
    ["", "check", "evidence"],
    lines.map((l) => [l.level, l.title, l.evidence]),
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
}
