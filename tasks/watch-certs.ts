import { styleText } from "node:util";

import { UserError } from "../lib/errors.js";
import { formatDuration } from "../lib/format.js";
import {
  CtWatcher,
  TlsKeyTimeline,
  formatCertEvent,
  readCtCursor,
  writeCtCursor,
  type CertEvent,
  type CrtshWatcher,
  type SignedTreeHead,
} from "../lib/tls/index.js";
import { safeJson, shown } from "../lib/untrusted/text.js";
import type { Watcher } from "../lib/watch.js";
import { checkInteger, parseAddress, parseBytes32, parseDuration, requireOption } from "../lib/validate.js";
import { WebhookQueue, type WebhookStats } from "../lib/webhook.js";
import { defineAction } from "./shared/action.js";
import { certWatcher, followTlsKeys, parseCtSource, parseDomain, parseHttpUrl } from "./shared/ct.js";
import { givenInt } from "./shared/options.js";

export interface WatchCertsArgs {
  domain?: string | undefined;
  tlsKey?: string | undefined;
  registry?: string | undefined;
  log?: string | undefined;
  /** "log" (RFC 6962, the default) or "crtsh" (a crt.sh-style search API at --log). */
  source: string;
  logKey?: string | undefined;
  confirmations: number;
  fromBlock: number;
  batch: number;
  maxResponseBytes: number;
  timeout: number;
  poll: string;
  json?: boolean | undefined;
  webhook?: string | undefined;
  cursorFile?: string | undefined;
  /** UNSET (the default): from the log's current size. */
  fromIndex: number;
  once?: boolean | undefined;
}

export interface WatchCertsResult {
  /** The events reported (kept only with --once). */
  events: CertEvent[];
  /** The next entry index to read. */
  next: number | undefined;
  webhook: WebhookStats | undefined;
  /** Passes that failed (the source unreachable, answering garbage, or failing a check); the watcher retried each. */
  failedPasses: number;
  /** The app's TLS key when the run ended (it follows the registry's TlsKeySet events). */
  tlsKey: string | undefined;
}

const ONCE_WEBHOOK_ATTEMPTS = 3;
const WEBHOOK_DRAIN_MS = 10_000;

/**
 * Follows certificate-transparency data for the app's domain (an RFC 6962 log, checked against its key, or a
 * crt.sh-style search API) and reports every certificate for it: URGENT when its key is not the app's TLS key as the
 * registry publishes it at the certificate's log time. Runs until Ctrl-C / SIGTERM, or with --once up to the log's signed tree size. The
 * logic is lib/tls/ct-watch.ts; this parses options, prints, posts to the webhook and keeps the cursor file.
 */
