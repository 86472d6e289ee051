/**
 * Following an AppAuth (and optionally its ReplicationRegistry) event by event, after N confirmations, with a cursor
 * that says exactly what has been handled: the `watch` task, the status page (in a browser) and the guest agent share
 * it. Only ethers and the generated ABIs: nothing here imports node:.
 *
 * How it stays correct (Optimism's chain-mon services are the model): each pass re-reads the head, scans
 * `eth_getLogs` in bounded windows up to `head - confirmations + 1`, hands over each event in (block, log index)
 * order, and advances the cursor only after an event is handled; a failed pass changes nothing, so the next one
 * resumes where it stopped. No `contract.on(...)` subscription (filters expire silently).
 */
import type { Log, Provider } from "ethers";

import {
  AUDIT_EVENT,
  announcesGenesisRelease,
  appAuthInterface,
  changeKindOf,
  describeChange,
  describeEvent,
} from "./appAuth.js";
import { formatCountdown, formatDate, formatDuration } from "./format.js";
import { ReplicationRegistry__factory } from "../types/ethers-contracts/index.js";
import { evictionCauseOf } from "./replication/enums.js";
import { decodeEventLog, describeRefusedLog, eventFragmentOf, refusalReason } from "./untrusted/decode.js";
import { capped, shown } from "./untrusted/text.js";

const registryInterface = ReplicationRegistry__factory.createInterface();

// ---------------------------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------------------------

/**
 * What has been handled: every log up to and including (`blockNumber`, `logIndex`); with `logIndex` null, every log
 * of `blockNumber` and before.
 */
export interface WatchPosition {
  blockNumber: number;
  logIndex: number | null;
}

/** The position just before an event: everything before it handled, it not (resuming there reports it again). */
export function positionBefore(event: { blockNumber: number; logIndex: number }): WatchPosition {
  return event.logIndex > 0
    ? { blockNumber: event.blockNumber, logIndex: event.logIndex - 1 }
    : { blockNumber: event.blockNumber - 1, logIndex: null };
}

/** Whether a log comes after a position, i.e. has not been handled yet. */
export function isAfter(log: { blockNumber: number; index: number }, position: WatchPosition): boolean {
  if (log.blockNumber !== position.blockNumber) return log.blockNumber > position.blockNumber;
  return position.logIndex !== null && log.index > position.logIndex;
}

// ---------------------------------------------------------------------------------------------------------------
// Events as the watcher reports them
// ---------------------------------------------------------------------------------------------------------------

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** `urgent`: a widening change was proposed (or took effect without notice); `notice`: something changed. */
export type Severity = "urgent" | "notice" | "info";

export interface WatchedEvent {
  source: "app" | "registry";
  /** The emitting contract. */
  contract: string;
  event: string;
  /**
   * The event's fields, JSON-safe (integers as decimal strings; the registry's quote and ciphertext left out). Chain
   * strings longer than 2048 characters and arrays longer than 64 items are cut, with a note.
   */
  args: Record<string, JsonValue>;
  blockNumber: number;
  blockHash: string;
  /** The block's time, unix seconds. */
  blockTimestamp: number;
  transactionHash: string;
  logIndex: number;
  /** The event in words. */
  description: string;
  severity: Severity;
  /** Whether it widens (or would widen) what may run. */
  widening: boolean;
  /** When it takes (took) effect, unix seconds: `readyAt` for a proposal, the block's time otherwise. */
  effectiveAt: number | null;
  /** For a proposal: the first second at which it can no longer be activated. */
  expiresAt: number | null;
  /** Seconds from the chain's clock at the head to `effectiveAt`; 0 when already in effect, null when never. */
  secondsLeft: number | null;
  /** The time left in words: "ready in 6d 23h 59m (at …)", "in effect", "will not take effect". */
  timing: string;
  /** How many blocks confirm it (head - block + 1) when it was reported. */
  confirmations: number;
  /**
   * Set when the log was refused: why (`bootInfo.advisoryIds[0] is not UTF-8`). Its description then starts with
   * "refused event <name> in block <n>, log <i>:", and `args` hold what could be read (strings in lossy form).
   */
  refused?: string;
}

export interface DecodeContext {
  app: string;
  registry: string | undefined;
  /** Whether the app is a TimelockedAppAuth; for any other AppAuth, an allowed hash or device is an instant change. */
  timelocked: boolean;
  blockTimestamp: number;
  headNumber: number;
  headTimestamp: number;
}

