/**
 * What a TDX boot measured, derived as dstack does (its attestation code's `decode_app_info_ex` and
 * `decode_mr_tdx_from_quote`, and the KMS's device id; docs/evidence.md has the sources and the commit), from a
 * verified quote and the event log that replays to its RTMR3. A registration's boot info is held to this, field by
 * field: measured, never claimed.
 *
 * - `app-id`, `compose-hash`, `instance-id`, `os-image-hash`, `key-provider` are RTMR3 runtime-event payloads,
 *   raw bytes (20, 32, 20, 32 bytes; the key provider is JSON). dstack reads the first event of each name and stops
 *   at `system-ready`: events an app emits after that are its own and never count.
 * - `mrSystem = sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ mr_key_provider)`, `mr_key_provider = sha256(key-provider
 *   payload)`, 32 zero bytes when there is none.
 * - `mrAggregated = sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ RTMR3)`, followed by `MRCONFIGID ‖ MROWNER ‖ MROWNERCONFIG`
 *   when any of the three is non-zero.
 * - `deviceId = sha256(PPID)`, the PPID of the PCK certificate the quote verified against.
 *
 * Two views of the two aggregates: `runtime` is what the CVM's guest API reports (`Info`), from the whole log;
 * `boot` is what dstack's KMS saw when it released the app's keys, before the key provider was measured: RTMR3
 * replayed up to `boot-mr-done` and no key provider (dstack's "boot-time MR").
 */
import { createHash } from "node:crypto";

import { ZeroAddress, getAddress, getBytes, hexlify } from "ethers";
import type { BytesLike } from "ethers";

import { DstackEvidenceError } from "../dstack/errors.js";
import { keyProviderRefusal, parseKeyProviderPayload } from "../dstack/key-provider.js";
import type { KeyProviderInfo } from "../dstack/key-provider.js";
import type { AppBootInfo } from "../bootInfo.js";
import { quoted, shownList } from "../untrusted/text.js";
import { ReplicationVerificationError } from "./errors.js";
import { DSTACK_RUNTIME_EVENT_TYPE, RUNTIME_EVENT_IMR, parseEventLog, replayRtmr } from "./event-log.js";
import type { DstackEventLogEntry } from "./event-log.js";
import type { VerifiedTdxQuote } from "./quote.js";

/** The runtime events dstack reads boot facts from. */
export const BOOT_EVENTS = {
  appId: "app-id",
  composeHash: "compose-hash",
  instanceId: "instance-id",
  osImageHash: "os-image-hash",
  keyProvider: "key-provider",
  bootMrDone: "boot-mr-done",
  systemReady: "system-ready",
} as const;

/** The two aggregate measurements of one view. */
export interface BootAggregates {
  mrSystem: string;
  mrAggregated: string;
}

/** What the quote and its event log measure; byte strings are 0x-hex. */
export interface MeasuredBoot {
  /** The `app-id` payload (20 bytes in a dstack boot), or undefined when none was measured. */
  appId: string | undefined;
  /** The `compose-hash` payload (32 bytes), or undefined. */
  composeHash: string | undefined;
  /** The `instance-id` payload (20 bytes; empty when the app runs without instance ids), or undefined. */
  instanceId: string | undefined;
  /** The `os-image-hash` payload (32 bytes): the OS image the KMS checked and returned, measured after it answered. */
  osImageHash: string | undefined;
  /** The `key-provider` payload as measured, or undefined. */
  keyProviderPayload: string | undefined;
  /** The key provider it names; undefined when there is none or it is not dstack's JSON. */
  keyProvider: KeyProviderInfo | undefined;
  /** `sha256(PPID)`. */
  deviceId: string;
  /** What `Info` reports: the whole log. */
  runtime: BootAggregates;
  /** What the KMS saw when it released the keys: up to `boot-mr-done`, no key provider. */
  boot: BootAggregates;
  /** Intel's verdict on the platform, from the verified quote. */
  tcbStatus: string;
  advisoryIds: string[];
}

function sha256(...parts: Uint8Array[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hexlify(hash.digest());
}

function isZero(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0);
}

/** The runtime events dstack reads boot facts from: RTMR3 entries up to (not including) `system-ready`. */
function bootEvents(entries: readonly DstackEventLogEntry[]): DstackEventLogEntry[] {
  const runtime = entries.filter(
    (entry) => entry.imr === RUNTIME_EVENT_IMR && entry.event_type === DSTACK_RUNTIME_EVENT_TYPE,
  );
  const end = runtime.findIndex((entry) => entry.event === BOOT_EVENTS.systemReady);
  return end === -1 ? runtime : runtime.slice(0, end);
}

