/**
 * The values an app pins its OS to (TimelockedAppAuth's `pinOs`), computed the way dstack's KMS computes the boot
 * info it passes to `isAppAllowed` when it releases an app's keys:
 *
 * - `mrSystem = sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ 32 zero bytes)`: the KMS asks before the CVM measures its key
 *   provider, so the last part is zero (measured-boot.ts's "boot" view), not the `sha256(key-provider)` that `Info`'s
 *   own `mr_system` includes once the CVM runs. It covers the firmware, the virtual hardware (vCPUs, memory, ACPI
 *   tables), the kernel, its command line and the initrd: one value per OS image and VM size.
 * - `osImageHash`: the image's digest, the same on every VM size; the CVM measures it into RTMR3 (`os-image-hash`).
 *
 * Read from the owner's own CVM: a quote and its event log (the event log must replay to the quote's RTMR3), or the
 * guest API's `Info` (its `tcb_info` registers and event log). Neither is verified against Intel here: the owner pins
 * what its own CVM reports, and every later boot is measured by the KMS itself.
 */
import type { BytesLike } from "ethers";

import { UserError } from "./errors.js";
import { infoHex, tcbInfoObject } from "./replication/dstack-node.js";
import { ReplicationVerificationError } from "./replication/errors.js";
import { parseEventLog, replayRtmr } from "./replication/event-log.js";
import { BOOT_EVENTS, bootEventPayload, measureBoot, mrSystemOf } from "./replication/measured-boot.js";
import { readTdRegisters } from "./replication/quote.js";

/** The two OS measurements of one boot, 0x-hex. */
export interface OsMeasurements {
  /** What the KMS passes as `mrSystem` when it releases the keys. */
  mrSystem: string;
  /** The `os-image-hash` the CVM measured; undefined when its log has no such event. */
  osImageHash: string | undefined;
}

/** The OS measurements of a TDX quote and the event log that replays to its RTMR3. */
export function osMeasurementsFromQuote(
  quote: BytesLike,
  eventLog: string | Uint8Array | readonly unknown[],
): OsMeasurements {
  try {
    const registers = readTdRegisters(quote);
    const measured = measureBoot({ ...registers, tcbStatus: "", advisoryIds: [], ppid: new Uint8Array() }, eventLog);
    return { mrSystem: measured.boot.mrSystem, osImageHash: measured.osImageHash };
  } catch (error) {
    if (error instanceof ReplicationVerificationError) throw new UserError(error.message, { cause: error });
    throw error;
  }
}

/**
 * The OS measurements of a running CVM's `Info` (the dstack guest API's answer, as JSON): the registers of its
 * `tcb_info`, whose event log must replay to its RTMR3, and its OS image hash.
 */
export function osMeasurementsFromInfo(info: unknown): OsMeasurements {
  if (info === null || typeof info !== "object") throw new UserError("the Info is not a JSON object");
  const record = info as Record<string, unknown>;
  const tcb = tcbInfoObject(record["tcb_info"]);
  const register = (name: string) => infoHex(`tcb_info.${name}`, tcb[name], 48);
  const rtmr3 = register("rtmr3");
  const rawLog: unknown = tcb["event_log"];
  let entries;
  try {
    entries = parseEventLog(typeof rawLog === "string" || Array.isArray(rawLog) ? rawLog : "");
  } catch (error) {
    throw new UserError(`the Info's tcb_info.event_log is not a dstack event log: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const replayed = `0x${Buffer.from(replayRtmr(entries)).toString("hex")}`;
  if (replayed !== rtmr3) {
    throw new UserError(`the Info's event log replays RTMR3 to ${replayed}, but its tcb_info.rtmr3 is ${rtmr3}`);
  }
  const mrSystem = mrSystemOf(
    {
      mrTd: bytes(register("mrtd")),
      rtmr0: bytes(register("rtmr0")),
      rtmr1: bytes(register("rtmr1")),
      rtmr2: bytes(register("rtmr2")),
    },
    "0x",
  );
  const measuredImage = bootEventPayload(entries, BOOT_EVENTS.osImageHash);
  const reported = record["os_image_hash"] ?? tcb["os_image_hash"];
  const reportedImage = reported === undefined || reported === "" ? undefined : infoHex("os_image_hash", reported, 32);
  if (measuredImage !== undefined && reportedImage !== undefined && measuredImage !== reportedImage) {
    throw new UserError(`the Info reports os_image_hash ${reportedImage} but its event log measured ${measuredImage}`);
  }
  return { mrSystem, osImageHash: measuredImage ?? reportedImage };
}

function bytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.slice(2), "hex"));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