function jsonSafe(value: unknown): JsonValue {
  if (typeof value === "bigint") return value.toString();
  if (value === null || value === undefined) return null;
  if (typeof value === "boolean" || typeof value === "number" || typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (typeof value === "object") {
    const out: { [key: string]: JsonValue } = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) out[key] = jsonSafe(item);
    return out;
  }
  return String(value);
}

/**
 * Decodes one log of the app or the registry into what the watcher reports; undefined for a log of an event neither
 * declares. Never throws: anyone can register with the registry, and the app's owner writes the compose URIs, so a
 * log that does not decode, or whose strings are not UTF-8, comes back as a refused item (`refused` says why, its
 * description starts "refused event …") with whatever could be read of it, and the logs after it are read as usual.
 */
export function decodeWatchedLog(log: Log, context: DecodeContext): WatchedEvent | undefined {
  const fromApp = log.address.toLowerCase() === context.app.toLowerCase();
  const fragment = eventFragmentOf(fromApp ? appAuthInterface : registryInterface, log.topics[0]);
  // dstack's audit event repeats the dstack event of the same change, which is reported already.
  if (fragment === null || (fromApp && fragment.name === AUDIT_EVENT)) return undefined;
  const decoded = decodeEventLog(fragment, log);
  const base = {
    source: fromApp ? ("app" as const) : ("registry" as const),
    contract: log.address,
    event: fragment.name,
    blockNumber: log.blockNumber,
    blockHash: log.blockHash,
    blockTimestamp: context.blockTimestamp,
    transactionHash: log.transactionHash,
    logIndex: log.index,
    confirmations: context.headNumber - log.blockNumber + 1,
  };
  const args = decoded.values as Record<string, unknown>;
  let meaning: Meaning | undefined;
  let problem: string | undefined;
  if (decoded.complete) {
    try {
      meaning = fromApp ? appMeaning(fragment.name, args, context) : registryMeaning(fragment.name, args);
    } catch (error) {
      problem = `it cannot be described (${shown(String((error as Error)?.message ?? error), 120)})`;
    }
  }
  if (decoded.problems.length === 0 && meaning !== undefined) {
    return { ...base, ...meaning, args: cappedArgs(meaning.args) };
  }

  const reason = decoded.problems.length > 0 ? refusalReason(decoded) : (problem ?? "it does not decode");
  const line = describeRefusedLog(fragment.name, log, reason);
  return {
    ...base,
    args: cappedArgs(meaning?.args ?? (jsonSafe(args) as Record<string, JsonValue>)),
    // What could be read of it still counts: a proposal with a hostile URI is a proposal, urgent as any other.
    description: meaning === undefined ? line : `${line}; as far as it decodes: ${meaning.description}`,
    severity: meaning?.severity === "urgent" ? "urgent" : "notice",
    widening: meaning?.widening ?? false,
    effectiveAt: meaning?.effectiveAt ?? null,
    expiresAt: meaning?.expiresAt ?? null,
    secondsLeft: meaning?.secondsLeft ?? null,
    timing: meaning?.timing ?? "not taken in",
    refused: reason,
  };
}

function cappedArgs(args: Record<string, JsonValue>): Record<string, JsonValue> {
  return capped(args) as Record<string, JsonValue>;
}

type Meaning = Pick<
  WatchedEvent,
  "args" | "description" | "severity" | "widening" | "effectiveAt" | "expiresAt" | "secondsLeft" | "timing"
>;

function inEffect(
  context: DecodeContext,
  args: Record<string, unknown>,
  description: string,
  severity: Severity,
  widening: boolean,
  timing = "in effect",
): Meaning {
  return {
    args: jsonSafe(args) as Record<string, JsonValue>,
    description,
    severity,
    widening,
    effectiveAt: context.blockTimestamp,
    expiresAt: null,
    secondsLeft: 0,
    timing,
  };
}

