import { OS_FIELDS, readOsMeasurements } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { parseOsValueArgs, type OsValueArgs } from "./shared/os.js";
import { openApp } from "./shared/session.js";

export default defineAction(async (args: OsValueArgs, hre) => {
  const { app, field, value } = parseOsValueArgs(args);
  const session = await openApp(hre, app, true);
  const { label, option } = OS_FIELDS[field];
  const values = (await readOsMeasurements(session.appAuth, field, "latest")).map((v) => v.toLowerCase());
  if (!values.includes(value)) throw new UserError(`${label} ${value} is not among the app's pinned values`);
  if (values.length === 1) {
    throw new UserError(
      `${value} is the last pinned ${label}: removing it would allow any ${label}, which widens what may boot, so ` +
        `it waits the notice: npx hardhat propose-unpin-os --app ${session.address} --field ${option} ` +
        `--network ${session.networkName}`,
    );
  }
  return applyNarrowing(
    session,
    { method: "removeOsMeasurement", args: [field, value] },
    `stop allowing ${label} ${value}`,
  );
});
