import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import { MODULE_ID, RECOMMENDED_NOTICE_SECONDS } from "../../lib/deployParameters.js";

export { RECOMMENDED_NOTICE_SECONDS };

/**
 * Deploys one app's TimelockedAppAuth. Every constructor input is a parameter; per-network values live in
 * `ignition/parameters/<network>.json`, which `npx hardhat deploy-app` checks (lib/deployParameters.ts) before it
 * deploys.
 */
export default buildModule(MODULE_ID, (m) => {
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
