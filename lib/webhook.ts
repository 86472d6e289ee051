/**
 * Delivers JSON payloads to a webhook in order, in the background: `push` does not wait for the network, so a slow or
 * failing endpoint does not hold up the watcher's output. Delivery is at least once and in order: the oldest payload
 * is retried with exponential backoff (non-2xx answers, timeouts and connection errors alike) until the endpoint
 * takes it, and the ones behind it wait. Nothing is ever dropped: a payload leaves the queue only once delivered, so
 * a caller can keep its cursor before the oldest undelivered one ({@link WebhookQueue.oldest}). With `maxAttempts`,
 * the queue gives up after that many tries of one payload and delivers nothing more (a one-shot run reports what
 * is left and exits non-zero; the next run retries it). Only `fetch` and timers: usable in Node and in a browser.
 */

export interface WebhookOptions<T> {
  /**
   * Tries per payload, the first included; after that the queue gives up and delivers nothing more, so that no later
   * payload overtakes it. Default: no limit (retry until delivered or closed).
   */
  maxAttempts?: number | undefined;
  /** Pause before the first retry, doubled each time (default 500 ms), at most `maxDelayMs` (default 60 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Time allowed for one request (default 10 s). */
  timeoutMs?: number;
  /**
   * Payloads kept waiting before `push` waits for room (default 10 000): a dead endpoint then holds the caller up
   * rather than grow the queue without bound (nothing is dropped).
   */
  maxQueue?: number;
  /** Where delivery problems are reported (one line each). */
  log?: (line: string) => void;
  /** Called after each payload the endpoint took, in order. */
  onDelivered?: (payload: T) => void;
}

export interface WebhookStats {
  /** Payloads the endpoint took (answered 2xx). */
  delivered: number;
  /** Payloads not delivered (yet): the queue's length. */
  queued: number;
  /** The last failed attempt's problem ("HTTP 503", "TimeoutError: …"), while the oldest payload is undelivered. */
  lastProblem: string | undefined;
  /** Whether the queue gave up (after `maxAttempts` tries of its oldest payload): it delivers nothing more. */
  gaveUp: boolean;
}

export class WebhookQueue<T = unknown> {
  readonly #url: string;
  readonly #options: Required<Omit<WebhookOptions<T>, "log" | "onDelivered" | "maxAttempts">> & {
    maxAttempts: number;
    log: (line: string) => void;
    onDelivered: (payload: T) => void;
  };
  readonly #queue: T[] = [];
  #delivered = 0;
  #lastProblem: string | undefined;
  #gaveUp = false;
  readonly #stop = new AbortController();
  #worker: Promise<void> | undefined;
  #idle: Array<() => void> = [];
  #waitingForRoom: Array<() => void> = [];

  constructor(url: string, options: WebhookOptions<T> = {}) {
    this.#url = url;
    this.#options = {
      maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 60_000,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxQueue: options.maxQueue ?? 10_000,
      log: options.log ?? (() => {}),
      onDelivered: options.onDelivered ?? (() => {}),
    };
  }

  get stats(): WebhookStats {
    return {
      delivered: this.#delivered,
      queued: this.#queue.length,
      lastProblem: this.#lastProblem,
      gaveUp: this.#gaveUp,
    };
  }

  /** The oldest payload not delivered yet (it is being tried, or waits), if any. */
  get oldest(): T | undefined {
    return this.#queue[0];
  }

  /**
   * Queues a payload. Resolves at once while the queue has room; when it is full, once the endpoint has taken enough
   * to make room (or the queue is closed or has given up, when nothing would make room).
   */
  async push(payload: T): Promise<void> {
    while (this.#queue.length >= this.#options.maxQueue && this.#delivering) {
      await new Promise<void>((resolve) => this.#waitingForRoom.push(resolve));
    }
    this.#queue.push(payload);
    this.#startWorker();
  }

  /**
   * Waits until everything queued is delivered, the queue gives up or is closed, or `timeoutMs` passes (default: no
   * limit); true when the queue is empty.
   */
  async drain(timeoutMs?: number): Promise<boolean> {
    if (this.#worker !== undefined) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#idle.push(resolve)),
        ...(timeoutMs === undefined ? [] : [new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]),
      ]);
      clearTimeout(timer);
    }
    return this.#queue.length === 0;
  }

  /** Stops delivering (an attempt under way is aborted); what is still queued stays queued, undelivered. */
  close(): void {
    this.#stop.abort();
    this.#wakeWriters();
  }

  get #delivering(): boolean {
    return !this.#stop.signal.aborted && !this.#gaveUp;
  }

  #startWorker(): void {
    if (this.#worker !== undefined || this.#queue.length === 0 || !this.#delivering) return;
    this.#worker = this.#work().finally(() => {
      this.#worker = undefined;
      // A payload pushed while the worker was finishing would otherwise wait for the next push.
      if (this.#queue.length > 0 && this.#delivering) this.#startWorker();
      else for (const resolve of this.#idle.splice(0)) resolve();
    });
  }

  #wakeWriters(): void {
    for (const resolve of this.#waitingForRoom.splice(0)) resolve();
  }

  async #work(): Promise<void> {
    while (this.#queue.length > 0 && this.#delivering) {
      const payload = this.#queue[0] as T;
      if (await this.#deliver(payload)) {
        this.#queue.shift();
        this.#delivered += 1;
        this.#lastProblem = undefined;
        this.#wakeWriters();
        this.#options.onDelivered(payload);
      }
    }
  }

  /** Tries one payload until it is delivered (true), the queue gives up, or it is closed (false). */
  async #deliver(payload: T): Promise<boolean> {
    const body = JSON.stringify(payload);
    const { maxAttempts, baseDelayMs, maxDelayMs, timeoutMs, log } = this.#options;
    for (let attempt = 1; !this.#stop.signal.aborted; attempt += 1) {
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
      this.#lastProblem = problem;
      if (attempt >= maxAttempts) {
        this.#gaveUp = true;
        this.#wakeWriters();
        log(
          `webhook: gave up after ${attempt} attempts (last: ${problem}); ${this.#queue.length} event(s) ` +
            "left undelivered, in order",
        );
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
