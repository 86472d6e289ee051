/**
 * The reconciler: a level-triggered loop that makes what runs equal what the contract says, as of a confirmed block.
 *
 * Each pass reads the contract's current release at `latest - confirmations` (never a subscription, never an
 * unconfirmed block) and compares it with state.json:
 *
 * - the running release is no longer allowed (its hash was removed) → `docker compose down`, logged as an error;
 * - the current release is allowed and differs from what runs → fetch its app-compose.json, refuse it unless its
 *   sha256 is the on-chain hash, write it, `docker compose up`, health-check, then record it as running;
 * - the current release's URI cannot be read (its bytes are not UTF-8, or it is longer than the agent reads) → refused
 *   with one line naming it; what runs keeps running;
 * - a reload that fails → roll back to the last good release and retry the new one with capped exponential
 *   backoff; the failed release is never recorded as running;
 * - a view older than a block already acted on (a lagging or reorged endpoint) → logged, not acted on;
 * - no verified view (too few endpoints answer, they disagree, no proof verifies) → nothing is done, what runs keeps
 *   running, one loud line per change of that state names what each endpoint said, and the next pass tries again.
 *
 * Every value a pass decides on is proven (./verifiedChain.ts): the header by a quorum of endpoints, the contract's
 * storage by proofs against that header's state root.
 *
 * What runs is recorded only after it was started and found healthy, and every file is written atomically, so an
 * agent killed at any moment compares state.json with the chain after restart and does whatever is still missing.
 */
import type { Logger } from "pino";

import type { Release } from "../../lib/release.js";
import { describeReports, type EndpointReport } from "../../lib/verified/headers.js";
import { unverifiedStateOf, type Verification } from "../../lib/verified/reader.js";
import {
  dockerComposeOf,
  fetchComposeBytes,
  ReleaseRefusedError,
  verifyComposeBytes,
  type FetchLimits,
} from "./appCompose.js";
import type { Compose } from "./docker.js";
import { waitHealthy, type HealthCheck } from "./health.js";
import { errorMessage, RepeatFilter, StopRequested, type Loop } from "./service.js";
import type { AgentState, ReleaseRecord, Store } from "./store.js";
import type { ChainReader, ChainView } from "./verifiedChain.js";

export interface ReconcilerOptions {
  pollIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
  fetchLimits: FetchLimits;
  health: HealthCheck;
  /** Longest a healthy pass can take, for `/healthz`. */
  maxPassMs: number;
}

interface Retry {
  composeHash: string;
  attempts: number;
  nextAttemptAt: number;
  lastError: string;
}

export class Reconciler implements Loop {
  readonly name = "reconciler";
  readonly intervalMs: number;
  readonly maxPassMs: number;

  private state: AgentState | undefined;
  /** The newest confirmed block seen; a view older than this is not acted on. */
  private cursor = -1;
  private view: ChainView | undefined;
  /** After a start, run `up` once with what state.json says runs, so the containers match it again. */
  private ensurePending = true;
  private retry: Retry | undefined;
  private lastError: { at: string; message: string } | undefined;
  private lastReload: Record<string, unknown> | undefined;
  /** The last idle situation logged ("no release", "release X not allowed"), so it is logged once, not every pass. */
  private idleReported: string | undefined;
  private readonly backwardsRepeats = new RepeatFilter();
  private verification: Verification | undefined;

  constructor(
    private readonly chain: ChainReader,
    private readonly store: Store,
    private readonly compose: Compose,
    private readonly options: ReconcilerOptions,
    private readonly logger: Logger,
  ) {
    this.intervalMs = options.pollIntervalMs;
    this.maxPassMs = options.maxPassMs;
  }

  async init(): Promise<void> {
    const removed = await this.store.init();
    if (removed.length > 0)
      this.logger.warn(
        { event: "cleanup", removed },
        `removed ${removed.length} temporary file(s) left by an interrupted write`,
      );
    const state = await this.store.loadState();
    this.state = state;
    this.cursor = state.lastBlock;
    this.logger.info(
      {
        event: "state",
        running: state.running?.composeHash ?? null,
        lastGood: state.lastGood?.composeHash ?? null,
        lastBlock: state.lastBlock,
      },
      state.running === null
        ? `state: nothing running${state.stopped === null ? "" : ` (stopped: ${state.stopped.reason})`}`
        : `state: running ${state.running.composeHash} since ${state.running.since} (decided at block ${state.running.block})`,
    );
  }

