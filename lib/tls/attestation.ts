/**
 * The document a member serves at `/attestation`: a TDX quote whose `report_data` binds the app's TLS key
 * (report-data.ts), the event log that replays to the quote's RTMR3 (and so names the app and compose hash), and
 * the app-compose.json the CVM booted with. Everything in it is evidence to check, not a claim to believe: the
 * verifier takes the key from the certificate the server presents, never from this document.
 *
 *     { "version": "dstack-devproof/tls-attestation/v1",
 *       "spkiSha256": "0x…",          the key the member means (a hint; the served certificate decides)
 *       "quote": "0x…",               dstack GetQuote with report_data = tlsReportData(spkiSha256)
 *       "eventLog": "[…]",            GetQuote's event_log, as dstack returns it (a JSON string)
 *       "appCompose": "{…}" }         optional: Info's tcb_info.app_compose, the exact bytes measured
 */
import { getBytes, hexlify, isHexString } from "ethers";

/** The version string of the document; another version is refused, never guessed at. */
export const TLS_ATTESTATION_VERSION = "dstack-devproof/tls-attestation/v1";

/** The largest document a verifier reads (a quote is ~5 kB, an event log tens of kB, a compose file a few). */
export const MAX_ATTESTATION_BYTES = 1_000_000;

export interface TlsAttestation {
  version: typeof TLS_ATTESTATION_VERSION;
  spkiSha256: string;
  quote: string;
  eventLog: string;
  appCompose?: string | undefined;
}

/** A document that is not a TLS attestation, with why. */
export class TlsAttestationFormatError extends Error {
  override name = "TlsAttestationFormatError";
}

/** The document for a quote of `spkiSha256`'s binding, as a member serves it. */
export function tlsAttestation(args: {
  spkiSha256: string;
  quote: string | Uint8Array;
  eventLog: string;
  appCompose?: string | undefined;
}): TlsAttestation {
  return {
    version: TLS_ATTESTATION_VERSION,
    spkiSha256: args.spkiSha256,
    quote: hexlify(typeof args.quote === "string" && !args.quote.startsWith("0x") ? `0x${args.quote}` : args.quote),
    eventLog: args.eventLog,
    ...(args.appCompose === undefined ? {} : { appCompose: args.appCompose }),
  };
}

/** Parses and shape-checks a served document; throws {@link TlsAttestationFormatError} with the field at fault. */
export function parseTlsAttestation(text: string): TlsAttestation {
  if (text.length > MAX_ATTESTATION_BYTES) {
    throw new TlsAttestationFormatError(`the document is larger than ${MAX_ATTESTATION_BYTES} bytes`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new TlsAttestationFormatError("the document is not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TlsAttestationFormatError("the document is not a JSON object");
  }
  const doc = value as Record<string, unknown>;
  if (doc["version"] !== TLS_ATTESTATION_VERSION) {
    throw new TlsAttestationFormatError(`version is not "${TLS_ATTESTATION_VERSION}"`);
  }
  const spki = doc["spkiSha256"];
  if (typeof spki !== "string" || !isHexString(spki, 32)) {
    throw new TlsAttestationFormatError("spkiSha256 is not 0x + 64 hex digits");
  }
  const quote = doc["quote"];
  if (typeof quote !== "string" || !isHexString(quote) || getBytes(quote).length === 0) {
    throw new TlsAttestationFormatError("quote is not 0x-hex bytes");
  }
  const eventLog = doc["eventLog"];
  if (typeof eventLog !== "string") throw new TlsAttestationFormatError("eventLog is not a string");
  const appCompose = doc["appCompose"];
  if (appCompose !== undefined && typeof appCompose !== "string") {
    throw new TlsAttestationFormatError("appCompose is not a string");
  }
  return { version: TLS_ATTESTATION_VERSION, spkiSha256: spki.toLowerCase(), quote, eventLog, appCompose };
}