function appMeaning(event: string, args: Record<string, unknown>, context: DecodeContext): Meaning {
  const description = describeEvent(event, args);
  const instant = "in effect NOW, without any notice: this AppAuth has no timelock";
  switch (event) {
    case "ChangeProposed": {
      const readyAt = Number(args["readyAt"] as bigint);
      const expiresAt = Number(args["expiresAt"] as bigint);
      const change = { kind: changeKindOf(args["kind"] as bigint), value: String(args["value"]) };
      const composeFile = args["uri"] === "" ? "" : ` (compose file: ${shown(String(args["uri"]))})`;
      if (context.timelocked && announcesGenesisRelease(args["readyAt"], context.blockTimestamp)) {
        // The deployment's announcement of its genesis release, allowed from the start: nothing is pending.
        return inEffect(
          context,
          args,
          `genesis release announced: ${describeChange(change)}${composeFile}`,
          "info",
          false,
        );
      }
      return {
        args: jsonSafe(args) as Record<string, JsonValue>,
        description: `widening change proposed: ${describeChange(change)}${composeFile}`,
        severity: "urgent",
        widening: true,
        effectiveAt: readyAt,
        expiresAt,
        secondsLeft: Math.max(0, readyAt - context.headTimestamp),
        timing:
          `${formatCountdown(readyAt, expiresAt, context.headTimestamp)}; can take effect at ${formatDate(readyAt)}` +
          (context.headTimestamp < readyAt ? ": audit it, or leave before then" : ""),
      };
    }
    case "ChangeCancelled":
      return {
        ...inEffect(context, args, description, "info", false),
        secondsLeft: null,
        effectiveAt: null,
        timing: "will not take effect",
      };
    case "ChangeActivated":
      return inEffect(context, args, description, "notice", true, "in effect (it waited its notice)");
    case "ComposeHashAdded":
    case "DeviceAdded":
      return context.timelocked
        ? inEffect(context, args, description, "info", true, "in effect (announced by its proposal)")
        : inEffect(context, args, description, "urgent", true, instant);
    case "AllowAnyDeviceSet":
    case "RequireTcbUpToDateSet": {
      const widening = event === "AllowAnyDeviceSet" ? args["allowAny"] === true : args["requireUpToDate"] === false;
      if (!widening) return inEffect(context, args, description, "notice", false);
      return context.timelocked
        ? inEffect(context, args, description, "info", true, "in effect (announced by its proposal)")
        : inEffect(context, args, description, "urgent", true, instant);
    }
    case "ComposeHashRemoved":
    case "DeviceRemoved":
    case "MrSystemRemoved":
    case "OsImageHashRemoved":
      return inEffect(context, args, description, "notice", false);
    // The OS pin: a value joins by an activation (announced by its proposal) or as the first value of a pin, which
    // narrows; unpinning widens and was announced by its proposal.
    case "MrSystemAdded":
    case "OsImageHashAdded":
      return inEffect(context, args, description, "info", false, "in effect (announced by its proposal, or a new pin)");
    case "MrSystemPinnedSet":
    case "OsImageHashPinnedSet":
      return args["pinned"] === true
        ? inEffect(context, args, description, "notice", false, "in effect: any other OS is refused from now on")
        : inEffect(context, args, description, "info", true, "in effect (announced by its proposal)");
    case "NoticePeriodChanged": {
      const shorter = (args["newNotice"] as bigint) < (args["oldNotice"] as bigint);
      return inEffect(
        context,
        args,
        description,
        args["oldNotice"] === 0n ? "info" : "notice",
        shorter,
        `in effect for proposals made from now on (notice ${formatDuration(args["newNotice"] as bigint)})`,
      );
    }
    case "CurrentReleaseSet":
      return inEffect(context, args, description, "info", false, "in effect: guest agents switch to it");
    case "OwnershipTransferStarted":
      return {
        ...inEffect(context, args, description, "notice", false),
        effectiveAt: null,
        secondsLeft: null,
        timing: `takes effect when ${String(args["newOwner"])} accepts`,
      };
    case "OwnershipTransferred":
      return inEffect(context, args, description, "notice", false);
    case "UpgradesDisabled":
      return inEffect(
        context,
        args,
        description,
        "notice",
        false,
        "in effect for good: nothing can be proposed or activated again",
      );
    default:
      return inEffect(context, args, `${event}: ${description}`, "info", false);
  }
}