  async pass(stopping: AbortSignal): Promise<void> {
    const checkpoint = () => {
      if (stopping.aborted) throw new StopRequested();
    };
    const state = this.requireState();
    const known = [state.running?.composeHash, state.lastGood?.composeHash].filter((h): h is string => h !== undefined);

    let view: ChainView;
    try {
      view = await this.chain.readView([...new Set(known)]);
    } catch (error) {
      this.noteError(error);
      this.noteUnverified(error, state);
      throw new Error(`${errorMessage(error)}; keeping ${describeRunning(state)}`);
    }
    this.noteVerified(view);

    if (view.block < this.cursor) {
      const message =
        `${view.endpoint} reports confirmed block ${view.block} (head ${view.head}), older than block ${this.cursor} ` +
        `already seen: a lagging or reorged view, not acted on`;
      this.noteError(new Error(message));
      // While an endpoint lags, every pass sees it: a warning once a minute, debug lines in between.
      this.logger[this.backwardsRepeats.isRepeat(view.endpoint) ? "debug" : "warn"](
        { event: "block-backwards", block: view.block, cursor: this.cursor, endpoint: view.endpoint },
        message,
      );
      return;
    }
    if (this.view !== undefined && view.block === this.view.block && view.blockHash !== this.view.blockHash) {
      this.logger.error(
        { event: "deep-reorg", block: view.block, was: this.view.blockHash, now: view.blockHash },
        `confirmed block ${view.block} changed hash from ${this.view.blockHash} to ${view.blockHash}: a reorg deeper than the confirmations`,
      );
    }
    this.view = view;
    this.cursor = view.block;

    // 1. Whatever runs must still be allowed.
    const running = state.running;
    if (running !== null && view.allowed.get(running.composeHash) === false) {
      checkpoint();
      await this.stopApp(running, view);
    }

    // 2. What should run: the current release, if it is allowed.
    const release = view.release;
    if (release === undefined)
      return this.idle("none", "info", `no release set in the contract yet (block ${view.block}); nothing to run`);
    if (!release.allowed) {
      this.retry = undefined;
      return this.idle(
        `not-allowed:${release.composeHash}`,
        "error",
        `refused: the current release ${release.composeHash} is not allowed at block ${view.block} (its hash was removed); ` +
          `nothing runs until a new allowed release is set`,
        { event: "refusal", composeHash: release.composeHash },
      );
    }
    const current = this.requireState().running;
    if (release.uriProblem !== undefined && current?.composeHash !== release.composeHash) {
      // Nothing can be fetched from it: refused once, like a removed hash, until the owner sets another release.
      this.retry = undefined;
      return this.idle(
        `unreadable-uri:${release.composeHash}`,
        "error",
        `refused: ${release.uriProblem} (current release at block ${view.block}); nothing was started, ` +
          `${describeRunning(this.requireState())} keeps running until a release with a readable URI is set`,
        { event: "refusal", composeHash: release.composeHash },
      );
    }
    this.idleReported = undefined;

    if (current?.composeHash === release.composeHash) {
      if (this.ensurePending) await this.ensure(current, view, checkpoint);
      else this.retry = undefined;
      return;
    }

    // 3. A reload is due, unless the release is waiting out its backoff.
    if (this.retry?.composeHash === release.composeHash && Date.now() < this.retry.nextAttemptAt) return;
    checkpoint();
    await this.reload(release, view, checkpoint);
  }

  status(): Record<string, unknown> {
    const state = this.state;
    const view = this.view;
    return {
      release:
        view?.release === undefined
          ? null
          : { ...view.release, setAt: Number(view.release.setAt), readAtBlock: view.block },
      lastBlock:
        view === undefined
          ? null
          : {
              block: view.block,
              hash: view.blockHash,
              head: view.head,
              timestamp: view.timestamp,
              endpoint: view.endpoint,
            },
      running: state?.running ?? null,
      lastGood: state?.lastGood ?? null,
      stopped: state?.stopped ?? null,
      retry:
        this.retry === undefined
          ? null
          : { ...this.retry, nextAttemptAt: new Date(this.retry.nextAttemptAt).toISOString() },
      lastReload: this.lastReload ?? null,
      lastError: this.lastError ?? null,
      verification: this.verification ?? null,
    };
  }

