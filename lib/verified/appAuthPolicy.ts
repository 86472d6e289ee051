/**
 * TimelockedAppAuth's `isAppAllowed(bootInfo)`, decided locally from proven storage instead of asked with `eth_call`.
 *
 * The rule is the contract's, in its order (contracts/TimelockedAppAuth.sol):
 *   1. `_requireTcbUpToDate` and the TCB status is not exactly "UpToDate" → "TCB status is not up to date";
 *   2. the compose hash is not in `_composeHashes` → "Compose hash not allowed";
 *   3. not `_allowAnyDevice` and the device is not in `_devices` → "Device not allowed";
 *   4. otherwise allowed, with an empty reason.
 * It reads nothing else: the flags' slot and one set position per compose hash and device asked about, all proven in
 * one `eth_getProof` against a verified header. test/lib/verified-policy.test.ts holds the local verdict to the
 * contract's own answer, on chosen cases and random ones.
 */
import { toUtf8Bytes } from "ethers";

import type { AppBootInfo } from "../bootInfo.js";
import type { VerifiedHeader } from "./header.js";
import type { VerifiedChainReader } from "./reader.js";
import { APP_AUTH_STORAGE, datedSetEntrySlot, setPositionSlot, unpack } from "./timelockedAppAuth.js";

/** What `isAppAllowed` reads, proven at one header, for the compose hashes and devices asked about. */
export interface ProvenPolicy {
  block: number;
  requireTcbUpToDate: boolean;
  allowAnyDevice: boolean;
  /** Lower-case compose hash → allowed. */
  composeHashes: Map<string, boolean>;
  /** Lower-case device id → listed. */
  devices: Map<string, boolean>;
}

/** The policy's answer to boot infos whose compose hashes and devices were not read: a reader's mistake. */
export class PolicyNotReadError extends Error {
  override name = "PolicyNotReadError";
}

/** Proves the policy's flags and whether each boot info's compose hash and device is in the contract's sets. */
export async function readProvenPolicy(
  reader: VerifiedChainReader,
  appAuth: string,
  header: VerifiedHeader,
  bootInfos: ReadonlyArray<Pick<AppBootInfo, "composeHash" | "deviceId">>,
): Promise<ProvenPolicy> {
  const S = APP_AUTH_STORAGE;
  const hashes = [...new Set(bootInfos.map((b) => b.composeHash.toLowerCase()))];
  const devices = [...new Set(bootInfos.map((b) => b.deviceId.toLowerCase()))];
  const proven = await reader.readStorage(
    appAuth,
    [
      S.allowAnyDevice.slot,
      ...hashes.map((hash) => datedSetEntrySlot(S.composeHashes.slot, hash)),
      ...devices.map((device) => setPositionSlot(S.devices.slot, device)),
    ],
    header,
  );
  if (!proven.account.exists) throw new Error(`no account at ${appAuth} at block ${header.number}`);
  const at = (slot: bigint) => proven.slots.get(slot) ?? 0n;
  const flags = at(S.allowAnyDevice.slot);
  return {
    block: header.number,
    requireTcbUpToDate: unpack(flags, S.requireTcbUpToDate) !== 0n,
    allowAnyDevice: unpack(flags, S.allowAnyDevice) !== 0n,
    composeHashes: new Map(hashes.map((hash) => [hash, at(datedSetEntrySlot(S.composeHashes.slot, hash)) !== 0n])),
    devices: new Map(devices.map((device) => [device, at(setPositionSlot(S.devices.slot, device)) !== 0n])),
  };
}

const UP_TO_DATE = "UpToDate";

/** `isAppAllowed(bootInfo)` as the contract answers it, from the proven policy: `[isAllowed, reason]`. */
export function isAppAllowedLocally(
  policy: ProvenPolicy,
  bootInfo: Pick<AppBootInfo, "composeHash" | "deviceId" | "tcbStatus">,
): [boolean, string] {
  const composeAllowed = policy.composeHashes.get(bootInfo.composeHash.toLowerCase());
  const deviceListed = policy.devices.get(bootInfo.deviceId.toLowerCase());
  if (composeAllowed === undefined || deviceListed === undefined) {
    throw new PolicyNotReadError(
      `the policy was not read for compose hash ${bootInfo.composeHash} and device ${bootInfo.deviceId}`,
    );
  }
  // The contract compares keccak256 of the bytes: the same as comparing the UTF-8 bytes themselves.
  if (policy.requireTcbUpToDate && !sameBytes(toUtf8Bytes(bootInfo.tcbStatus), toUtf8Bytes(UP_TO_DATE))) {
    return [false, "TCB status is not up to date"];
  }
  if (!composeAllowed) return [false, "Compose hash not allowed"];
  if (!policy.allowAnyDevice && !deviceListed) return [false, "Device not allowed"];
  return [true, ""];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
