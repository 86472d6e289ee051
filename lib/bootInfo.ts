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
