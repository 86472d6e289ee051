import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export default defineAction(async (args: AppOptions, hre) => {
  const session = await openApp(hre, parseAppOptions(args), true);
  if (await session.appAuth.requireTcbUpToDate()) throw new UserError("an up-to-date TCB is already required");
  return applyNarrowing(session, { method: "requireUpToDateTcb", args: [] }, 'refuse CVMs whose TCB is not "UpToDate"');
});
