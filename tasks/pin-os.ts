import { OS_FIELDS } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { parseOsValueArgs, type OsValueArgs } from "./shared/os.js";
import { openApp } from "./shared/session.js";

export default defineAction(async (args: OsValueArgs, hre) => {
  const { app, field, value } = parseOsValueArgs(args);
  const session = await openApp(hre, app, true);
  const label = OS_FIELDS[field].label;
  if (await session.appAuth.osPinned(field)) {
    throw new UserError(
      `the ${label} is already pinned: another value widens what may boot, so it waits the notice: ` +
        `npx hardhat propose-os --app ${session.address} --field ${OS_FIELDS[field].option} --value ${value} ` +
        `--network ${session.networkName}`,
    );
  }
  return applyNarrowing(
    session,
    { method: "pinOs", args: [field, value] },
    `pin the ${label} to ${value} (every other ${label} is refused from now on; more values wait the notice)`,
  );
});
