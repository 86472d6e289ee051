/**
 * Following certificate-transparency data for the app's domain (the logic of `npx hardhat watch-certs`): every entry
 * from the cursor to the log's signed tree size is decoded and judged against the app's TLS keys as the registry
 * published them over time ({@link TlsKeyTimeline}); a certificate for the domain with a key that is not the app's is
 * URGENT. The cursor is the next entry index; it only moves past an entry once that entry was handled (reported,
 * ignored as another domain's, or refused as malformed), so hostile data can neither stop the watcher nor pin it.
 * The log is checked, not believed: each tree head's signature against the log's key, each new tree head against the
 * last verified one with a consistency proof, and each entry for the domain with an inclusion proof. A log that fails
 * a check is reported and the watcher keeps its last verified state, to try again at the next poll.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";

import { UserError } from "../errors.js";
import { CtResponseError, CtVerificationError, coversDomain, decodeLeaf } from "./ct.js";
import type { CtLog, SignedTreeHead } from "./ct.js";
import type { CertEvent, CtCertificate } from "./ct-types.js";

export type { CertEvent } from "./ct-types.js";

/** Most batches read in one pass, so that one pass ends and the cursor is saved on a busy log. */
export const MAX_BATCHES_PER_PASS = 64;

/**
 * The app's TLS keys over time, as the registry's `TlsKeySet` events publish them. The rule a certificate is judged
 * by: it is the app's when its key is the current one, or a key the registry published earlier and the certificate
 * was logged before that key was replaced. A certificate for a replaced key logged after the replacement is URGENT,
 * like any other key: no member derives that key any more, so whoever asks a CA for it holds the old secret.
 */
export class TlsKeyTimeline {
  #current: string | undefined;
  /** Replaced keys → when (ms since the epoch) the registry replaced them. */
  readonly #replaced = new Map<string, number>();

  constructor(current?: string) {
    this.#current = current?.toLowerCase();
  }

  get current(): string | undefined {
    return this.#current;
  }

