/**
 * dstack's event log: how a verifier learns what was measured into RTMR3 (the compose hash among others) and
 * checks it against the quote.
 *
 * dstack extends RTMR3 with "runtime events" at boot: `digest = sha384(le32(event_type) ‖ ":" ‖ event ‖ ":" ‖
 * payload)` with `event_type = 0x08000001`, then `rtmr3 = sha384(rtmr3 ‖ digest)` from 48 zero bytes. An app that sets
 * `event_log_version: 2` in its app-compose.json gets version-2 events instead (`"version": 2` in the log):
 * `digest = sha384(JCS JSON {"name": event, "payload": lowercase hex, "type": 134217729})`. The
 * `compose-hash` event's payload is the 32-byte sha256 of the exact bytes of `app-compose.json`. The log comes
 * from dstack's `GetQuote` as a JSON array of `{imr, event_type, digest, event, event_payload}` (hex without
 * `0x`). A log is only evidence once it replays to the RTMR3 of a verified quote.
 */
import { createHash } from "node:crypto";

import { getBytes, hexlify } from "ethers";
import type { BytesLike } from "ethers";

import { ReplicationVerificationError } from "./errors.js";

/** dstack's event type for runtime (RTMR3) events. */
export const DSTACK_RUNTIME_EVENT_TYPE = 0x08000001;

/** The RTMR dstack's runtime events extend. */
export const RUNTIME_EVENT_IMR = 3;

/** The runtime event whose payload is the compose hash. */
export const COMPOSE_HASH_EVENT = "compose-hash";

/** One entry of dstack's event log, as `GetQuote` returns it. */
export interface DstackEventLogEntry {
  imr: number;
  event_type: number;
  /** sha384 digest that was extended into the RTMR, hex. */
  digest: string;
  /** Event name for runtime events (e.g. "compose-hash"); empty for boot-time events. */
  event: string;
  /** Event payload, hex. */
  event_payload: string;
  /** dstack's event log version of a runtime event: absent or 1, or 2 (see the top of this file). */
  version?: 1 | 2;
}

const RTMR_LENGTH = 48;

function fromHex(value: string, what: string): Uint8Array {
  const hex = value.startsWith("0x") ? value : `0x${value}`;
  try {
    return getBytes(hex);
  } catch (error) {
    throw new ReplicationVerificationError("event-log-invalid", `${what} is not hex: ${value}`, { cause: error });
  }
}

function sha384(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha384");
  for (const part of parts) hash.update(part);
  return Uint8Array.from(hash.digest());
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** Parse an event log (JSON text, UTF-8 bytes of it, or the array itself); throws `event-log-invalid`. */
export function parseEventLog(eventLog: string | Uint8Array | readonly unknown[]): DstackEventLogEntry[] {
  let value: unknown = eventLog;
  if (typeof eventLog === "string" || eventLog instanceof Uint8Array) {
    const text = typeof eventLog === "string" ? eventLog : new TextDecoder("utf-8", { fatal: true }).decode(eventLog);
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ReplicationVerificationError("event-log-invalid", "the event log is not JSON", { cause: error });
    }
  }
  if (!Array.isArray(value))
    throw new ReplicationVerificationError("event-log-invalid", "the event log is not an array");
  return value.map((entry: unknown, index: number) => {
    const e = entry as Partial<Record<keyof DstackEventLogEntry, unknown>> | null;
    if (
      e === null ||
      typeof e !== "object" ||
      !Number.isInteger(e.imr) ||
      !Number.isInteger(e.event_type) ||
      typeof e.digest !== "string" ||
      typeof e.event !== "string" ||
      typeof e.event_payload !== "string" ||
      (e.version !== undefined && e.version !== 1 && e.version !== 2)
    ) {
      throw new ReplicationVerificationError("event-log-invalid", `event log entry ${index} is malformed`);
    }
    return {
      imr: e.imr as number,
      event_type: e.event_type as number,
      digest: e.digest,
      event: e.event,
      event_payload: e.event_payload,
      ...(e.version === 2 ? { version: 2 as const } : {}),
    };
  });
}

/**
 * What a version-2 runtime event's digest hashes: RFC 8785 (JCS) JSON of its name, payload and type. Keys sort as
 * name, payload, type; JCS writes strings as ECMAScript's JSON.stringify does.
 */
export function runtimeEventPreimageV2(
  event: string,
  payload: BytesLike,
  eventType = DSTACK_RUNTIME_EVENT_TYPE,
): string {
  return `{"name":${JSON.stringify(event)},"payload":"${hexlify(getBytes(payload)).slice(2)}","type":${eventType}}`;
}