/** The payload of the first boot event named `name` (see {@link BOOT_EVENTS}), 0x-hex, or undefined. */
export function bootEventPayload(entries: readonly DstackEventLogEntry[], name: string): string | undefined {
  return payloadOf(bootEvents(entries), name);
}

function payloadOf(events: readonly DstackEventLogEntry[], name: string): string | undefined {
  const event = events.find((entry) => entry.event === name);
  return event === undefined ? undefined : hexlify(getBytes(`0x${event.event_payload}`));
}

/** RTMR3 replayed up to and including the first `boot-mr-done` (all of it when there is none), as dstack does. */
function bootTimeRtmr3(entries: readonly DstackEventLogEntry[]): Uint8Array {
  const runtime = entries.filter((entry) => entry.imr === RUNTIME_EVENT_IMR);
  const done = runtime.findIndex(
    (entry) => entry.event_type === DSTACK_RUNTIME_EVENT_TYPE && entry.event === BOOT_EVENTS.bootMrDone,
  );
  return replayRtmr(done === -1 ? runtime : runtime.slice(0, done + 1));
}

/** dstack's `mrSystem`: `sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ mr_key_provider)`; an empty payload means none. */
export function mrSystemOf(
  quote: Pick<VerifiedTdxQuote, "mrTd" | "rtmr0" | "rtmr1" | "rtmr2">,
  keyProviderPayload: BytesLike,
): string {
  const payload = getBytes(keyProviderPayload);
  const mrKeyProvider = payload.length === 0 ? new Uint8Array(32) : getBytes(sha256(payload));
  return sha256(quote.mrTd, quote.rtmr0, quote.rtmr1, quote.rtmr2, mrKeyProvider);
}

/** dstack's `mrAggregated`: MRTD, RTMR0-2 and `rtmr3`, then the three config registers when any is non-zero. */
export function mrAggregatedOf(
  quote: Pick<VerifiedTdxQuote, "mrTd" | "rtmr0" | "rtmr1" | "rtmr2" | "mrConfigId" | "mrOwner" | "mrOwnerConfig">,
  rtmr3: BytesLike,
): string {
  const parts = [quote.mrTd, quote.rtmr0, quote.rtmr1, quote.rtmr2, getBytes(rtmr3)];
  const config = [quote.mrConfigId, quote.mrOwner, quote.mrOwnerConfig];
  if (config.some((value) => !isZero(value))) parts.push(...config);
  return sha256(...parts);
}

/**
 * What a verified quote and its event log measure. Throws {@link ReplicationVerificationError} when the log is
 * malformed or does not replay to the quote's RTMR3 (then nothing in it is evidence).
 */
export function measureBoot(
  verified: VerifiedTdxQuote,
  eventLog: string | Uint8Array | readonly unknown[],
): MeasuredBoot {
  const entries = parseEventLog(eventLog);
  const replayed = replayRtmr(entries);
  if (hexlify(replayed) !== hexlify(verified.rtmr3)) {
    throw new ReplicationVerificationError(
      "rtmr-mismatch",
      `the event log replays RTMR3 to ${hexlify(replayed)}, the quote has ${hexlify(verified.rtmr3)}`,
    );
  }
  const events = bootEvents(entries);
  const keyProviderPayload = payloadOf(events, BOOT_EVENTS.keyProvider);
  let keyProvider: KeyProviderInfo | undefined;
  try {
    keyProvider = keyProviderPayload === undefined ? undefined : parseKeyProviderPayload(keyProviderPayload);
  } catch (error) {
    if (!(error instanceof DstackEvidenceError)) throw error;
  }
  return {
    appId: payloadOf(events, BOOT_EVENTS.appId),
    composeHash: payloadOf(events, BOOT_EVENTS.composeHash),
    instanceId: payloadOf(events, BOOT_EVENTS.instanceId),
    osImageHash: payloadOf(events, BOOT_EVENTS.osImageHash),
    keyProviderPayload,
    keyProvider,
    deviceId: sha256(verified.ppid),
    runtime: {
      mrSystem: mrSystemOf(verified, keyProviderPayload ?? "0x"),
      mrAggregated: mrAggregatedOf(verified, verified.rtmr3),
    },
    boot: { mrSystem: mrSystemOf(verified, "0x"), mrAggregated: mrAggregatedOf(verified, bootTimeRtmr3(entries)) },
    tcbStatus: verified.tcbStatus,
    advisoryIds: [...verified.advisoryIds],
  };
}

