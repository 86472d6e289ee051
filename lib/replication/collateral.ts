/**
 * Where the collateral for a TDX quote comes from: Intel's signed TCB info, QE identity and CRLs, which say whether
 * the platform that signed a quote is genuine and up to date. Production fetches it fresh from a PCCS; a stored
 * file serves audits of old registrations (with the time it was valid at) and tests.
 */
import { readFile } from "node:fs/promises";

import { PHALA_PCCS_URL, getCollateral } from "@phala/dcap-qvl";
import { getBytes } from "ethers";
import type { BytesLike } from "ethers";

import { UserError } from "../errors.js";
import { verifyTdxQuote } from "./quote.js";
import type { QuoteCollateral, VerifiedTdxQuote } from "./quote.js";
import type { QuoteVerifier } from "./registration.js";

/** Phala's public PCCS, dcap-qvl's default: what tools use when told no other source. */
export const DEFAULT_PCCS_URL: string = PHALA_PCCS_URL;

/** A stored collateral file (JSON as dcap-qvl and a PCCS return it), or a PCCS to fetch it from. */
export type CollateralSource = { file: string } | { pccsUrl: string };

/** "file x.json" / "PCCS https://…", for messages. */
export function describeCollateralSource(source: CollateralSource): string {
  return "file" in source ? `file ${source.file}` : `PCCS ${source.pccsUrl}`;
}

const COLLATERAL_STRING_FIELDS = [
  "pck_crl_issuer_chain",
  "tcb_info_issuer_chain",
  "tcb_info",
  "qe_identity_issuer_chain",
  "qe_identity",
] as const;

/** The collateral for `quote`; throws a {@link UserError} when the file is unreadable or the PCCS fails. */
export async function loadCollateral(source: CollateralSource, quote: BytesLike): Promise<QuoteCollateral> {
  if ("pccsUrl" in source) {
    try {
      return await getCollateral(source.pccsUrl, getBytes(quote));
    } catch (error) {
      throw new UserError(
        `could not fetch the quote's collateral from the PCCS at ${source.pccsUrl}: ${messageOf(error)}`,
      );
    }
  }
  let text: string;
  try {
    text = await readFile(source.file, "utf8");
  } catch (error) {
    throw new UserError(`cannot read the collateral file ${source.file}: ${messageOf(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UserError(`the collateral file ${source.file} is not JSON`);
  }
  const record = value as Record<string, unknown> | null;
  const missing = COLLATERAL_STRING_FIELDS.filter((field) => typeof record?.[field] !== "string");
  if (missing.length > 0) {
    throw new UserError(
      `the collateral file ${source.file} is not DCAP collateral (missing ${missing.join(", ")}): ` +
        "expected the JSON a PCCS returns, as dcap-qvl's getCollateral gives it",
    );
  }
  return value as QuoteCollateral;
}

/** Verifies a TDX quote completely: its collateral is fetched (or read), then its DCAP chain is checked. */
export type QuoteVerification = (quote: BytesLike) => Promise<VerifiedTdxQuote>;

/**
 * The verification a node runs on its own quote and a member on every registered node's: collateral from `source`
 * (a PCCS in production, fetched for each quote, within `timeoutMs` when given), then `verifier` — Intel DCAP through
 * {@link verifyTdxQuote} unless a test substitutes a stand-in — at `nowSeconds()` (default: the clock).
 */
export function quoteVerificationFrom(
  source: CollateralSource,
  options: { verifier?: QuoteVerifier; nowSeconds?: () => number; timeoutMs?: number } = {},
): QuoteVerification {
  const verifier = options.verifier ?? verifyTdxQuote;
  const now = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  return async (quote) => {
    const loading = loadCollateral(source, quote);
    const collateral =
      options.timeoutMs === undefined ? await loading : await withTimeout(loading, options.timeoutMs, source);
    return verifier(quote, collateral, now());
  };
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, source: CollateralSource): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UserError(
            `the quote's collateral from ${describeCollateralSource(source)} took longer than ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}
