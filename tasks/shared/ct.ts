/**
 * What `watch-certs` and `status-page` share about certificate transparency: the source options (an RFC 6962 log
 * with its key, or a crt.sh-style search API), the app's TLS keys as the registry publishes them over time, and the
 * watcher over the chosen source (lib/tls/ct-watch.ts, lib/tls/crtsh.ts).
 */
import type { KeyObject } from "node:crypto";

import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import { InvalidOptionError, UserError } from "../../lib/errors.js";
import { connectRegistryView, readAppTlsKey } from "../../lib/replication/index.js";
import {
  CrtshSearch,
  CrtshWatcher,
  CtLog,
  CtWatcher,
  TlsKeyTimeline,
  parseLogKey,
  type CertEvent,
  type SignedTreeHead,
} from "../../lib/tls/index.js";
import { checkInteger } from "../../lib/validate.js";
import { Watcher } from "../../lib/watch.js";
import { openNetwork } from "./session.js";

export interface CtSourceOptions {
  source: "log" | "crtsh";
  url: string;
  /** The log's key (source "log"). */
  logKey: KeyObject | undefined;
}

/** Parses the source options; `names` are the options' names as the task spells them (e.g. "log" or "ct-log"). */
export function parseCtSource(
  values: { source: string; url: string | undefined; logKey: string | undefined },
  names: { source: string; url: string; logKey: string },
): CtSourceOptions {
  const { source } = values;
  if (source !== "log" && source !== "crtsh") throw new InvalidOptionError(names.source, source, '"log" or "crtsh"');
  if (values.url === undefined) {
    throw new UserError(
      `--${names.url} is required: ${source === "log" ? "the CT log's base URL (before /ct/v1/)" : "the search API's base URL, e.g. https://crt.sh"}`,
    );
  }
  const url = parseHttpUrl(names.url, values.url);
  if (source === "crtsh") {
    if (values.logKey !== undefined) {
      throw new UserError(`--${names.logKey} is for --${names.source} log: a search API signs nothing`);
    }
    return { source, url, logKey: undefined };
  }
  if (values.logKey === undefined) {
    throw new UserError(`--${names.logKey} is required: the log's public key, base64 DER as log lists publish it`);
  }
  try {
    return { source, url, logKey: parseLogKey(values.logKey) };
  } catch (error) {
    throw new InvalidOptionError(names.logKey, values.logKey, (error as Error).message);
  }
}

/**
 * The app's TLS keys over time: its `TlsKeySet` history from `fromBlock`, then followed by `watcher.pass()` (run it
 * before each pass over CT data), so a key published meanwhile is the app's from its block on. `pinned` (a
 * `--tls-key`) must agree with what the registry publishes, or stands in while it publishes none.
 */
export async function followTlsKeys(
  hre: HardhatRuntimeEnvironment,
  options: {
    registry: string;
    pinned: string | undefined;
    confirmations: number;
    fromBlock: number;
    say: (line: string) => void;
  },
): Promise<{ keys: TlsKeyTimeline; watcher: Watcher; where: string }> {
  const { registry, pinned, say } = options;
  const confirmations = checkInteger(
    "confirmations",
    options.confirmations,
    "a whole number of blocks from 1 to 1000",
    {
      min: 1,
      max: 1000,
    },
  );
  const fromBlock = checkInteger("from-block", options.fromBlock, "a block number", { min: 0 });
  const keys = new TlsKeyTimeline(pinned);
  const session = await openNetwork(hre, undefined, false);
  const app = await connectRegistryView(registry, session.ethers.provider).appAuth();
  const published = await readAppTlsKey(registry, session.ethers.provider, app, session.where);
  if (published.spkiSha256 === undefined && pinned === undefined) {
    throw new UserError(
      `the ReplicationRegistry ${registry} on ${session.where} publishes no TLS key yet: give the key to watch for with --tls-key`,
    );
  }
  if (
    published.spkiSha256 !== undefined &&
    pinned !== undefined &&
    pinned.toLowerCase() !== published.spkiSha256.toLowerCase()
  ) {
    throw new UserError(
      `--tls-key ${pinned} is not the TLS key the ReplicationRegistry ${registry} publishes (${published.spkiSha256}): ` +
        "drop --tls-key to watch for the registry's",
    );
  }
  let history = true;
  const watcher = new Watcher({
    provider: session.ethers.provider,
    app,
    registry,
    confirmations,
    start: { fromBlock },
    onEvent: (event) => {
      if (event.event !== "TlsKeySet" || event.refused !== undefined) return;
      const key = String(event.args["spkiSha256"]);
      keys.publish(key, event.blockTimestamp * 1000);
      if (!history) {
        say(
          `(block ${event.blockNumber}: the registry published the TLS key ${key}; certificates logged from ` +
            `${new Date(event.blockTimestamp * 1000).toISOString()} on are judged against it)`,
        );
      }
    },
  });
  await watcher.pass();
  history = false;
  // A publication before --from-block, or not yet confirmed: the key the registry returns now.
  if (keys.current === undefined && published.spkiSha256 !== undefined) keys.publish(published.spkiSha256, 0);
  say(
    published.spkiSha256 === undefined
      ? `(--registry ${registry}: it publishes no TLS key yet; --tls-key is the key watched for until it does)`
      : `(the app's TLS key as ReplicationRegistry ${registry} on ${session.where} publishes it, followed after ${confirmations} confirmation(s))`,
  );
  return { keys, watcher, where: session.where };
}

/** The watcher over the chosen source. */
export function certWatcher(
  source: CtSourceOptions,
  options: {
    domain: string;
    keys: TlsKeyTimeline;
    batch: number;
    start: number | "head";
    verified?: SignedTreeHead | undefined;
    limits: { maxBytes: number; timeoutMs: number };
    onEvent: (event: CertEvent) => Promise<void>;
    onPosition?: () => Promise<void>;
  },
): CtWatcher | CrtshWatcher {
  const { domain, keys, batch, start, onEvent, onPosition } = options;
  return source.source === "log"
    ? new CtWatcher({
        log: new CtLog(source.url, source.logKey!, options.limits),
        domain,
        keys,
        batch,
        start,
        verified: options.verified,
        onEvent,
        onPosition,
      })
    : new CrtshWatcher({
        search: new CrtshSearch(source.url, options.limits),
        domain,
        keys,
        batch,
        start,
        onEvent,
        onPosition,
      });
}

export function parseDomain(option: string, value: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, "");
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(domain)) {
    throw new InvalidOptionError(option, value, "a DNS name such as app.example.com");
  }
  return domain;
}

export function parseHttpUrl(option: string, value: string): string {
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