function registryMeaning(event: string, args: Record<string, unknown>): Meaning {
  const immediately = (description: string, severity: Severity, shown: Record<string, unknown>): Meaning => ({
    args: jsonSafe(shown) as Record<string, JsonValue>,
    description,
    severity,
    widening: false,
    effectiveAt: null,
    expiresAt: null,
    secondsLeft: 0,
    timing: "in effect",
  });
  switch (event) {
    case "NodeRegistered": {
      const bootInfo = args["bootInfo"] as { deviceId: string; instanceId: string; tcbStatus: string };
      return {
        ...immediately(
          `node registered: ${String(args["node"])} (compose hash ${String(args["composeHash"])}, device ${bootInfo.deviceId}, TCB ${shown(bootInfo.tcbStatus, 64)})`,
          "info",
          {
            node: args["node"],
            composeHash: args["composeHash"],
            quoteHash: args["quoteHash"],
            deviceId: bootInfo.deviceId,
            instanceId: bootInfo.instanceId,
            tcbStatus: bootInfo.tcbStatus,
          },
        ),
        timing: "waits for a member to verify and onboard it",
      };
    }
    case "GenesisSet":
      return immediately(
        `genesis member set: ${String(args["node"])} (by the owner ${String(args["setBy"])})`,
        "notice",
        args,
      );
    case "NodeOnboarded":
      return immediately(
        `node onboarded: ${String(args["node"])} now holds the shared secret (sponsor ${String(args["sponsor"])})`,
        "notice",
        { node: args["node"], sponsor: args["sponsor"], quoteHash: args["quoteHash"] },
      );
    case "KmsRootBound":
      return immediately(
        `registry bound to dstack's KMS ${String(args["kms"])}: every node's key must chain to its root ${String(args["kmsRoot"])}`,
        "info",
        { kms: args["kms"], kmsRoot: args["kmsRoot"] },
      );
    case "AttestationRefreshed": {
      const allowed = args["allowed"] === true;
      const reason = String(args["reason"]);
      return immediately(
        `attestation refreshed: ${String(args["node"])} (TCB ${shown(String(args["tcbStatus"]), 64)}` +
          (allowed ? ")" : `; the policy no longer allows it: ${shown(reason)}, so anyone may evict it)`),
        allowed ? "info" : "notice",
        {
          node: args["node"],
          quoteHash: args["quoteHash"],
          tcbStatus: args["tcbStatus"],
          advisoryIds: args["advisoryIds"],
          allowed,
          reason,
        },
      );
    }
    case "TlsKeySet": {
      const previous = String(args["previous"]);
      const first = /^0x0{64}$/.test(previous);
      return immediately(
        first
          ? `app's TLS key published: ${String(args["spkiSha256"])} (by the genesis member ${String(args["node"])})`
          : `app's TLS key CHANGED: ${String(args["spkiSha256"])} replaces ${previous} (by the genesis member ` +
              `${String(args["node"])}): every member derives one key from the shared secret, so a new key means a new ` +
              "secret; check it with verify-app before trusting the app's certificate",
        first ? "notice" : "urgent",
        { spkiSha256: args["spkiSha256"], node: args["node"], quoteHash: args["quoteHash"], previous },
      );
    }
    case "MemberEvicted": {
      const cause = evictionCauseOf(args["cause"] as bigint);
      const reason = String(args["reason"]);
      return immediately(
        `member evicted: ${String(args["node"])} (${cause}${reason === "" ? "" : `: ${shown(reason)}`}, by ${String(args["by"])})`,
        "notice",
        { node: args["node"], by: args["by"], cause, reason },
      );
    }
    default:
      return immediately(`${event}`, "info", {});
  }
}

