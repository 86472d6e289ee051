import { styleText } from "node:util";

import {
  APP_AUTH_INTERFACE_ID,
  describeChange,
  readAppStatus,
  TIMELOCKED_APP_AUTH_INTERFACE_ID,
} from "../lib/appAuth.js";
import { isDstackAppAuth, supportsInterfaceOf } from "../lib/devproof-snapshot.js";
import { InvalidOptionError, UserError } from "../lib/errors.js";
import { formatCountdown, formatDuration } from "../lib/format.js";
import { connectRegistry } from "../lib/replication/registry.js";
import { checkBlockNumber, checkInteger, parseAddress, parseDuration, requireOption } from "../lib/validate.js";
import { safeJson } from "../lib/untrusted/text.js";
import { QuorumHeaderSource } from "../lib/verified/headers.js";
import { VerifiedChainReader } from "../lib/verified/reader.js";
import { httpRpcClient, redactRpcUrl } from "../lib/verified/rpc.js";
import { formatWatchedEvent, Watcher, type PassResult, type WatchedEvent, type WatchPosition } from "../lib/watch.js";
import { describeUnannounced, WatchVerifier } from "../lib/watchVerify.js";
import { CursorKeeper, readCursor } from "../lib/watchCursor.js";
import { WebhookQueue, type WebhookStats } from "../lib/webhook.js";
import { TimelockedAppAuth__factory } from "../types/ethers-contracts/index.js";
import { defineAction } from "./shared/action.js";
import { givenInt } from "./shared/options.js";
import { openNetwork } from "./shared/session.js";

export interface WatchArgs {
  app?: string | undefined;
  registry?: string | undefined;
  confirmations: number;
  poll: string;
  json?: boolean | undefined;
  webhook?: string | undefined;
  cursorFile?: string | undefined;
  /** UNSET (the default): from the confirmed head. */
  fromBlock: number;
  once?: boolean | undefined;
  verifyRpc?: string | undefined;
  verifyQuorum?: string | undefined;
}

export interface WatchResult {
  /** The events reported (kept only with --once; a long watch does not accumulate them). */
  events: WatchedEvent[];
  position: WatchPosition | undefined;
  webhook: WebhookStats | undefined;
}

/** How long a stopping watch (Ctrl-C, SIGTERM) waits for the webhook to take what is queued. */
const WEBHOOK_DRAIN_MS = 10_000;
/** With --once, tries per event before the run gives up on the webhook (and exits non-zero; the next run retries). */
const ONCE_WEBHOOK_ATTEMPTS = 3;

/**
 * Follows an app (and its registry) and reports every change after N confirmations, with the time left before it
 * can take effect; URGENT for widening proposals. Runs until Ctrl-C / SIGTERM, or with --once up to the confirmed
 * head. The logic is lib/watch.ts; this parses options, prints, posts to the webhook and keeps the cursor file.
 */