/** The digest dstack extends into RTMR3 for a runtime event (of event log `version` 1 unless told 2). */
export function runtimeEventDigest(
  event: string,
  payload: BytesLike,
  eventType = DSTACK_RUNTIME_EVENT_TYPE,
  version: 1 | 2 = 1,
): Uint8Array {
  if (version === 2) return sha384(new TextEncoder().encode(runtimeEventPreimageV2(event, payload, eventType)));
  const type = new Uint8Array(4);
  new DataView(type.buffer).setUint32(0, eventType, true);
  const colon = new TextEncoder().encode(":");
  return sha384(type, colon, new TextEncoder().encode(event), colon, getBytes(payload));
}

/** A runtime event entry as dstack logs it (used by stand-ins and tests). */
export function runtimeEvent(event: string, payload: BytesLike, version: 1 | 2 = 1): DstackEventLogEntry {
  return {
    imr: RUNTIME_EVENT_IMR,
    event_type: DSTACK_RUNTIME_EVENT_TYPE,
    digest: hexlify(runtimeEventDigest(event, payload, DSTACK_RUNTIME_EVENT_TYPE, version)).slice(2),
    event,
    event_payload: hexlify(getBytes(payload)).slice(2),
    ...(version === 2 ? { version } : {}),
  };
}

/**
 * Replay the RTMR `imr` from the log. Each runtime event's digest is recomputed from its name and payload, so a
 * log cannot show one payload while the RTMR was extended with another.
 */
export function replayRtmr(entries: readonly DstackEventLogEntry[], imr = RUNTIME_EVENT_IMR): Uint8Array {
  let rtmr: Uint8Array = new Uint8Array(RTMR_LENGTH);
  entries.forEach((entry, index) => {
    if (entry.imr !== imr) return;
    const digest = fromHex(entry.digest, `digest of event ${index}`);
    if (digest.length !== RTMR_LENGTH) {
      throw new ReplicationVerificationError("event-log-invalid", `event ${index} has a ${digest.length}-byte digest`);
    }
    if (entry.event_type === DSTACK_RUNTIME_EVENT_TYPE) {
      const recomputed = runtimeEventDigest(
        entry.event,
        fromHex(entry.event_payload, `payload of event ${index}`),
        DSTACK_RUNTIME_EVENT_TYPE,
        entry.version ?? 1,
      );
      if (!equalBytes(recomputed, digest)) {
        throw new ReplicationVerificationError(
          "event-log-invalid",
          `event ${index} ("${entry.event}") has a digest that does not match its payload`,
        );
      }
    }
    rtmr = sha384(rtmr, digest);
  });
  return rtmr;
}

/** Only the RTMR3 entries: all a registration needs to publish for the compose-hash check. */
export function runtimeEntries(entries: readonly DstackEventLogEntry[]): DstackEventLogEntry[] {
  return entries.filter((entry) => entry.imr === RUNTIME_EVENT_IMR);
}

/**
 * The compose hash measured into RTMR3, after checking that the log replays to `rtmr3` (from a verified quote).
 * Takes the first `compose-hash` runtime event: dstack measures it at boot, before any app code runs, so a later
 * event of the same name (an app can extend RTMR3 itself) cannot override it.
 */
export function measuredComposeHash(eventLog: string | Uint8Array | readonly unknown[], rtmr3: BytesLike): string {
  const entries = parseEventLog(eventLog);
  const replayed = replayRtmr(entries);
  const expected = getBytes(rtmr3);
  if (!equalBytes(replayed, expected)) {
    throw new ReplicationVerificationError(
      "rtmr-mismatch",
      `the event log replays RTMR3 to ${hexlify(replayed)}, the quote has ${hexlify(expected)}`,
    );
  }
  const event = entries.find(
    (entry) =>
      entry.imr === RUNTIME_EVENT_IMR &&
      entry.event_type === DSTACK_RUNTIME_EVENT_TYPE &&
      entry.event === COMPOSE_HASH_EVENT,
  );
  if (event === undefined) {
    throw new ReplicationVerificationError("compose-hash-missing", "no compose-hash event was measured into RTMR3");
  }
  const payload = fromHex(event.event_payload, "compose-hash payload");
  if (payload.length !== 32) {
    throw new ReplicationVerificationError("event-log-invalid", `the compose-hash payload is ${payload.length} bytes`);
  }
  return hexlify(payload);
}

/** Throws unless the event log replays to `rtmr3` and its measured compose hash is `claimedComposeHash`. */
export function checkComposeHash(
  eventLog: string | Uint8Array | readonly unknown[],
  rtmr3: BytesLike,
  claimedComposeHash: string,
): void {
  const measured = measuredComposeHash(eventLog, rtmr3);
  if (measured.toLowerCase() !== claimedComposeHash.toLowerCase()) {
    throw new ReplicationVerificationError(
      "compose-hash-mismatch",
      `the measured compose hash ${measured} is not the claimed ${claimedComposeHash}`,
    );
  }
}
