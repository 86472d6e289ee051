import { styleText } from "node:util";

import { Contract } from "ethers";

import { buildReport, notAnAppAuth, type DevProofReport, type Level } from "../lib/devproof-report.js";
import { readDevProofSnapshot } from "../lib/devproof-snapshot.js";
import { NegativeAnswer, UserError } from "../lib/errors.js";
import { DEFAULT_PCCS_URL, quoteVerificationFrom } from "../lib/replication/index.js";
import type { CollateralSource } from "../lib/replication/index.js";
import {
  ServedAppError,
  chainLines,
  checkServedApp,
  fetchServed,
  renderAppLines,
  verdictOf,
  type AppLine,
} from "../lib/tls/index.js";
import { safeJson } from "../lib/untrusted/text.js";
import { atMostOneOf, checkUnixTime, parseAddress, parseBytes32, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { givenInt } from "./shared/options.js";
import { quoteVerifier } from "./shared/quote-verifier.js";
import { openNetwork } from "./shared/session.js";

export interface VerifyAppArgs {
  url?: string | undefined;
  app?: string | undefined;
  registry?: string | undefined;
  tlsKey?: string | undefined;
  collateral?: string | undefined;
  pccsUrl?: string | undefined;
  at?: number | undefined;
  attestationPath: string;
  timeout: number;
  json?: boolean | undefined;
}

export interface VerifyAppResult {
  url: string;
  app: string;
  verdict: "PASS" | "FAIL";
  lines: AppLine[];
  report: DevProofReport | undefined;
}

/** Not every check passed: the table is printed already, so the CLI only exits with code 1. */
export class AppNotVerified extends NegativeAnswer {
  override name = "AppNotVerified";

  constructor(readonly result: VerifyAppResult) {
    super(
      `${result.url}: ${result.lines.filter((l) => l.level === "FAIL" || l.level === "WARN").length} check(s) did not pass`,
    );
  }
}

const COLOURS: Record<Level, Parameters<typeof styleText>[0]> = {
  PASS: "green",
  WARN: "yellow",
  FAIL: "red",
  INFO: "cyan",
};

/**
 * Checks a live app end to end (lib/tls/verify-app.ts has the rules): the certificate its URL serves, the quote at
 * its attestation path (Intel DCAP, report_data binding the certificate's key, RTMR3 replayed to the compose hash),
 * that hash against the app's policy on `--network` (allowed, current release), then the DevProof report. Exit code
 * 0 only when every check passes; an unreachable URL is a FAIL line, not a crash.
 */
export default defineAction(async (args: VerifyAppArgs, hre): Promise<VerifyAppResult> => {
  const url = requireOption("url", args.url, "the app's https:// URL");
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(url);
  } catch {
    throw new UserError(`--url ${JSON.stringify(url)} is not a URL`);
  }
  if (parsedUrl.protocol !== "https:") throw new UserError(`--url must be an https:// URL, got ${parsedUrl.protocol}`);
  const app = parseAddress("app", requireOption("app", args.app, "the app id: the address of its auth contract"));
  const registry = args.registry === undefined ? undefined : parseAddress("registry", args.registry);
  const tlsKey = args.tlsKey === undefined ? undefined : parseBytes32("tls-key", args.tlsKey);
  const given = atMostOneOf({ collateral: args.collateral, "pccs-url": args.pccsUrl });
  const source: CollateralSource =
    given === undefined
      ? { pccsUrl: DEFAULT_PCCS_URL }
      : given.option === "collateral"
        ? { file: given.value }
        : { pccsUrl: given.value };
  const at = givenInt(args.at);
  const nowSeconds = at === undefined ? undefined : checkUnixTime("at", at);
  const verifier = quoteVerifier();
  const verifyQuote = quoteVerificationFrom(source, {
    verifier: verifier.verifier,
    timeoutMs: args.timeout,
    ...(nowSeconds === undefined ? {} : { nowSeconds: () => nowSeconds }),
  });

  const session = await openNetwork(hre, undefined, false);
  const lines: AppLine[] = [];
  let report: DevProofReport | undefined;
  let served;
  try {
    served = await fetchServed(url, { attestationPath: args.attestationPath, timeoutMs: args.timeout });
  } catch (error) {
    if (!(error instanceof ServedAppError)) throw error;
    lines.push({
      id: "tls.reachable",
      level: "FAIL",
      title: "the app cannot be reached over TLS",
      evidence: error.message,
    });
  }
  if (served !== undefined) {
    let evidence;
    try {
      evidence = await checkServedApp(served, { app, verifyQuote, expectedSpkiSha256: tlsKey });
    } catch (error) {
      // The collateral cannot be had (PCCS down, unreadable file): a check that could not run is no pass.
      if (!(error instanceof UserError)) throw error;
      evidence = undefined;
      lines.push({
        id: "attestation.quote",
        level: "FAIL",
        title: "the quote could not be verified",
        evidence: error.message,
      });
    }
    if (evidence !== undefined) {
      lines.push(...evidence.lines);
      if (evidence.measured !== undefined) {
        const compose =
          evidence.appCompose === undefined
            ? undefined
            : { source: `${url} (served)`, text: evidence.appCompose.text, sha256: evidence.appCompose.sha256 };
        const snapshot = await readDevProofSnapshot(session.ethers.provider, app, { compose });
        const notAppAuth = notAnAppAuth(snapshot);
        if (notAppAuth !== undefined) {
          lines.push({ id: "chain.allowed", level: "FAIL", title: "--app is not an app policy", evidence: notAppAuth });
        } else {
          const hash = evidence.measured.composeHash.toLowerCase();
          const allowed =
            snapshot.timelocked !== undefined
              ? snapshot.timelocked.composeHashes.some((entry) => entry.composeHash.toLowerCase() === hash)
              : await allowedComposeHash(session.ethers.provider, app, hash);
          report = buildReport(snapshot);
          lines.push(
            ...chainLines(
              hash,
              {
                allowed,
                timelocked: snapshot.timelocked !== undefined,
                currentRelease: snapshot.timelocked?.currentRelease,
              },
              report,
            ),
          );
        }
      }
    }
  }
  if (registry !== undefined) {
    lines.push({
      id: "registry.tls-key",
      level: "INFO",
      title: "the registry publishes no TLS key yet",
      evidence: `ReplicationRegistry ${registry}: until it does, pin the key with --tls-key (docs/tls.md)`,
    });
  }

  const result: VerifyAppResult = { url, app, verdict: verdictOf(lines), lines, report };
  if (args.json === true) {
    console.log(safeJson(result));
  } else {
    console.log(`Verifying ${url} as app ${app} on ${session.where}`);
    console.log(
      `Quote verification: ${verifier.description}${verifier.substitute ? " (SUBSTITUTE: tests and demo only)" : ""}`,
    );
    console.log(
      renderAppLines(lines)
        .split("\n")
        .map((text) => {
          const level = text.slice(2, 6).trim() as Level;
          return level in COLOURS ? `  ${styleText(COLOURS[level], text.slice(2, 6))}${text.slice(6)}` : text;
        })
        .join("\n"),
    );
    if (report !== undefined) {
      const notable = report.lines.filter((l) => l.level === "FAIL" || l.level === "WARN");
      for (const l of notable) console.log(`    report ${l.level}: ${l.title}`);
    }
    console.log(result.verdict === "PASS" ? "PASS: every check passed" : "FAIL: not every check passed");
  }
  if (result.verdict !== "PASS") throw new AppNotVerified(result);
  return result;
});

async function allowedComposeHash(
  provider: import("ethers").Provider,
  app: string,
  hash: string,
): Promise<boolean | undefined> {
  try {
    const policy = new Contract(app, ["function allowedComposeHashes(bytes32) view returns (bool)"], provider);
    return (await policy.getFunction("allowedComposeHashes").staticCall(hash)) as boolean;
  } catch {
    return undefined;
  }
}
