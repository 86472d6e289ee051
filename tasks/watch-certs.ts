import { styleText } from "node:util";

import { InvalidOptionError, UserError } from "../lib/errors.js";
import { formatDuration } from "../lib/format.js";
import { CtLog, CtWatcher, formatCertEvent, readCtCursor, writeCtCursor, type CertEvent } from "../lib/tls/index.js";
import { safeJson, shown } from "../lib/untrusted/text.js";
import { checkInteger, parseBytes32, parseDuration, requireOption } from "../lib/validate.js";
import { WebhookQueue, type WebhookStats } from "../lib/webhook.js";
import { defineAction } from "./shared/action.js";
import { givenInt } from "./shared/options.js";

export interface WatchCertsArgs {
  domain?: string | undefined;
  tlsKey?: string | undefined;
  registry?: string | undefined;
  log?: string | undefined;
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
  /** Passes that failed (the log unreachable or answering garbage); the watcher retried each. */
  failedPasses: number;
}

const ONCE_WEBHOOK_ATTEMPTS = 3;
const WEBHOOK_DRAIN_MS = 10_000;

/**
 * Follows a certificate-transparency log for the app's domain and reports every certificate for it: URGENT when its
 * key is not the app's TLS key. Runs until Ctrl-C / SIGTERM, or with --once up to the log's signed tree size. The
 * logic is lib/tls/ct-watch.ts; this parses options, prints, posts to the webhook and keeps the cursor file.
 */
export default defineAction(async (args: WatchCertsArgs): Promise<WatchCertsResult> => {
  const domain = parseDomain(requireOption("domain", args.domain, "the app's domain name, e.g. app.example.com"));
  const tlsKey = parseBytes32(
    "tls-key",
    requireOption("tls-key", args.tlsKey, "the app's TLS key (sha256 of its SPKI, as verify-app prints it)"),
  );
  const logUrl = parseHttpUrl("log", requireOption("log", args.log, "the CT log's base URL (before /ct/v1/)"));
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

  const cursorKey = { log: logUrl, domain };
  const saved = args.cursorFile === undefined ? undefined : await readCtCursor(args.cursorFile, cursorKey);
  const start = saved ?? fromIndex ?? ("head" as const);
  say(
    `Watching CT log ${logUrl} for ${domain}: the app's TLS key is ${tlsKey}; ` +
      `${once ? "once" : `every ${formatDuration(pollMs / 1000)}`}, ` +
      (saved !== undefined
        ? `resuming at entry ${saved}`
        : start === "head"
          ? "from the log's head"
          : `from entry ${start}`),
  );
  if (args.registry !== undefined) {
    say(`(--registry ${args.registry}: the registry publishes no TLS key yet; --tls-key is the key watched for)`);
  }

  const events: CertEvent[] = [];
  const webhook =
    webhookUrl === undefined
      ? undefined
      : new WebhookQueue<CertEvent>(webhookUrl, {
          log: (line) => console.error(line),
          maxAttempts: once ? ONCE_WEBHOOK_ATTEMPTS : undefined,
          onDelivered: () => void saveCursor(),
        });
  const log = new CtLog(logUrl, { maxBytes, timeoutMs: args.timeout });
  const watcher: CtWatcher = new CtWatcher({
    log,
    domain,
    tlsKeys: [tlsKey],
    batch,
    start,
    onEvent: async (event) => {
      if (json) console.log(safeJson(event));
      else {
        const line = shown(formatCertEvent(event), 2000);
        console.log(event.severity === "urgent" ? styleText(["red", "bold"], line) : line);
      }
      await webhook?.push(event);
      if (once) events.push(event);
    },
    onPosition: () => saveCursor(),
  });
  // The cursor never passes an event the webhook has not taken: a restart reports (and posts) it again.
  async function saveCursor(): Promise<void> {
    if (args.cursorFile === undefined || watcher.position === undefined) return;
    const undelivered = webhook?.oldest?.index;
    const next = undelivered === undefined ? watcher.position : Math.min(undelivered, watcher.position);
    await writeCtCursor(args.cursorFile, { ...cursorKey, next }).catch((error: unknown) =>
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
        const { treeSize } = await watcher.pass();
        if (once && (watcher.position ?? 0) >= treeSize) break;
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
  if (once && failedPasses > 0)
    throw new UserError(`the CT log could not be read; the cursor stays where it was read to`);
  say(`Read up to entry ${watcher.position ?? "?"} (next to read).`);
  return { events, next: watcher.position, webhook: webhook?.stats, failedPasses };
});

function parseDomain(value: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, "");
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) {
    throw new InvalidOptionError("domain", value, "a DNS name such as app.example.com");
  }
  return domain;
}

function parseHttpUrl(option: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidOptionError(option, value, "an http:// or https:// URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidOptionError(option, value, "an http:// or https:// URL");
  }
  return url.href.replace(/\/+$/, "");
}
