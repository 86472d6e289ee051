/**
 * Delivers JSON payloads to a webhook in order, in the background: `push` never waits for the network, so a slow or
 * failing endpoint never holds up the watcher. Each payload is retried with exponential backoff (non-2xx answers,
 * timeouts and connection errors alike) and given up after `maxAttempts`, with a log line; a bounded queue drops its
 * oldest payload when full, with a log line. Only `fetch` and timers: usable in Node and in a browser.
 */

export interface WebhookOptions {
  /** Tries per payload, the first included (default 6). */
  maxAttempts?: number;
  /** Pause before the first retry, doubled each time (default 500 ms), at most `maxDelayMs` (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Time allowed for one request (default 10 s). */
  timeoutMs?: number;
  /** Payloads kept waiting at most (default 10 000). */
  maxQueue?: number;
  /** Where delivery problems are reported (one line each). */
  log?: (line: string) => void;
}

export interface WebhookStats {
  delivered: number;
  failed: number;
  dropped: number;
  queued: number;
}

export class WebhookQueue {
  readonly #url: string;
  readonly #options: Required<Omit<WebhookOptions, "log">> & { log: (line: string) => void };
  readonly #queue: unknown[] = [];
  readonly #stats = { delivered: 0, failed: 0, dropped: 0 };
  readonly #stop = new AbortController();
  #worker: Promise<void> | undefined;
  #idle: Array<() => void> = [];

  constructor(url: string, options: WebhookOptions = {}) {
    this.#url = url;
    this.#options = {
      maxAttempts: options.maxAttempts ?? 6,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 30_000,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxQueue: options.maxQueue ?? 10_000,
      log: options.log ?? (() => {}),
    };
  }

  get stats(): WebhookStats {
    return { ...this.#stats, queued: this.#queue.length };
  }

  /** Queues a payload and returns at once. */
  push(payload: unknown): void {
    if (this.#stop.signal.aborted) return;
    if (this.#queue.length >= this.#options.maxQueue) {
      this.#queue.shift();
      this.#stats.dropped += 1;
      this.#options.log(`webhook: queue full (${this.#options.maxQueue}): dropped the oldest event`);
    }
    this.#queue.push(payload);
    this.#worker ??= this.#work().finally(() => {
      this.#worker = undefined;
      for (const resolve of this.#idle.splice(0)) resolve();
    });
  }

  /** Waits until everything queued is delivered or given up, or `timeoutMs` passes; true when the queue is empty. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.#worker === undefined) return this.#queue.length === 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#idle.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
    return this.#queue.length === 0 && this.#worker === undefined;
  }

  /** Stops delivering (an attempt under way is aborted); what is still queued is not sent. */
  close(): void {
    this.#stop.abort();
  }

  async #work(): Promise<void> {
    while (this.#queue.length > 0 && !this.#stop.signal.aborted) {
      const payload = this.#queue[0];
      const delivered = await this.#deliver(payload);
      // The payload may have been dropped from a full queue meanwhile; only remove it if it is still first.
      if (this.#queue[0] === payload) this.#queue.shift();
      if (delivered) this.#stats.delivered += 1;
      else if (!this.#stop.signal.aborted) this.#stats.failed += 1;
    }
  }

  async #deliver(payload: unknown): Promise<boolean> {
    const body = JSON.stringify(payload);
    const { maxAttempts, baseDelayMs, maxDelayMs, timeoutMs, log } = this.#options;
    for (let attempt = 1; attempt <= maxAttempts && !this.#stop.signal.aborted; attempt += 1) {
      let problem: string;
      try {
        const response = await fetch(this.#url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.any([this.#stop.signal, AbortSignal.timeout(timeoutMs)]),
        });
        await response.body?.cancel();
        if (response.ok) return true;
        problem = `HTTP ${response.status}`;
      } catch (error) {
        problem = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
      if (this.#stop.signal.aborted) return false;
      if (attempt === maxAttempts) {
        log(`webhook: gave up on an event after ${maxAttempts} attempts (last: ${problem})`);
        return false;
      }
      const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
      log(`webhook: attempt ${attempt} failed (${problem}); retrying in ${delay} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#stop.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
    }
    return false;
  }
}