export default defineAction(async (args: WatchArgs, hre): Promise<WatchResult> => {
  const app = parseAddress("app", requireOption("app", args.app, "the address of the app's auth contract"));
  const registry = args.registry === undefined ? undefined : parseAddress("registry", args.registry);
  const confirmations = checkInteger("confirmations", args.confirmations, "a whole number of blocks from 1 to 1000", {
    min: 1,
    max: 1000,
  });
  const pollMs = Number(parseDuration("poll", args.poll)) * 1000;
  const webhookUrl = args.webhook === undefined ? undefined : parseWebhook(args.webhook);
  const givenFromBlock = givenInt(args.fromBlock);
  const fromBlock = givenFromBlock === undefined ? undefined : checkBlockNumber("from-block", givenFromBlock);
  const json = args.json === true;
  // In --json mode stdout carries only events, one JSON object per line; everything else goes to stderr.
  const say = json ? (line: string) => console.error(line) : (line: string) => console.log(line);

  const verifyUrls = args.verifyRpc === undefined ? undefined : parseVerifyUrls(args.verifyRpc);
  const verifyQuorum =
    verifyUrls === undefined ? undefined : parseVerifyQuorum(args.verifyQuorum ?? "majority", verifyUrls.length);

  const session = await openNetwork(hre, undefined, false);
  const provider = session.ethers.provider;
  if ((await provider.getCode(app)) === "0x") {
    throw new UserError(`no contract at --app ${app} on ${session.where}: check --app and --network`);
  }
  const timelocked = await supportsInterfaceOf(provider, app, TIMELOCKED_APP_AUTH_INTERFACE_ID);
  if (!timelocked && !(await isDstackAppAuth(provider, app))) {
    throw new UserError(
      `the contract at ${app} on ${session.where} is not a dstack AppAuth (supportsInterface(${APP_AUTH_INTERFACE_ID}) ` +
        "is not true, and isAppAllowed(bootInfo) does not answer): check --app",
    );
  }
  if (registry !== undefined) await connectRegistry(registry, provider, session.where);

  const cursorKey = { chainId: session.chainId, app, registry };
  const saved = args.cursorFile === undefined ? undefined : await readCursor(args.cursorFile, cursorKey);
  if (saved !== undefined && fromBlock !== undefined) {
    say(`Cursor ${args.cursorFile} found: resuming after it; --from-block ${fromBlock} is ignored`);
  }
  const start = saved !== undefined ? { after: saved } : fromBlock !== undefined ? { fromBlock } : ("head" as const);

  say(
    `Watching ${timelocked ? "TimelockedAppAuth" : "AppAuth (NOT timelocked: every change is instant)"} ${app}` +
      `${registry === undefined ? "" : ` and ReplicationRegistry ${registry}`} on ${session.where}: ` +
      `${confirmations} confirmation(s), ${args.once === true ? "once" : `every ${formatDuration(pollMs / 1000)}`}, ` +
      (saved !== undefined
        ? `resuming after block ${saved.blockNumber}${saved.logIndex === null ? "" : ` log ${saved.logIndex}`}`
        : fromBlock !== undefined
          ? `from block ${fromBlock}`
          : "from the confirmed head"),
  );
  if (timelocked && start === "head") {
    // Starting fresh: what is already pending matters as much as what comes next.
    const status = await readAppStatus(TimelockedAppAuth__factory.connect(app, provider));
    const open = status.proposals.filter((p) => p.state === "Waiting" || p.state === "Ready");
    say(`Open proposals now: ${open.length === 0 ? "none" : ""}`);
    for (const proposal of open) {
      say(`  ${describeChange(proposal)}: ${formatCountdown(proposal.readyAt, proposal.expiresAt, status.timestamp)}`);
    }
  }

  const verifier =
    verifyUrls === undefined || verifyQuorum === undefined
      ? undefined
      : (() => {
          if (!timelocked)
            throw new UserError("--verify-rpc reads a TimelockedAppAuth's storage: this AppAuth is not one");
          const clients = verifyUrls.map((url) => httpRpcClient(url, { timeoutMs: 30_000 }));
          const headers = new QuorumHeaderSource(clients, { quorum: verifyQuorum, chainId: BigInt(session.chainId) });
          say(
            `Verifying each pass against ${headers.description} (${verifyUrls.map(redactRpcUrl).join(", ")}): ` +
              "open proposals and the current release, proven against the header they report",
          );
          return new WatchVerifier(new VerifiedChainReader(headers, clients), app);
        })();
  let verifiedState: string | undefined;
  let firstCheck = true;
  const verifyPass = async (result: PassResult) => {
    if (verifier === undefined) return;
    try {
      const check = await verifier.check(result.confirmedHead);
      const state = `${check.currentRelease ?? "none"}|${check.proposals.map((p) => p.id).join(",")}`;
      if (!firstCheck) {
        const now = Math.floor(Date.now() / 1000);
        for (const proposal of check.unannounced) {
          if (json) {
            console.log(
              safeJson({
                source: "verified",
                event: "ProposalNotReported",
                block: check.block,
                ...proposal,
                readyAt: Number(proposal.readyAt),
              }),
            );
          } else {
            console.log(styleText(["red", "bold"], describeUnannounced(proposal, now, session.where)));
          }
        }
      }
      if (state !== verifiedState) {
        say(
          `verified at block ${check.block} (${check.how}): current release ${check.currentRelease ?? "none"}, ` +
            `${check.proposals.length} open proposal(s)${check.proposals.length === 0 ? "" : `: ${check.proposals.map((p) => p.id).join(", ")}`}`,
        );
        verifiedState = state;
      }
      firstCheck = false;
    } catch (error) {
      const line = verifier.problemLine(error);
      if (line !== undefined) console.error(styleText("yellow", line));
    }
  };

  const once = args.once === true;
  const webhook =
    webhookUrl === undefined
      ? undefined
      : new WebhookQueue<WatchedEvent>(webhookUrl, {
          log: (line) => console.error(line),
          // A long watch retries an event until the endpoint takes it; a one-shot run gives up and says so.
          maxAttempts: once ? ONCE_WEBHOOK_ATTEMPTS : undefined,
          onDelivered: () => {
            cursor
              ?.save()
              .catch((error: unknown) => console.error(`watch: cannot write the cursor: ${messageOf(error)}`));
          },
        });
  // The cursor never passes an event the webhook has not taken: a restart reports it (and posts it) again.
  const cursor: CursorKeeper | undefined =
    args.cursorFile === undefined
      ? undefined
      : new CursorKeeper({
          path: args.cursorFile,
          key: cursorKey,
          handled: () => watcher.position,
          oldestUndelivered: () => webhook?.oldest,
        });

  const events: WatchedEvent[] = [];
  const watcher: Watcher = new Watcher({
    provider,
    app,
    registry,
    timelocked,
    confirmations,
    start,
    onEvent: async (event) => {
      if (event.event === "ChangeProposed" && typeof event.args["id"] === "string")
        verifier?.announce(event.args["id"]);
      if (json) console.log(safeJson(event));
      else {
        const line = formatWatchedEvent(event);
        console.log(event.severity === "urgent" ? styleText(["red", "bold"], line) : line);
      }
      await webhook?.push(event);
      if (once) events.push(event);
    },
    onPosition: () => cursor?.save(),
  });

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await watcher.run({
      pollMs,
      once,
      signal: stop.signal,
      onPass: verifyPass,
      onError: (error, attempt, retryInMs) =>
        console.error(
          `watch: pass failed (attempt ${attempt}): ${messageOf(error)}; retrying in ${formatDuration(retryInMs / 1000)}`,
        ),
    });
  } catch (error) {
    throw new UserError(`the node kept failing, giving up: ${messageOf(error)}`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (webhook !== undefined) {
      // One-shot: until each event is taken or the queue gives up; stopping a long watch: a bounded wait.
      await webhook.drain(once ? undefined : WEBHOOK_DRAIN_MS);
      webhook.close();
    }
    await cursor?.save();
  }
  const undelivered = webhook?.oldest;
  if (webhook !== undefined && undelivered !== undefined) {
    const { queued, lastProblem } = webhook.stats;
    const oldest = `${undelivered.event} in block ${undelivered.blockNumber}, log ${undelivered.logIndex}`;
    const next =
      cursor === undefined
        ? "without --cursor-file nothing remembers them: use one to have them retried"
        : `the cursor ${args.cursorFile} stays before them, so the next run reports and posts them again`;
    throw new UserError(
      `${queued} event(s) not delivered to the webhook (the oldest: ${oldest}` +
        `${lastProblem === undefined ? "" : `; last problem: ${lastProblem}`}); ${next}`,
    );
  }
  const position = watcher.position;
  if (position !== undefined) {
    say(`Handled up to block ${position.blockNumber}${position.logIndex === null ? "" : ` log ${position.logIndex}`}.`);
  }
  return { events, position, webhook: webhook?.stats };
});

