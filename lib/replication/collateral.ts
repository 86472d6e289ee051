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
import type { QuoteCollateral } from "./quote.js";

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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}
