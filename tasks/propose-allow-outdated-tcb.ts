import { allowOutdatedTcbChange } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { proposeChange } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export default defineAction(async (args: AppOptions, hre) => {
  const session = await openApp(hre, parseAppOptions(args), true);
  if (!(await session.appAuth.requireTcbUpToDate())) throw new UserError("an out-of-date TCB is already allowed");
  return proposeChange(session, allowOutdatedTcbChange());
});