export default defineAction(async (args: WatchCertsArgs, hre): Promise<WatchCertsResult> => {
  const domain = parseDomain(
    "domain",
    requireOption("domain", args.domain, "the app's domain name, e.g. app.example.com"),
  );
  const registry = args.registry === undefined ? undefined : parseAddress("registry", args.registry);
  const pinned = args.tlsKey === undefined ? undefined : parseBytes32("tls-key", args.tlsKey);
  if (registry === undefined && pinned === undefined) {
    requireOption(
      "tls-key",
      undefined,
      "the app's TLS key (sha256 of its SPKI, as verify-app prints it), or --registry",
    );
  }
  const source = parseCtSource(
    { source: args.source, url: args.log, logKey: args.logKey },
    { source: "source", url: "log", logKey: "log-key" },
  );
  const logUrl = source.url;
  const confirmations = checkInteger("confirmations", args.confirmations, "a whole number of blocks from 1 to 1000", {
    min: 1,
    max: 1000,
  });
  const batch = checkInteger("batch", args.batch, "entries per get-entries request, 1-1000", { min: 1, max: 1000 });
  const maxBytes = checkInteger("max-response-bytes", args.maxResponseBytes, "bytes, 10 kB to 100 MB", {
    min: 10_000,
    max: 100_000_000,
  });
  const pollMs = Number(parseDuration("poll", args.poll)) * 1000;
  const webhookUrl = args.webhook === undefined ? undefined : parseHttpUrl("webhook", args.webhook);
  const fromIndex = givenInt(args.fromIndex);
  const json = args.json === true;
  const once = args.once === true;
  const say = json ? (line: string) => console.error(line) : (line: string) => console.log(line);

  let keys = new TlsKeyTimeline(pinned);
  let registryWatcher: Watcher | undefined;
  if (registry !== undefined) {
    ({ keys, watcher: registryWatcher } = await followTlsKeys(hre, {
      registry,
      pinned,
      confirmations,
      fromBlock: args.fromBlock,
      say,
    }));
  }

  const cursorKey = { source: source.source, log: logUrl, domain };
  const saved = args.cursorFile === undefined ? undefined : await readCtCursor(args.cursorFile, cursorKey);
  const start = saved?.next ?? fromIndex ?? ("head" as const);
  say(
    `Watching ${source.source === "log" ? "CT log" : "the search API"} ${logUrl} for ${domain}: the app's TLS key is ${keys.current}; ` +
      `${once ? "once" : `every ${formatDuration(pollMs / 1000)}`}, ` +
      (saved !== undefined
        ? `resuming at ${source.source === "log" ? "entry" : "crt.sh id"} ${saved.next}`
        : start === "head"
          ? "from the log's head"
          : `from entry ${start}`),
  );

  const events: CertEvent[] = [];
  const webhook =
    webhookUrl === undefined
      ? undefined
      : new WebhookQueue<CertEvent>(webhookUrl, {
          log: (line) => console.error(line),
          maxAttempts: once ? ONCE_WEBHOOK_ATTEMPTS : undefined,
          onDelivered: () => void saveCursor(),
        });
  const limits = { maxBytes, timeoutMs: args.timeout };
  const onEvent = async (event: CertEvent) => {
    if (json) console.log(safeJson(event));
    else {
      const line = shown(formatCertEvent(event), 2000);
      console.log(
        event.severity === "urgent"
          ? styleText(["red", "bold"], line)
          : event.severity === "warn"
            ? styleText("yellow", line)
            : line,
      );
    }
    await webhook?.push(event);
    if (once) events.push(event);
  };
  const watcher: CtWatcher | CrtshWatcher = certWatcher(source, {
    domain,
    keys,
    batch,
    start,
    verified: saved?.verified,
    limits,
    onEvent,
    onPosition: () => saveCursor(),
  });
  // The cursor never passes an event the webhook has not taken: a restart reports (and posts) it again.
  async function saveCursor(): Promise<void> {
    if (args.cursorFile === undefined || watcher.position === undefined) return;
    const undelivered = webhook?.oldest?.index;
    const next = undelivered === undefined ? watcher.position : Math.min(undelivered, watcher.position);
    const verified: SignedTreeHead | undefined = watcher instanceof CtWatcher ? watcher.verified : undefined;
    await writeCtCursor(args.cursorFile, { ...cursorKey, next, verified }).catch((error: unknown) =>
      console.error(`watch-certs: cannot write the cursor: ${(error as Error).message}`),
    );
  }

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let failedPasses = 0;
  try {
    for (;;) {
      try {
        await registryWatcher?.pass();
        const outcome = await watcher.pass();
        if ((outcome.malformed ?? 0) > 0) {
          console.error(`watch-certs: ${outcome.malformed} row(s) of the search without a usable id were skipped`);
        }
        if (outcome.problem !== undefined) {
          failedPasses += 1;
          console.error(`watch-certs: the log failed a check: ${shown(outcome.problem)}`);
          if (once) break;
        } else if (once && (watcher.position ?? 0) >= outcome.treeSize) break;
      } catch (error) {
        failedPasses += 1;
        console.error(`watch-certs: pass failed: ${shown((error as Error).message)}`);
        if (once) break;
      }
      if (stop.signal.aborted) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, pollMs);
        stop.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
      });
      if (stop.signal.aborted) break;
    }
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (webhook !== undefined) {
      await webhook.drain(once ? undefined : WEBHOOK_DRAIN_MS);
      webhook.close();
    }
    await saveCursor();
  }
  if (webhook?.oldest !== undefined) {
    throw new UserError(
      `${webhook.stats.queued} event(s) not delivered to the webhook (the oldest: entry ${webhook.oldest.index}); ` +
        (args.cursorFile === undefined
          ? "without --cursor-file nothing remembers them"
          : `the cursor ${args.cursorFile} stays before them, so the next run posts them again`),
    );
  }
  if (once && failedPasses > 0) {
    throw new UserError(
      `the CT data could not be read or failed a check; the cursor stays where it was read to (and verified)`,
    );
  }
  say(`Read up to ${source.source === "log" ? "entry" : "crt.sh id"} ${watcher.position ?? "?"} (next to read).`);
  return { events, next: watcher.position, webhook: webhook?.stats, failedPasses, tlsKey: keys.current };
});
