import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export default defineAction(async (args: AppOptions, hre) => {
  const session = await openApp(hre, parseAppOptions(args), true);
  if (!(await session.appAuth.allowAnyDevice()))
    throw new UserError("devices are already restricted to the listed ones");
  return applyNarrowing(session, { method: "restrictDevices", args: [] }, "allow only the listed devices");
});
