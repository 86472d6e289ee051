import { osMeasurementChange } from "../lib/appAuth.js";
import { defineAction } from "./shared/action.js";
import { cancelChange } from "./shared/changes.js";
import { parseOsValueArgs, type OsValueArgs } from "./shared/os.js";
import { openApp } from "./shared/session.js";

export default defineAction(async (args: OsValueArgs, hre) => {
  const { app, field, value } = parseOsValueArgs(args);
  const session = await openApp(hre, app, true);
  return cancelChange(session, osMeasurementChange(field, value));
});