  /** A quorum outvoted some endpoint (or refused its proof): the loop works, and says so on `/healthz`. */
  degraded(): string | undefined {
    return this.verification?.state === "outvoted" ? this.verification.message : undefined;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Verification
  // -------------------------------------------------------------------------------------------------------------

  /** No verified view: one error line when this state (or who caused it) changes; nothing else happens. */
  private noteUnverified(error: unknown, state: AgentState): void {
    const next = unverifiedStateOf(error);
    if (next === undefined) return;
    const key = `${next.state}|${dissentKey(next.reports, undefined, undefined)}|${next.refusedProofs
      .map((p) => `${p.endpoint}:${shape(p.problem)}`)
      .join(",")}`;
    if (this.verification?.key === key) return;
    const message =
      `UNVERIFIED CHAIN STATE: ${errorMessage(error)}. Nothing is reloaded or stopped on it: ` +
      `${describeRunning(state)} keeps running; trying again every pass`;
    this.verification = { ...next, key, since: new Date().toISOString(), message };
    this.logger.error(
      { event: "verification", state: next.state, reports: next.reports, refusedProofs: next.refusedProofs },
      message,
    );
  }

  /** A verified view: a line when it follows an unverified one, or when who is outvoted changes. */
  private noteVerified(view: ChainView): void {
    const dissent = dissentOf(view.reports, view.blockHash, view.block);
    const state = dissent.length === 0 && view.refusedProofs.length === 0 ? "verified" : "outvoted";
    const key = `${state}|${dissentKey(view.reports, view.blockHash, view.block)}|${view.refusedProofs
      .map((p) => `${p.endpoint}:${shape(p.problem)}`)
      .join(",")}`;
    if (this.verification?.key === key) return;
    const before = this.verification?.state;
    const refused = view.refusedProofs.map((p) => `${p.endpoint}: ${p.problem}`).join("; ");
    const message =
      state === "verified"
        ? `chain state verified at block ${view.block} (${view.blockHash}): ${view.endpoint}`
        : `RPC endpoint(s) outvoted or refused at block ${view.block}: ${view.endpoint} (${view.blockHash}); ` +
          `${[describeReports(dissent), refused].filter((part) => part !== "").join("; ")}. ` +
          `Acting on the verified state only`;
    this.verification = {
      state,
      key,
      since: new Date().toISOString(),
      message,
      reports: view.reports,
      refusedProofs: view.refusedProofs,
    };
    const level = state === "outvoted" ? "warn" : "info";
    if (state === "verified" && before === "verified") return;
    this.logger[level](
      { event: "verification", state, block: view.block, reports: view.reports, refusedProofs: view.refusedProofs },
      before !== undefined && before !== "verified" && before !== "outvoted"
        ? `${message} (again, after ${before})`
        : message,
    );
  }

  // -------------------------------------------------------------------------------------------------------------
  // Steps
  // -------------------------------------------------------------------------------------------------------------

  private async reload(release: Release, view: ChainView, checkpoint: () => void): Promise<void> {
    const started = Date.now();
    const previous = this.requireState().running;
    const hash = release.composeHash;
    this.logger.info(
      {
        event: "reload-start",
        composeHash: hash,
        uri: release.uri,
        block: view.block,
        previous: previous?.composeHash ?? null,
      },
      `release ${hash} is current at block ${view.block} (running: ${previous?.composeHash ?? "nothing"}): loading ${release.uri}`,
    );

    let files: { appComposeFile: string; composeFile: string };
    try {
      files = await this.prepare(hash, release.uri);
    } catch (error) {
      if (error instanceof ReleaseRefusedError) return this.refused(release, error);
      throw error;
    }
    // From here on the reload is one step: a stop request waits for up, the health check and the record (or the
    // rollback), so the agent never exits between starting a release and writing down what runs.
    checkpoint();

    try {
      await this.compose.up(files.composeFile);
    } catch (error) {
      return this.failed(release, error, view);
    }
    try {
      await waitHealthy(this.options.health);
    } catch (error) {
      return this.failed(release, error, view);
    }

    const record: ReleaseRecord = {
      composeHash: hash,
      uri: release.uri,
      ...files,
      since: new Date().toISOString(),
      block: view.block,
    };
    await this.save({ running: record, lastGood: record, stopped: null, lastBlock: view.block });
    this.retry = undefined;
    this.ensurePending = false;
    const durationMs = Date.now() - started;
    this.lastReload = {
      composeHash: hash,
      uri: release.uri,
      block: view.block,
      at: record.since,
      durationMs,
      previous: previous?.composeHash ?? null,
    };
    this.logger.info(
      {
        event: "reload",
        composeHash: hash,
        uri: release.uri,
        block: view.block,
        previous: previous?.composeHash ?? null,
        durationMs,
      },
      `reloaded: now running ${hash} (current release at block ${view.block}, from ${release.uri}; was ${previous?.composeHash ?? "nothing"}) in ${durationMs} ms`,
    );
  }

  /** Runs `up` with the release state.json says runs, once after a start. */
  private async ensure(running: ReleaseRecord, view: ChainView, checkpoint: () => void): Promise<void> {
    if (this.retry?.composeHash === running.composeHash && Date.now() < this.retry.nextAttemptAt) return;
    checkpoint();
    let files;
    try {
      files = await this.prepare(running.composeHash, running.uri);
    } catch (error) {
      if (error instanceof ReleaseRefusedError)
        return this.refused({ composeHash: running.composeHash, uri: running.uri }, error);
      throw error;
    }
    try {
      await this.compose.up(files.composeFile);
    } catch (error) {
      this.scheduleRetry(running.composeHash, error);
      this.logger.error(
        { event: "ensure-failed", composeHash: running.composeHash, err: errorMessage(error) },
        `could not bring ${running.composeHash} up again after the start: ${errorMessage(error)}; retrying`,
      );
      return;
    }
    this.ensurePending = false;
    this.retry = undefined;
    if (view.block > this.requireState().lastBlock) await this.save({ lastBlock: view.block });
    this.logger.info(
      { event: "ensure", composeHash: running.composeHash, block: view.block },
      `release ${running.composeHash} is still current at block ${view.block}: ran docker compose up once after the start to make sure it runs`,
    );
  }

  /** The verified files of a release: kept from an earlier fetch when they still hash right, else fetched now. */
  private async prepare(composeHash: string, uri: string): Promise<{ appComposeFile: string; composeFile: string }> {
    let bytes = await this.store.readVerifiedRelease(composeHash);
    if (bytes === undefined) {
      bytes = await fetchComposeBytes(uri, this.options.fetchLimits);
      verifyComposeBytes(bytes, composeHash, uri);
    }
    const yaml = dockerComposeOf(bytes, composeHash);
    // The compose file is written again from the verified bytes every time, so it cannot drift from them.
    return this.store.writeRelease(composeHash, bytes, yaml);
  }

  private refused(release: Pick<Release, "composeHash" | "uri">, error: ReleaseRefusedError): void {
    const delay = this.scheduleRetry(release.composeHash, error);
    this.logger.error(
      { event: "refusal", composeHash: release.composeHash, uri: release.uri, reason: error.message, retryInMs: delay },
      `refused release ${release.composeHash}: ${error.message}; nothing was started, ${describeRunning(this.requireState())} ` +
        `keeps running; retrying in ${delay} ms`,
    );
  }

  private async failed(release: Release, error: unknown, view: ChainView): Promise<void> {
    const delay = this.scheduleRetry(release.composeHash, error);
    this.logger.error(
      { event: "reload-failed", composeHash: release.composeHash, err: errorMessage(error), retryInMs: delay },
      `release ${release.composeHash} failed: ${errorMessage(error)}; it is not recorded as running; retrying in ${delay} ms`,
    );
    await this.rollBack(release, view);
  }

  private async rollBack(failed: Release, view: ChainView): Promise<void> {
    const target = this.requireState().lastGood;
    if (target === null || target.composeHash === failed.composeHash) {
      this.logger.warn(
        { event: "no-rollback", composeHash: failed.composeHash },
        "no earlier good release to roll back to",
      );
      await this.save({ running: null });
      return;
    }
    if (view.allowed.get(target.composeHash) !== true) {
      this.logger.error(
        { event: "no-rollback", target: target.composeHash },
        `cannot roll back to ${target.composeHash}: it is not allowed at block ${view.block}; nothing is recorded as running`,
      );
      await this.save({ running: null });
      return;
    }
    try {
      const files = await this.prepare(target.composeHash, target.uri);
      await this.compose.up(files.composeFile);
    } catch (error) {
      this.logger.fatal(
        { event: "rollback-failed", target: target.composeHash, err: errorMessage(error) },
        `rollback to ${target.composeHash} failed: ${errorMessage(error)}; nothing is recorded as running`,
      );
      await this.save({ running: null });
      return;
    }
    await this.save({ running: target });
    this.ensurePending = false;
    this.logger.warn(
      { event: "rollback", composeHash: target.composeHash, failed: failed.composeHash },
      `rolled back to ${target.composeHash} (the last good release) after ${failed.composeHash} failed`,
    );
  }

  private async stopApp(running: ReleaseRecord, view: ChainView): Promise<void> {
    const reason = `release ${running.composeHash} is no longer allowed at block ${view.block}`;
    this.logger.error(
      { event: "release-revoked", composeHash: running.composeHash, block: view.block },
      `STOPPING THE APP: ${reason} (its hash was removed from the allowed compose hashes); running docker compose down; ` +
        `nothing runs until a new allowed release is set`,
    );
    await this.compose.down();
    await this.save({
      running: null,
      stopped: { composeHash: running.composeHash, block: view.block, at: new Date().toISOString(), reason },
      lastBlock: view.block,
    });
    if (this.retry?.composeHash === running.composeHash) this.retry = undefined;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Bookkeeping
  // -------------------------------------------------------------------------------------------------------------

  private scheduleRetry(composeHash: string, error: unknown): number {
    const attempts = (this.retry?.composeHash === composeHash ? this.retry.attempts : 0) + 1;
    const delay = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** Math.min(attempts - 1, 30));
    this.retry = { composeHash, attempts, nextAttemptAt: Date.now() + delay, lastError: errorMessage(error) };
    this.noteError(error);
    return delay;
  }

  private noteError(error: unknown): void {
    this.lastError = { at: new Date().toISOString(), message: errorMessage(error) };
  }

  private idle(key: string, level: "info" | "error", message: string, fields: Record<string, unknown> = {}): void {
    if (this.idleReported === key) return;
    this.idleReported = key;
    if (level === "error") this.noteError(new Error(message));
    this.logger[level]({ event: "idle", ...fields }, message);
  }

  private async save(change: Partial<AgentState>): Promise<void> {
    const next: AgentState = { ...this.requireState(), ...change };
    next.lastBlock = Math.max(next.lastBlock, this.cursor);
    await this.store.saveState(next);
    this.state = next;
  }

  private requireState(): AgentState {
    if (this.state === undefined) throw new Error("the reconciler was not initialized");
    return this.state;
  }
}

/** The endpoints that did not vouch for the verified header: another hash, a problem, or a head below it. */
function dissentOf(reports: readonly EndpointReport[], hash: string, block: number): EndpointReport[] {
  return reports.filter(
    (report) =>
      report.problem !== undefined || report.hash !== hash || (report.head !== undefined && report.head < block),
  );
}

function dissentKey(reports: readonly EndpointReport[], hash: string | undefined, block: number | undefined): string {
  const dissent = hash === undefined || block === undefined ? reports : dissentOf(reports, hash, block);
  return dissent
    .map((report) => {
      const how =
        report.problem !== undefined
          ? shape(report.problem)
          : hash !== undefined && report.hash !== undefined && report.hash !== hash
            ? "other-hash"
            : report.head !== undefined && block !== undefined && report.head < block
              ? "lagging"
              : "answered";
      return `${report.endpoint}:${how}`;
    })
    .join(",");
}

/** A message without its numbers and hashes, so the same kind of failure is the same key from block to block. */
function shape(message: string): string {
  return message.replace(/0x[0-9a-fA-F]+/g, "0x…").replace(/\d+/g, "N");
}

function describeRunning(state: AgentState): string {
  return state.running === null ? "nothing running" : `running ${state.running.composeHash}`;
}