  /** `key` is published at `atMs` (a `TlsKeySet` block's time), replacing the current key. */
  publish(key: string, atMs: number): void {
    const next = key.toLowerCase();
    if (this.#current !== undefined && this.#current !== next) this.#replaced.set(this.#current, atMs);
    this.#replaced.delete(next);
    this.#current = next;
  }

  /** Whether a certificate for `spkiSha256`, logged at `loggedAtMs`, is the app's, and why. */
  judge(spkiSha256: string, loggedAtMs: number): { ours: boolean; reason: string } {
    const key = spkiSha256.toLowerCase();
    if (key === this.#current) return { ours: true, reason: "a certificate for the app's TLS key" };
    const replacedAt = this.#replaced.get(key);
    if (replacedAt !== undefined && loggedAtMs < replacedAt) {
      return {
        ours: true,
        reason: `a certificate for the app's previous TLS key, logged before the registry replaced it (${new Date(replacedAt).toISOString()})`,
      };
    }
    if (replacedAt !== undefined) {
      return {
        ours: false,
        reason:
          `a certificate for the app's REPLACED TLS key, logged after the registry replaced it ` +
          `(${new Date(replacedAt).toISOString()}): no member derives that key any more, so whoever holds it can impersonate the app`,
      };
    }
    return {
      ours: false,
      reason: "a certificate for the domain with a key that is NOT the app's: whoever holds it can impersonate the app",
    };
  }
}

export interface CtWatcherOptions {
  log: CtLog;
  domain: string;
  /** The app's TLS keys over time; the watcher reads it at every entry, so a key published meanwhile counts. */
  keys: TlsKeyTimeline;
  batch: number;
  /** The next index to read, or "head": the log's current size (only new entries). */
  start: number | "head";
  /** The last tree head verified (from the cursor), which the next one must extend. */
  verified?: SignedTreeHead | undefined;
  onEvent: (event: CertEvent) => Promise<void>;
  onPosition?: (next: number) => Promise<void> | void;
}

export interface PassOutcome {
  treeSize: number;
  read: number;
  /** Set when the log failed a check or could not be read: the pass stopped there and the state stayed. */
  problem?: string;
  /** Rows of a search API without a usable id, skipped. */
  malformed?: number;
}

export class CtWatcher {
  #next: number | undefined;
  #verified: SignedTreeHead | undefined;
  /** The checks failing now, reported once each until a pass succeeds again (not at every poll). */
  readonly #failing = new Set<string>();

  constructor(private readonly options: CtWatcherOptions) {
    this.#next = options.start === "head" ? undefined : options.start;
    this.#verified = options.verified;
  }

  /** The next entry index to read; undefined before the first pass from the head. */
  get position(): number | undefined {
    return this.#next;
  }

  /** The last tree head whose signature and consistency verified. */
  get verified(): SignedTreeHead | undefined {
    return this.#verified;
  }

  /**
   * Verifies the log's tree head and reads up to its size (at most {@link MAX_BATCHES_PER_PASS} batches). A tree
   * head that fails a check is reported as an event and ends the pass with `problem`; the log unreachable or
   * answering garbage throws (nothing is reported, nothing changes).
   */
  async pass(): Promise<PassOutcome> {
    const { log } = this.options;
    let sth: SignedTreeHead;
    try {
      sth = await log.getSth();
      if (this.#verified !== undefined) await log.checkConsistency(this.#verified, sth);
    } catch (error) {
      if (!(error instanceof CtVerificationError)) throw error;
      await this.reportCheck(error);
      return { treeSize: this.#verified?.treeSize ?? 0, read: 0, problem: error.message };
    }
    this.#failing.clear();
    this.#verified = sth;
    let next = this.#next ?? sth.treeSize;
    this.#next = next;
    let read = 0;
    let batch = this.options.batch;
    for (let batches = 0; next < sth.treeSize && batches < MAX_BATCHES_PER_PASS; batches += 1) {
      const start: number = next;
      const end = Math.min(start + batch, sth.treeSize) - 1;
      let entries;
      try {
        entries = await log.getEntries(start, end);
      } catch (error) {
        if (!(error instanceof CtResponseError) || !error.tooLarge) throw error;
        if (batch > 1) {
          batch = Math.max(1, Math.floor(batch / 2));
          continue;
        }
        // One entry larger than any certificate: refuse it and move on.
        await this.handle({ severity: "refused", index: start, reason: error.message });
        next = this.#next = start + 1;
        await this.options.onPosition?.(next);
        continue;
      }
      for (const [offset, entry] of entries.entries()) {
        const index = start + offset;
        let certificate: CtCertificate | undefined;
        try {
          certificate = decodeLeaf(index, entry.leafInput, this.options.domain.toLowerCase());
        } catch (error) {
          await this.handle({ severity: "refused", index, reason: (error as Error).message.split("\n")[0] ?? "" });
          next = this.#next = index + 1;
          continue;
        }
        if (certificate !== undefined && coversDomain(certificate.dnsNames, this.options.domain)) {
          await this.reportCertificate(certificate, Buffer.from(entry.leafInput as string, "base64"), sth);
        }
        next = this.#next = index + 1;
        read += 1;
      }
      await this.options.onPosition?.(next);
    }
    return { treeSize: sth.treeSize, read };
  }

  /** A certificate for the domain: proven in the signed tree (one get-proof-by-hash), then judged by its key. */
  private async reportCertificate(certificate: CtCertificate, leaf: Buffer, sth: SignedTreeHead): Promise<void> {
    try {
      await this.options.log.checkInclusion(certificate.index, leaf, sth);
    } catch (error) {
      if (!(error instanceof CtVerificationError) && !(error instanceof CtResponseError)) throw error;
      if (error instanceof CtResponseError && error.transient) throw error; // asked again at the next pass
      await this.handle({
        severity: "warn",
        index: certificate.index,
        certificate,
        check: "inclusion",
        reason: `the log served this entry but does not prove it is in its signed tree (${error.message}): not evidence of a certificate`,
      });
      return;
    }
    const verdict = this.options.keys.judge(certificate.spkiSha256, certificate.timestamp);
    await this.handle({
      severity: verdict.ours ? "info" : "urgent",
      index: certificate.index,
      certificate,
      reason: verdict.reason,
    });
  }

  private async reportCheck(error: CtVerificationError): Promise<void> {
    if (this.#failing.has(error.check)) return;
    this.#failing.add(error.check);
    await this.handle({
      severity: error.check === "consistency" ? "urgent" : "warn",
      index: this.#next ?? this.#verified?.treeSize ?? 0,
      check: error.check,
      reason:
        error.check === "consistency"
          ? `the log signed a tree that does not extend the one it signed before (${error.message}): it can show ` +
            "browsers entries it hides from watchers; report it to the log's operator and the browser CT programs"
          : `${error.message}: the log's answer is not evidence; the watcher keeps the last verified tree head and tries again`,
    });
  }

  private async handle(event: Omit<CertEvent, "log" | "domain">): Promise<void> {
    await this.options.onEvent({ log: this.options.log.baseUrl, domain: this.options.domain, ...event });
  }
}

/** One line for a terminal. */
export function formatCertEvent(event: CertEvent): string {
  const cert = event.certificate;
  if (cert === undefined && event.check !== undefined) {
    return `${event.severity.toUpperCase()} log check ${event.check} (next entry ${event.index}): ${event.reason}`;
  }
  const what =
    cert === undefined
      ? ""
      : ` ${cert.kind} for ${cert.dnsNames.join(", ")}, key ${cert.spkiSha256}` +
        `${cert.issuer === undefined ? "" : `, issued by ${cert.issuer}`}, valid ${cert.notBefore} – ${cert.notAfter}`;
  return `${event.severity.toUpperCase()} entry ${event.index}:${what}: ${event.reason}`;
}

export interface CtCursor {
  type: "dstack-devproof/ct-cursor";
  version: 1;
  /** "log" (an RFC 6962 log; absent in older files) or "crtsh" (a search API: `next` is the next crt.sh id). */
  source?: "log" | "crtsh";
  log: string;
  domain: string;
  next: number;
  /** The last verified tree head (log source), so a restart still checks the log only appended. */
  sth?: { treeSize: number; timestamp: number; rootHash: string };
}

export interface CtCursorKey {
  source: "log" | "crtsh";
  log: string;
  domain: string;
}

/**
 * The cursor's next index (and the last verified tree head), or undefined when there is no file yet; refuses one for
 * another source, log or domain.
 */
export async function readCtCursor(
  file: string,
  key: CtCursorKey,
): Promise<{ next: number; verified: SignedTreeHead | undefined } | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UserError(`cannot read the cursor file ${file}: ${(error as Error).message}`);
  }
  let cursor: Partial<CtCursor>;
  try {
    cursor = JSON.parse(text) as Partial<CtCursor>;
  } catch {
    throw new UserError(`the cursor file ${file} is not JSON: delete it to start from the log's head`);
  }
  if (
    cursor === null ||
    cursor.type !== "dstack-devproof/ct-cursor" ||
    !Number.isSafeInteger(cursor.next) ||
    cursor.next! < 0
  ) {
    throw new UserError(`the cursor file ${file} is not a watch-certs cursor`);
  }
  const source = cursor.source ?? "log";
  if (source !== key.source || cursor.log !== key.log || cursor.domain !== key.domain) {
    throw new UserError(
      `the cursor file ${file} is for ${source} ${cursor.log} and domain ${cursor.domain}, not ${key.source} ${key.log} and ${key.domain}`,
    );
  }
  const sth = cursor.sth;
  let verified: SignedTreeHead | undefined;
  if (sth !== undefined) {
    const rootHash = typeof sth?.rootHash === "string" ? Buffer.from(sth.rootHash, "base64") : undefined;
    if (
      !Number.isSafeInteger(sth?.treeSize) ||
      !Number.isSafeInteger(sth?.timestamp) ||
      rootHash === undefined ||
      rootHash.length !== 32
    ) {
      throw new UserError(`the cursor file ${file} holds a tree head that is not one`);
    }
    verified = { treeSize: sth.treeSize, timestamp: sth.timestamp, rootHash };
  }
  return { next: cursor.next!, verified };
}

/** Writes the cursor atomically (a temporary file renamed over the old one). */
export async function writeCtCursor(
  file: string,
  cursor: CtCursorKey & { next: number; verified?: SignedTreeHead | undefined },
): Promise<void> {
  const { verified, ...rest } = cursor;
  const saved: CtCursor = {
    type: "dstack-devproof/ct-cursor",
    version: 1,
    ...rest,
    ...(verified === undefined
      ? {}
      : {
          sth: {
            treeSize: verified.treeSize,
            timestamp: verified.timestamp,
            rootHash: verified.rootHash.toString("base64"),
          },
        }),
  };
  const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, `${JSON.stringify(saved, null, 2)}\n`);
  await rename(temp, file);
}
