/**
 * Following a CT log for the app's domain (the logic of `npx hardhat watch-certs`): every entry from the cursor to
 * the log's signed tree size is decoded and judged; a certificate for the domain with a key that is not the app's is
 * URGENT. The cursor is the next entry index; it only moves past an entry once that entry was handled (reported,
 * ignored as another domain's, or refused as malformed), so hostile data can neither stop the watcher nor pin it.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";

import { UserError } from "../errors.js";
import { CtResponseError, coversDomain, decodeLeaf } from "./ct.js";
import type { CtCertificate, CtLog } from "./ct.js";

export interface CertEvent {
  /** `urgent`: the domain with a foreign key; `info`: the app's key; `refused`: an entry that does not decode. */
  severity: "urgent" | "info" | "refused";
  log: string;
  domain: string;
  index: number;
  certificate?: CtCertificate;
  reason: string;
}

/** Most batches read in one pass, so that one pass ends and the cursor is saved on a busy log. */
export const MAX_BATCHES_PER_PASS = 64;

export interface CtWatcherOptions {
  log: CtLog;
  domain: string;
  /** The app's TLS key(s), SPKI sha256 `0x`-hex. */
  tlsKeys: string[];
  batch: number;
  /** The next index to read, or "head": the log's current size (only new entries). */
  start: number | "head";
  onEvent: (event: CertEvent) => Promise<void>;
  onPosition?: (next: number) => Promise<void> | void;
}

export class CtWatcher {
  #next: number | undefined;
  readonly #keys: Set<string>;

  constructor(private readonly options: CtWatcherOptions) {
    this.#next = options.start === "head" ? undefined : options.start;
    this.#keys = new Set(options.tlsKeys.map((key) => key.toLowerCase()));
  }

  /** The next entry index to read; undefined before the first pass from the head. */
  get position(): number | undefined {
    return this.#next;
  }

  /** Reads up to the log's current tree size (at most {@link MAX_BATCHES_PER_PASS} batches). */
  async pass(): Promise<{ treeSize: number; read: number }> {
    const { log } = this.options;
    const sth = await log.getSth();
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
        let certificate: CtCertificate;
        try {
          certificate = decodeLeaf(index, entry.leafInput);
        } catch (error) {
          await this.handle({ severity: "refused", index, reason: (error as Error).message.split("\n")[0] ?? "" });
          next = this.#next = index + 1;
          continue;
        }
        if (coversDomain(certificate.dnsNames, this.options.domain)) {
          const ours = this.#keys.has(certificate.spkiSha256);
          await this.handle({
            severity: ours ? "info" : "urgent",
            index,
            certificate,
            reason: ours
              ? "a certificate for the app's TLS key"
              : "a certificate for the domain with a key that is NOT the app's: whoever holds it can impersonate the app",
          });
        }
        next = this.#next = index + 1;
        read += 1;
      }
      await this.options.onPosition?.(next);
    }
    return { treeSize: sth.treeSize, read };
  }

  private async handle(event: Omit<CertEvent, "log" | "domain">): Promise<void> {
    await this.options.onEvent({ log: this.options.log.baseUrl, domain: this.options.domain, ...event });
  }
}

/** One line for a terminal. */
export function formatCertEvent(event: CertEvent): string {
  const cert = event.certificate;
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
  log: string;
  domain: string;
  next: number;
}

/** The cursor's next index, or undefined when there is no file yet; refuses one for another log or domain. */
export async function readCtCursor(file: string, key: { log: string; domain: string }): Promise<number | undefined> {
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
  if (cursor.type !== "dstack-devproof/ct-cursor" || typeof cursor.next !== "number" || cursor.next < 0) {
    throw new UserError(`the cursor file ${file} is not a watch-certs cursor`);
  }
  if (cursor.log !== key.log || cursor.domain !== key.domain) {
    throw new UserError(
      `the cursor file ${file} is for log ${cursor.log} and domain ${cursor.domain}, not ${key.log} and ${key.domain}`,
    );
  }
  return cursor.next;
}

/** Writes the cursor atomically (a temporary file renamed over the old one). */
export async function writeCtCursor(file: string, cursor: Omit<CtCursor, "type" | "version">): Promise<void> {
  const temp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, `${JSON.stringify({ type: "dstack-devproof/ct-cursor", version: 1, ...cursor }, null, 2)}\n`);
  await rename(temp, file);
}
