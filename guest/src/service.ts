/**
 * The service frame: loops that each run a pass, sleep, and run again; a status server; a graceful stop.
 *
 * A {@link Loop} is one job of the agent. The reconciler is one; the replicator (node onboarding) will be another,
 * added beside it in `main.ts` without touching this file. Every pass catches and logs its own errors, so one
 * failing pass never stops the loop. On SIGTERM or SIGINT the service lets every loop finish the step it is in (a
 * loop checks {@link Loop.pass}'s signal between steps), closes the status server and resolves with exit code 0.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import type { Logger } from "pino";

export interface Loop {
  readonly name: string;
  /** Time between the end of one pass and the start of the next. */
  readonly intervalMs: number;
  /** Longest a healthy pass can take (its timeouts added up); `/healthz` fails when a pass runs longer. */
  readonly maxPassMs: number;
  /** Runs once before the first pass (load state, check configuration). Errors are logged and init is retried. */
  init(): Promise<void>;
  /**
   * One pass. `stopping` is aborted when the service is asked to stop: the loop finishes its current step, then
   * returns (or throws {@link StopRequested}) instead of starting the next one.
   */
  pass(stopping: AbortSignal): Promise<void>;
  /**
   * Why the loop works but not as it should (e.g. an RPC endpoint was outvoted); undefined when all is well. Shown as
   * `degraded` on `/healthz`, like a failed pass.
   */
  degraded?(): string | undefined;
  /** What `/status` shows about this loop (JSON-serializable; bigint is written as a string). */
  status(): Record<string, unknown>;
  /**
   * Documents this loop publishes on the status server besides `/status` (e.g. the replicator's signed files for the
   * host), by path; undefined when the path is not this loop's. Never anything secret: the server is unauthenticated.
   */
  serve?(path: string): Promise<{ contentType: string; body: string } | undefined>;
}

/** Thrown by a loop between two steps when the service is stopping: not an error. */
export class StopRequested extends Error {
  override name = "StopRequested";
}

interface LoopRun {
  loop: Loop;
  initialized: boolean;
  passes: number;
  failedPasses: number;
  passStartedAt: number | undefined;
  lastPassEndedAt: number | undefined;
  lastPassError: string | undefined;
}

export interface ServiceOptions {
  httpHost: string;
  httpPort: number;
  /** Static facts for `/status`: version, options (redacted), dstack identity. */
  describe: () => Record<string, unknown>;
}

export class Service {
  private readonly runs: LoopRun[];
  private readonly stopController = new AbortController();
  private server: Server | undefined;
  private readonly startedAt = new Date();

  constructor(
    loops: Loop[],
    private readonly options: ServiceOptions,
    private readonly logger: Logger,
  ) {
    this.runs = loops.map((loop) => ({
      loop,
      initialized: false,
      passes: 0,
      failedPasses: 0,
      passStartedAt: undefined,
      lastPassEndedAt: undefined,
      lastPassError: undefined,
    }));
  }

  get stopping(): AbortSignal {
    return this.stopController.signal;
  }

  /** Asks every loop to stop after its current step. */
  stop(reason: string): void {
    if (this.stopController.signal.aborted) return;
    this.logger.info({ event: "stopping", reason }, `stopping (${reason}): finishing the current step`);
    this.stopController.abort(reason);
  }

  /** Starts the status server and the loops; resolves with the exit code once stopped. */
  async run(): Promise<number> {
    const onSignal = (signal: NodeJS.Signals) => this.stop(signal);
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    try {
      await this.listen();
      await Promise.all(this.runs.map((run) => this.runLoop(run)));
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      await this.close();
    }
    this.logger.info({ event: "stopped" }, "stopped");
    return 0;
  }

