import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/**
 * Deploys the ReplicationRegistry of one app, bound for life to the app's TimelockedAppAuth (`appAuth`, required;
 * it is also the app id) and to dstack's KMS contract the app is registered with (`kms`, required; the registry
 * reads the KMS root from its `kmsInfo()` once, at deployment). The genesis member is set afterwards by the AppAuth's
 * owner (`setGenesis`), once the genesis node has registered for this registry's address.
 */
export default buildModule("ReplicationRegistry", (m) => {
  const appAuth = m.getParameter<string>("appAuth");
  const kms = m.getParameter<string>("kms");
  const registry = m.contract("ReplicationRegistry", [appAuth, kms]);
  return { registry };
});
