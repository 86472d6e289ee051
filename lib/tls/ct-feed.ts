/**
 * What the status page shows of certificate-transparency data: the certificates a watcher found for the domain
 * (newest first; the foreign ones and the log's failed checks kept first when the list is full), with the key they
 * were judged against and how far the source was read. The status-page task fills it from the same watcher as
 * `watch-certs` and serves it as `ct.json`; the page only displays it.
 */
import type { PassOutcome } from "./ct-watch.js";
import type { CertEvent, CertFeedSnapshot } from "./ct-types.js";

export type { CertFeedSnapshot } from "./ct-types.js";

/** Most events kept for the page. */
export const MAX_FEED_EVENTS = 200;

const kept = (event: CertEvent) => event.severity === "urgent" || event.severity === "warn";

export class CertFeed {
  readonly #events: CertEvent[] = [];
  #certificates = 0;
  #foreign = 0;
  #lastPass: CertFeedSnapshot["lastPass"];

  constructor(
    private readonly about: { source: "log" | "crtsh"; url: string; domain: string },
    private readonly state: { tlsKey: () => string | undefined; next: () => number | undefined },
    private readonly max = MAX_FEED_EVENTS,
  ) {}

  record(event: CertEvent): void {
    if (event.certificate !== undefined && event.severity !== "refused" && event.check === undefined) {
      this.#certificates += 1;
      if (event.severity === "urgent") this.#foreign += 1;
    }
    this.#events.unshift(event);
    if (this.#events.length > this.max) {
      // Drop the oldest routine event; only when every one is URGENT or WARN, the oldest of those.
      const routine = this.#events.findLastIndex((e) => !kept(e));
      this.#events.splice(routine >= 0 ? routine : this.#events.length - 1, 1);
    }
  }

  passed(outcome: PassOutcome | Error, at: Date): void {
    this.#lastPass = {
      at: at.toISOString(),
      problem: outcome instanceof Error ? outcome.message : outcome.problem,
    };
  }

  snapshot(): CertFeedSnapshot {
    return {
      type: "dstack-devproof/ct-feed",
      ...this.about,
      tlsKey: this.state.tlsKey(),
      next: this.state.next(),
      lastPass: this.#lastPass,
      certificates: this.#certificates,
      foreign: this.#foreign,
      events: [...this.#events],
    };
  }
}
