import { unpinOsChange } from "../lib/appAuth.js";
import { defineAction } from "./shared/action.js";
import { activateChange } from "./shared/changes.js";
import { parseOsFieldArgs, type OsFieldArgs } from "./shared/os.js";
import { openApp } from "./shared/session.js";

export default defineAction(async (args: OsFieldArgs, hre) => {
  const { app, field } = parseOsFieldArgs(args);
  const session = await openApp(hre, app, true);
  return activateChange(session, unpinOsChange(field));
});