  private async runLoop(run: LoopRun): Promise<void> {
    const { loop } = run;
    const log = this.logger.child({ loop: loop.name });
    const repeats = new RepeatFilter();
    let initDelay = loop.intervalMs;
    while (!run.initialized && !this.stopping.aborted) {
      try {
        await loop.init();
        run.initialized = true;
      } catch (error) {
        log.error(
          { event: "init-failed", err: errorMessage(error) },
          `${loop.name}: init failed, retrying: ${errorMessage(error)}`,
        );
        await this.sleep(initDelay);
        initDelay = Math.min(initDelay * 2, 60_000);
      }
    }
    while (!this.stopping.aborted) {
      run.passStartedAt = Date.now();
      try {
        await loop.pass(this.stopping);
        run.lastPassError = undefined;
      } catch (error) {
        if (!(error instanceof StopRequested)) {
          run.failedPasses += 1;
          const message = errorMessage(error);
          // The same failure pass after pass (an RPC that is down) is logged as an error once a minute, not every pass.
          const level = repeats.isRepeat(message) ? "debug" : "error";
          run.lastPassError = message;
          log[level](
            { event: "pass-failed", err: message, failedPasses: run.failedPasses },
            `${loop.name}: pass failed: ${message}`,
          );
        }
      }
      run.passes += 1;
      run.lastPassEndedAt = Date.now();
      run.passStartedAt = undefined;
      await this.sleep(loop.intervalMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.stopping.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopping.addEventListener("abort", done, { once: true });
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // Status server
  // -------------------------------------------------------------------------------------------------------------

  /** Whether every loop is initialized and none is stuck in a pass longer than it can take. */
  health(now = Date.now()): { ok: boolean; loops: Record<string, string> } {
    const loops: Record<string, string> = {};
    let ok = !this.stopping.aborted;
    for (const run of this.runs) {
      let state = "ok";
      if (!run.initialized) state = "initializing";
      else if (run.passStartedAt !== undefined && now - run.passStartedAt > run.loop.maxPassMs) state = "stuck";
      else if (run.lastPassError !== undefined || run.loop.degraded?.() !== undefined) state = "degraded";
      if (state === "initializing" || state === "stuck") ok = false;
      loops[run.loop.name] = state;
    }
    return { ok, loops };
  }

  status(): Record<string, unknown> {
    return {
      ...this.options.describe(),
      startedAt: this.startedAt.toISOString(),
      stopping: this.stopping.aborted,
      health: this.health(),
      loops: Object.fromEntries(
        this.runs.map((run) => [
          run.loop.name,
          {
            passes: run.passes,
            failedPasses: run.failedPasses,
            lastPassEndedAt: run.lastPassEndedAt === undefined ? null : new Date(run.lastPassEndedAt).toISOString(),
            lastPassError: run.lastPassError ?? null,
            ...run.loop.status(),
          },
        ]),
      ),
    };
  }

  private async listen(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.options.httpPort, this.options.httpHost, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const { address, port } = server.address() as AddressInfo;
    this.logger.info(
      { event: "listening", address, port },
      `status server on http://${address}:${port} (/healthz, /status)`,
    );
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, { error: "only GET" });
    if (path === "/healthz") {
      const health = this.health();
      return send(res, health.ok ? 200 : 503, health);
    }
    if (path === "/status") return send(res, 200, this.status());
    void this.serveFromLoops(path).then(
      (document) => {
        if (document === undefined) return send(res, 404, { error: "not found; try /healthz or /status" });
        res.writeHead(200, {
          "content-type": document.contentType,
          "content-length": Buffer.byteLength(document.body),
        });
        res.end(document.body);
      },
      (error: unknown) => send(res, 500, { error: errorMessage(error) }),
    );
  }

  private async serveFromLoops(path: string): Promise<{ contentType: string; body: string } | undefined> {
    for (const run of this.runs) {
      const document = await run.loop.serve?.(path);
      if (document !== undefined) return document;
    }
    return undefined;
  }

  private async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value), 2)}\n`;
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** Tells a message seen just before (within `windowMs`) from a new one, so repeated failures do not flood the log. */
export class RepeatFilter {
  private last: { message: string; at: number } | undefined;

  constructor(private readonly windowMs = 60_000) {}

  isRepeat(message: string, now = Date.now()): boolean {
    if (this.last !== undefined && this.last.message === message && now - this.last.at < this.windowMs) return true;
    this.last = { message, at: now };
    return false;
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