function parseWebhook(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionError("webhook", value, "an http:// or https:// URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidOptionError("webhook", value, "an http:// or https:// URL");
  }
  return url.href;
}

function parseVerifyUrls(value: string): string[] {
  const urls = value
    .split(",")
    .map((url) => url.trim())
    .filter((url) => url !== "");
  for (const url of urls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
      throw new InvalidOptionError("verify-rpc", url, "comma-separated http:// or https:// URLs");
    }
  }
  if (urls.length === 0) throw new InvalidOptionError("verify-rpc", value, "comma-separated http:// or https:// URLs");
  return urls;
}

/** `majority` (of the URLs, at least 2), a number from 2 to the number of URLs, or `none` (one is believed). */
function parseVerifyQuorum(value: string, count: number): number {
  if (value === "none") return 1;
  const quorum =
    value === "majority" ? Math.max(2, Math.floor(count / 2) + 1) : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(quorum) || quorum < 2 || quorum > count) {
    throw new InvalidOptionError(
      "verify-quorum",
      value,
      count < 2 && value === "majority"
        ? `a quorum of several providers: --verify-rpc lists ${count}; list two or more, or say "none"`
        : `"majority", "none" or a number from 2 to ${count} (the number of --verify-rpc URLs)`,
    );
  }
  return quorum;
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