/** One event as a line of text: time, block, severity, what happened and the time left. */
export function formatWatchedEvent(event: WatchedEvent): string {
  const mark = event.severity === "urgent" ? "URGENT" : event.severity === "notice" ? "NOTICE" : "info";
  const where = event.source === "registry" ? "registry " : "";
  return (
    `${formatDate(event.blockTimestamp)}  block ${event.blockNumber}  ${mark.padEnd(6)}  ${where}${event.description}` +
    ` — ${event.timing}`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The watcher
// ---------------------------------------------------------------------------------------------------------------

export interface WatcherOptions {
  provider: Provider;
  app: string;
  registry?: string | undefined;
  /** See {@link DecodeContext.timelocked}; default true. */
  timelocked?: boolean;
  /** A block is handled once `head - block + 1 >= confirmations` (at least 1). */
  confirmations: number;
  /** Where to start: after a saved position, at a block, or at the confirmed head (only what happens next). */
  start: { after: WatchPosition } | { fromBlock: number } | "head";
  /** The widest `eth_getLogs` window (public RPCs cap it); default 2000 blocks. */
  maxBlockRange?: number;
  /** Handles one event; the position advances past it only once this resolves. */
  onEvent: (event: WatchedEvent) => Promise<void> | void;
  /** Persists the position; called after each event and after each scanned window. */
  onPosition?: (position: WatchPosition) => Promise<void> | void;
}

export interface PassResult {
  events: number;
  head: number;
  confirmedHead: number;
  position: WatchPosition;
}

/** Follows the events of an app (and registry), one pass at a time. */
export class Watcher {
  #options: WatcherOptions;
  #position: WatchPosition | undefined;

  constructor(options: WatcherOptions) {
    if (!Number.isInteger(options.confirmations) || options.confirmations < 1) {
      throw new Error(`confirmations must be an integer >= 1, got ${options.confirmations}`);
    }
    this.#options = options;
    const { start } = options;
    if (start !== "head") {
      this.#position = "after" in start ? start.after : { blockNumber: start.fromBlock - 1, logIndex: null };
    }
  }

  /** What has been handled so far (undefined before the first pass when starting at the head). */
  get position(): WatchPosition | undefined {
    return this.#position;
  }

  /**
   * Handles every event up to the confirmed head. Throws on an RPC error (or an error of `onEvent`) with the position
   * at the last handled event, so calling it again resumes without a gap or a repeat.
   */
  async pass(): Promise<PassResult> {
    const { provider, confirmations } = this.#options;
    const head = await provider.getBlockNumber();
    const confirmedHead = head - confirmations + 1;
    if (this.#position === undefined) {
      this.#position = { blockNumber: confirmedHead, logIndex: null };
      await this.#options.onPosition?.(this.#position);
    }
    const headBlock = await provider.getBlock(head);
    if (headBlock === null) throw new Error(`the node has no block ${head}`);
    const timestamps = new Map<number, number>([[head, headBlock.timestamp]]);
    const blockTimestamp = async (blockNumber: number) => {
      let time = timestamps.get(blockNumber);
      if (time === undefined) {
        const block = await provider.getBlock(blockNumber);
        if (block === null) throw new Error(`the node has no block ${blockNumber}`);
        time = block.timestamp;
        timestamps.set(blockNumber, time);
      }
      return time;
    };

    const addresses = [this.#options.app, ...(this.#options.registry === undefined ? [] : [this.#options.registry])];
    const range = this.#options.maxBlockRange ?? 2000;
    let events = 0;
    let from = this.#position.logIndex === null ? this.#position.blockNumber + 1 : this.#position.blockNumber;
    while (from <= confirmedHead) {
      const to = Math.min(confirmedHead, from + range - 1);
      const logs = await provider.getLogs({ address: addresses, fromBlock: from, toBlock: to });
      logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
      for (const log of logs) {
        if (log.removed || !isAfter(log, this.#position)) continue;
        const event = decodeWatchedLog(log, {
          app: this.#options.app,
          registry: this.#options.registry,
          timelocked: this.#options.timelocked ?? true,
          blockTimestamp: await blockTimestamp(log.blockNumber),
          headNumber: head,
          headTimestamp: headBlock.timestamp,
        });
        if (event !== undefined) {
          await this.#options.onEvent(event);
          events += 1;
        }
        this.#position = { blockNumber: log.blockNumber, logIndex: log.index };
        await this.#options.onPosition?.(this.#position);
      }
      this.#position = { blockNumber: to, logIndex: null };
      await this.#options.onPosition?.(this.#position);
      from = to + 1;
    }
    return { events, head, confirmedHead, position: this.#position };
  }

  /**
   * Runs passes every `pollMs` until `signal` aborts (or, with `once`, until one pass succeeds). A failed pass is
   * reported to `onError` and retried after a growing pause (`pollMs`, doubled each failure, at most 60 s); with
   * `once`, at most `maxAttempts` times before the last error is thrown.
   */
  async run(options: {
    pollMs: number;
    signal?: AbortSignal | undefined;
    once?: boolean | undefined;
    maxAttempts?: number | undefined;
    onError?: ((error: unknown, attempt: number, retryInMs: number) => void) | undefined;
    /** Called after each pass that succeeded (e.g. to clear an error shown after a failed one, or to verify it). */
    onPass?: ((result: PassResult) => void | Promise<void>) | undefined;
  }): Promise<PassResult | undefined> {
    let failures = 0;
    let last: PassResult | undefined;
    while (options.signal?.aborted !== true) {
      try {
        last = await this.pass();
        failures = 0;
        await options.onPass?.(last);
        if (options.once === true) return last;
      } catch (error) {
        failures += 1;
        if (options.once === true && failures >= (options.maxAttempts ?? 5)) throw error;
        const retryInMs = Math.min(60_000, options.pollMs * 2 ** (failures - 1));
        options.onError?.(error, failures, retryInMs);
        await sleep(retryInMs, options.signal);
        continue;
      }
      await sleep(options.pollMs, options.signal);
    }
    return last;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
