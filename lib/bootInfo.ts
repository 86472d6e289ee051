/**
 * dstack's `IAppAuth.AppBootInfo`: what a booting CVM reports, and what the KMS, an app's policy and the replication
 * registry judge. The field order is dstack's (it is part of the `isAppAllowed` selector). Hex strings for addresses
 * and bytes32.
 */
export interface AppBootInfo {
  appId: string;
  composeHash: string;
  instanceId: string;
  deviceId: string;
  mrAggregated: string;
  mrSystem: string;
  osImageHash: string;
  tcbStatus: string;
  advisoryIds: string[];
}

/** A boot info as ethers decodes it from a call or an event (a `Result`, whose arrays are Results too). */
export type DecodedBootInfo = Omit<AppBootInfo, "advisoryIds"> & { advisoryIds: Iterable<string> };

/** Copies a decoded boot info into plain values, in dstack's field order. */
export function bootInfoFromDecoded(b: DecodedBootInfo): AppBootInfo {
  return {
    appId: b.appId,
    composeHash: b.composeHash,
    instanceId: b.instanceId,
    deviceId: b.deviceId,
    mrAggregated: b.mrAggregated,
    mrSystem: b.mrSystem,
    osImageHash: b.osImageHash,
    tcbStatus: b.tcbStatus,
    advisoryIds: [...b.advisoryIds],
  };
}
