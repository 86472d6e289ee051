import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/** Seven days: the ERC-733 / L2BEAT Stage-1 notice, and the recommended production default. */
export const RECOMMENDED_NOTICE_SECONDS = 7n * 24n * 60n * 60n;

/**
 * Deploys one app's TimelockedAppAuth. Every constructor input is a parameter; per-network values live in
 * `ignition/parameters/<network>.json`.
 */
export default buildModule("TimelockedAppAuth", (m) => {
  const owner = m.getParameter("owner", m.getAccount(0));
  const noticePeriod = m.getParameter("noticePeriod", RECOMMENDED_NOTICE_SECONDS);
  const initialComposeHash = m.getParameter(
    "initialComposeHash",
    "0x0000000000000000000000000000000000000000000000000000000000000000",
  );
  const initialComposeUri = m.getParameter("initialComposeUri", "");
  const initialDevices = m.getParameter<string[]>("initialDevices", []);
  const allowAnyDevice = m.getParameter("allowAnyDevice", false);
  const requireTcbUpToDate = m.getParameter("requireTcbUpToDate", true);

  const appAuth = m.contract("TimelockedAppAuth", [
    owner,
    noticePeriod,
    initialComposeHash,
    initialComposeUri,
    initialDevices,
    allowAnyDevice,
    requireTcbUpToDate,
  ]);

  return { appAuth };
});
