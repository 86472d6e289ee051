/**
 * TimelockedAppAuth's `isAppAllowed(bootInfo)`, decided locally from proven storage instead of asked with `eth_call`.
 *
 * The rule is the contract's, in its order (contracts/TimelockedAppAuth.sol):
 *   1. the policy word's `requireTcbUpToDate` and the TCB status is not exactly "UpToDate" → "TCB status is not up
 *      to date";
 *   2. the compose hash's word (`_composeHashEntries`) does not say allowed → "Compose hash not allowed";
 *   3. not the policy word's `allowAnyDevice` and the device is not in `_devices` → "Device not allowed";
 *   4. `mrSystem` pinned and the boot's `mrSystem` not among its values, or the OS image hash pinned and the boot's
 *      not among its values → "OS not allowed by the app";
 *   5. otherwise allowed, with an empty reason.
 * It reads nothing else: the policy word and one word per compose hash, device and OS measurement asked
 * about, all proven in one `eth_getProof` against a verified header. test/lib/verified-policy.test.ts holds the local verdict to the
 * contract's own answer, on chosen cases and random ones.
 */
import { toUtf8Bytes } from "ethers";

import type { AppBootInfo } from "../bootInfo.js";
import type { VerifiedHeader } from "./header.js";
import type { VerifiedChainReader } from "./reader.js";
import {
  APP_AUTH_STORAGE,
  composeHashAllowed,
  composeHashEntrySlot,
  osFieldPinned,
  osMeasurementPositionSlot,
  setPositionSlot,
  STRUCT_MEMBERS,
  unpack,
} from "./timelockedAppAuth.js";

/** The fields of a boot info the policy decides on. */
export type PolicyBootInfo = Pick<AppBootInfo, "composeHash" | "deviceId" | "mrSystem" | "osImageHash">;

/** What `isAppAllowed` reads, proven at one header, for the compose hashes and devices asked about. */
export interface ProvenPolicy {
  block: number;
  requireTcbUpToDate: boolean;
  allowAnyDevice: boolean;
  /** Lower-case compose hash → allowed. */
  composeHashes: Map<string, boolean>;
  /** Lower-case device id → listed. */
  devices: Map<string, boolean>;
  /** Whether the app pins `mrSystem`, and lower-case value → pinned. */
  mrSystemPinned: boolean;
  mrSystems: Map<string, boolean>;
  /** Whether the app pins the OS image hash, and lower-case value → pinned. */
  osImageHashPinned: boolean;
  osImageHashes: Map<string, boolean>;
}

/** The policy's answer to boot infos whose compose hashes and devices were not read: a reader's mistake. */
export class PolicyNotReadError extends Error {
  override name = "PolicyNotReadError";
}

/**
 * Proves the policy's flags and whether each boot info's compose hash, device and OS measurements are in the
 * contract's sets.
 */
export async function readProvenPolicy(
  reader: VerifiedChainReader,
  appAuth: string,
  header: VerifiedHeader,
  bootInfos: readonly PolicyBootInfo[],
): Promise<ProvenPolicy> {
  const S = APP_AUTH_STORAGE;
  const distinct = (values: string[]) => [...new Set(values.map((value) => value.toLowerCase()))];
  const hashes = distinct(bootInfos.map((b) => b.composeHash));
  const devices = distinct(bootInfos.map((b) => b.deviceId));
  const mrSystems = distinct(bootInfos.map((b) => b.mrSystem));
  const images = distinct(bootInfos.map((b) => b.osImageHash));
  const proven = await reader.readStorage(
    appAuth,
    [
      S.policy.slot,
      ...hashes.map(composeHashEntrySlot),
      ...devices.map((device) => setPositionSlot(S.devices.slot, device)),
      ...mrSystems.map((value) => osMeasurementPositionSlot("mrSystem", value)),
      ...images.map((value) => osMeasurementPositionSlot("osImageHash", value)),
    ],
    header,
  );
  if (!proven.account.exists) throw new Error(`no account at ${appAuth} at block ${header.number}`);
  const at = (slot: bigint) => proven.slots.get(slot) ?? 0n;
  const policy = at(S.policy.slot);
  return {
    block: header.number,
    requireTcbUpToDate: unpack(policy, STRUCT_MEMBERS.Policy.requireTcbUpToDate) !== 0n,
    allowAnyDevice: unpack(policy, STRUCT_MEMBERS.Policy.allowAnyDevice) !== 0n,
    composeHashes: new Map(hashes.map((hash) => [hash, composeHashAllowed(at(composeHashEntrySlot(hash)))])),
    devices: new Map(devices.map((device) => [device, at(setPositionSlot(S.devices.slot, device)) !== 0n])),
    mrSystemPinned: osFieldPinned(policy, "mrSystem"),
    mrSystems: new Map(mrSystems.map((v) => [v, at(osMeasurementPositionSlot("mrSystem", v)) !== 0n])),
    osImageHashPinned: osFieldPinned(policy, "osImageHash"),
    osImageHashes: new Map(images.map((v) => [v, at(osMeasurementPositionSlot("osImageHash", v)) !== 0n])),
  };
}

const UP_TO_DATE = "UpToDate";

/** `isAppAllowed(bootInfo)` as the contract answers it, from the proven policy: `[isAllowed, reason]`. */
export function isAppAllowedLocally(
  policy: ProvenPolicy,
  bootInfo: PolicyBootInfo & Pick<AppBootInfo, "tcbStatus">,
): [boolean, string] {
  const composeAllowed = policy.composeHashes.get(bootInfo.composeHash.toLowerCase());
  const deviceListed = policy.devices.get(bootInfo.deviceId.toLowerCase());
  const mrSystemPinned = policy.mrSystems.get(bootInfo.mrSystem.toLowerCase());
  const imagePinned = policy.osImageHashes.get(bootInfo.osImageHash.toLowerCase());
  if (
    composeAllowed === undefined ||
    deviceListed === undefined ||
    mrSystemPinned === undefined ||
    imagePinned === undefined
  ) {
    throw new PolicyNotReadError(
      `the policy was not read for compose hash ${bootInfo.composeHash}, device ${bootInfo.deviceId}, ` +
        `mrSystem ${bootInfo.mrSystem} and OS image ${bootInfo.osImageHash}`,
    );
  }
  // The contract compares keccak256 of the bytes: the same as comparing the UTF-8 bytes themselves.
  if (policy.requireTcbUpToDate && !sameBytes(toUtf8Bytes(bootInfo.tcbStatus), toUtf8Bytes(UP_TO_DATE))) {
    return [false, "TCB status is not up to date"];
  }
  if (!composeAllowed) return [false, "Compose hash not allowed"];
  if (!policy.allowAnyDevice && !deviceListed) return [false, "Device not allowed"];
  if ((policy.mrSystemPinned && !mrSystemPinned) || (policy.osImageHashPinned && !imagePinned)) {
    return [false, "OS not allowed by the app"];
  }
  return [true, ""];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