/** A field of a registration that its measurement does not support. */
export interface BootInfoRefusal {
  field: keyof AppBootInfo | "keyProvider";
  claimed: string;
  measured: string;
  /** One line, e.g. `mrSystem claimed 0x… but the quote measures 0x…`. */
  message: string;
}

export interface CompareBootInfoOptions {
  /** Which aggregates to hold `mrSystem` and `mrAggregated` to (default `runtime`: what `Info` reports). */
  view?: "runtime" | "boot";
  /** When given, the key provider must be the KMS whose `kmsInfo().caPubkey` this is. */
  kmsCaPublicKey?: BytesLike;
}

/** The claimed address as lower-case hex, or the claim itself when it is not an address. */
function addressHex(claimed: string): string {
  try {
    return getAddress(claimed).toLowerCase();
  } catch {
    return claimed.toLowerCase();
  }
}

/**
 * Every field of `claimed` that `measured` does not support, each named with both values; empty when the claim is
 * what the quote measures. `instanceId` may be the zero address only when no instance id was measured (dstack's
 * `no_instance_id`); advisory ids compare as sets.
 */
export function compareBootInfo(
  claimed: AppBootInfo,
  measured: MeasuredBoot,
  options: CompareBootInfoOptions = {},
): BootInfoRefusal[] {
  const refusals: BootInfoRefusal[] = [];
  const refuse = (field: BootInfoRefusal["field"], claim: string, measure: string | undefined, event?: string) => {
    const shown = measure ?? (event === undefined ? "nothing" : `no ${event} event`);
    refusals.push({
      field,
      claimed: claim,
      measured: shown,
      message: `${field} claimed ${claim} but the quote measures ${shown}`,
    });
  };
  const same = (claim: string, measure: string | undefined) =>
    measure !== undefined && claim.toLowerCase() === measure.toLowerCase();

  if (!same(addressHex(claimed.appId), measured.appId)) {
    refuse("appId", claimed.appId, measured.appId, BOOT_EVENTS.appId);
  }
  if (!same(claimed.composeHash, measured.composeHash)) {
    refuse("composeHash", claimed.composeHash, measured.composeHash, BOOT_EVENTS.composeHash);
  }
  const instance = measured.instanceId === "0x" ? ZeroAddress.toLowerCase() : measured.instanceId;
  if (!same(addressHex(claimed.instanceId), instance)) {
    refuse("instanceId", claimed.instanceId, measured.instanceId, BOOT_EVENTS.instanceId);
  }
  if (!same(claimed.deviceId, measured.deviceId)) refuse("deviceId", claimed.deviceId, measured.deviceId);
  const aggregates = measured[options.view ?? "runtime"];
  if (!same(claimed.mrAggregated, aggregates.mrAggregated)) {
    refuse("mrAggregated", claimed.mrAggregated, aggregates.mrAggregated);
  }
  if (!same(claimed.mrSystem, aggregates.mrSystem)) refuse("mrSystem", claimed.mrSystem, aggregates.mrSystem);
  if (!same(claimed.osImageHash, measured.osImageHash)) {
    refuse("osImageHash", claimed.osImageHash, measured.osImageHash, BOOT_EVENTS.osImageHash);
  }
  // The claimed strings are the node's (any bytes it chose): each is escaped and cut before it is put in a line.
  if (claimed.tcbStatus !== measured.tcbStatus) {
    refuse("tcbStatus", quoted(claimed.tcbStatus, 64), quoted(measured.tcbStatus, 64));
  }
  const claimedAdvisories = [...new Set(claimed.advisoryIds)].sort();
  const measuredAdvisories = [...new Set(measured.advisoryIds)].sort();
  if (claimedAdvisories.join(",") !== measuredAdvisories.join(",")) {
    refuse("advisoryIds", `[${shownList(claimedAdvisories)}]`, `[${shownList(measuredAdvisories)}]`);
  }
  if (options.kmsCaPublicKey !== undefined) {
    const expected = hexlify(getBytes(options.kmsCaPublicKey));
    if (measured.keyProvider === undefined) {
      refuse("keyProvider", `the KMS with CA key ${expected}`, measured.keyProviderPayload, BOOT_EVENTS.keyProvider);
    } else {
      const why = keyProviderRefusal(measured.keyProvider, expected);
      if (why !== undefined) {
        refuse(
          "keyProvider",
          `the KMS with CA key ${expected}`,
          `${measured.keyProvider.name} ${measured.keyProvider.idBytes} (${why})`,
        );
      }
    }
  }
  return refusals;
}
