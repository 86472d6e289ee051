import { OS_FIELDS, osMeasurementChange } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { proposeChange } from "./shared/changes.js";
import { parseOsValueArgs, type OsValueArgs } from "./shared/os.js";
import { openApp } from "./shared/session.js";

export default defineAction(async (args: OsValueArgs, hre) => {
  const { app, field, value } = parseOsValueArgs(args);
  const session = await openApp(hre, app, true);
  const { label, option } = OS_FIELDS[field];
  if (!(await session.appAuth.osPinned(field))) {
    throw new UserError(
      `the ${label} is not pinned, so every value is allowed already; to pin it (at once): ` +
        `npx hardhat pin-os --app ${session.address} --field ${option} --value ${value} --network ${session.networkName}`,
    );
  }
  if (await session.appAuth.allowedOsMeasurement(field, value)) {
    throw new UserError(`${label} ${value} is already allowed by the app's OS pin`);
  }
  return proposeChange(session, osMeasurementChange(field, value));
});
