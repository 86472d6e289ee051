/**
 * The shapes of certificate-transparency findings, apart from the code that makes them, so that the status page
 * (built for the browser, without node:) can read the `ct.json` the status-page task serves.
 */

/** One log entry, decoded. */
export interface CtCertificate {
  index: number;
  kind: "x509" | "precert";
  /** The leaf's timestamp (ms since the epoch), when the log accepted it. */
  timestamp: number;
  spkiSha256: string;
  dnsNames: string[];
  issuer: string | undefined;
  notBefore: string;
  notAfter: string;
}

export interface CertEvent {
  /**
   * `urgent`: the domain with a foreign key, or a log that signed two inconsistent trees; `warn`: a log answer that
   * is not evidence (a tree head its key did not sign, an entry it does not prove); `info`: the app's key; `refused`:
   * an entry that does not decode.
   */
  severity: "urgent" | "warn" | "info" | "refused";
  log: string;
  domain: string;
  /** The entry's index in the log (the crt.sh id for a search API); for a check of the log, the next index to read. */
  index: number;
  certificate?: CtCertificate;
  /** For a failed check of the log's data: which one. */
  check?: "signature" | "consistency" | "inclusion";
  reason: string;
}

export interface CertFeedSnapshot {
  type: "dstack-devproof/ct-feed";
  source: "log" | "crtsh";
  url: string;
  domain: string;
  /** The app's TLS key the certificates are judged against now. */
  tlsKey: string | undefined;
  /** The next entry index (or crt.sh id) to read. */
  next: number | undefined;
  /** The last pass: when it ended and what it found wrong (the source unreachable, a check failed). */
  lastPass: { at: string; problem: string | undefined } | undefined;
  /** Certificates for the domain seen so far, and how many of them are foreign (URGENT). */
  certificates: number;
  foreign: number;
  events: CertEvent[];
}
