/**
 * A crt.sh-style search API as a source of certificate-transparency data: `GET /?q=<name>&output=json` lists the
 * certificates a search service found in the logs it follows (`id`, `entry_timestamp`, `name_value`, …), and
 * `GET /?d=<id>` returns one of them. The list is a claim, not evidence: no log signs it, so the watcher downloads
 * every listed certificate and judges the certificate itself (its names and key), never the row. Like a log's
 * answers, every response is capped in size and time, a malformed row or certificate is refused on its own, and the
 * cursor (the next crt.sh id) moves past it.
 */
import { certificateFacts } from "./certificate.js";
import { CtResponseError, coversDomain, fetchCapped, fetchCappedJson } from "./ct.js";
import type { CtCertificate } from "./ct.js";
import type { CertEvent, PassOutcome, TlsKeyTimeline } from "./ct-watch.js";

/** Most rows one search may return; a domain with more needs a log, or a narrower search service. */
export const MAX_CRTSH_ROWS = 10_000;

export interface CrtshRow {
  id: number;
  /** When the search service saw the certificate in a log, ms since the epoch; undefined when it does not say. */
  loggedAt: number | undefined;
}

export class CrtshSearch {
  constructor(
    readonly baseUrl: string,
    private readonly limits: { maxBytes: number; timeoutMs: number },
  ) {}

  private url(query: string): string {
    return `${this.baseUrl.replace(/\/+$/, "")}/?${query}`;
  }

  /**
   * The rows listed for `domain`, the names under it and the wildcard of its parent, which covers it (searches for the
   * name, `%.name` and `*.parent`), by id; rows without a usable id are counted in `malformed`, since nothing can be
   * said or remembered about them.
   */
  async search(domain: string): Promise<{ rows: CrtshRow[]; malformed: number }> {
    const byId = new Map<number, CrtshRow>();
    let malformed = 0;
    const parent = domain.slice(domain.indexOf(".") + 1);
    const queries = domain.includes(".") ? [domain, `%.${domain}`, `*.${parent}`] : [domain, `%.${domain}`];
    for (const q of queries) {
      const body = await fetchCappedJson(
        this.url(`q=${encodeURIComponent(q)}&output=json`),
        this.limits.maxBytes,
        this.limits.timeoutMs,
      );
      if (!Array.isArray(body)) throw new CtResponseError(`the search for ${q} did not answer a JSON array`);
      if (body.length > MAX_CRTSH_ROWS) {
        throw new CtResponseError(`the search for ${q} answered ${body.length} rows, more than ${MAX_CRTSH_ROWS}`);
      }
      for (const row of body as unknown[]) {
        const id = (row as Record<string, unknown> | null)?.["id"];
        if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
          malformed += 1;
          continue;
        }
        const stamp = (row as Record<string, unknown>)["entry_timestamp"];
        // crt.sh writes UTC without a zone: "2024-05-01T12:34:56.789".
        const loggedAt =
          typeof stamp === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?$/.test(stamp)
            ? Date.parse(stamp.endsWith("Z") ? stamp : `${stamp}Z`)
            : undefined;
        byId.set(id, { id, loggedAt: Number.isFinite(loggedAt) ? loggedAt : undefined });
      }
    }
    return { rows: [...byId.values()].sort((a, b) => a.id - b.id), malformed };
  }

  /** Certificate `id` (PEM or DER), as bytes. */
  async certificate(id: number): Promise<Buffer> {
    return fetchCapped(this.url(`d=${id}`), this.limits.maxBytes, this.limits.timeoutMs, "application/pkix-cert");
  }
}

export interface CrtshWatcherOptions {
  search: CrtshSearch;
  domain: string;
  keys: TlsKeyTimeline;
  /** Most certificates downloaded in one pass. */
  batch: number;
  /** The next crt.sh id to handle, or "head": only certificates listed after the first search. */
  start: number | "head";
  onEvent: (event: CertEvent) => Promise<void>;
  onPosition?: (next: number) => Promise<void> | void;
}

/** Follows a crt.sh-style search API for the domain, one pass at a time (the same events as {@link CtWatcher}). */
export class CrtshWatcher {
  #next: number | undefined;

  constructor(private readonly options: CrtshWatcherOptions) {
    this.#next = options.start === "head" ? undefined : options.start;
  }

  get position(): number | undefined {
    return this.#next;
  }

  async pass(): Promise<PassOutcome> {
    const { search, domain } = this.options;
    const { rows, malformed } = await search.search(domain);
    const last = rows.at(-1)?.id ?? -1;
    if (this.#next === undefined) {
      this.#next = last + 1;
      await this.options.onPosition?.(this.#next);
    }
    const pending = rows.filter((row) => row.id >= this.#next!).slice(0, this.options.batch);
    for (const row of pending) {
      await this.judge(row);
      this.#next = row.id + 1;
      await this.options.onPosition?.(this.#next);
    }
    return { treeSize: last + 1, read: pending.length, malformed };
  }

  private async judge(row: CrtshRow): Promise<void> {
    let certificate: CtCertificate;
    try {
      const bytes = await this.options.search.certificate(row.id);
      const text = bytes.toString("latin1");
      const facts = certificateFacts(text.includes("-----BEGIN CERTIFICATE-----") ? text : new Uint8Array(bytes));
      certificate = {
        index: row.id,
        kind: "x509",
        timestamp: row.loggedAt ?? facts.notBefore.getTime(),
        spkiSha256: facts.spkiSha256,
        dnsNames: facts.dnsNames,
        issuer: facts.issuer,
        notBefore: facts.notBefore.toISOString(),
        notAfter: facts.notAfter.toISOString(),
      };
    } catch (error) {
      // Unreachable: the pass fails and the cursor stays before this certificate, to ask again.
      if (error instanceof CtResponseError && error.transient) throw error;
      await this.handle({ severity: "refused", index: row.id, reason: (error as Error).message.split("\n")[0] ?? "" });
      return;
    }
    if (!coversDomain(certificate.dnsNames, this.options.domain)) {
      await this.handle({
        severity: "refused",
        index: row.id,
        certificate,
        reason: `listed for ${this.options.domain}, but the certificate does not name it`,
      });
      return;
    }
    const verdict = this.options.keys.judge(certificate.spkiSha256, certificate.timestamp);
    await this.handle({
      severity: verdict.ours ? "info" : "urgent",
      index: row.id,
      certificate,
      reason: `${verdict.reason} (listed by a search API: its claim, not a log's proof)`,
    });
  }

  private async handle(event: Omit<CertEvent, "log" | "domain">): Promise<void> {
    await this.options.onEvent({ log: this.options.search.baseUrl, domain: this.options.domain, ...event });
  }
}
