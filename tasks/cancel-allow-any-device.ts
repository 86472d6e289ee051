import { allowAnyDeviceChange } from "../lib/appAuth.js";
import { defineAction } from "./shared/action.js";
import { cancelChange } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export default defineAction(async (args: AppOptions, hre) => {
  const session = await openApp(hre, parseAppOptions(args), true);
  return cancelChange(session, allowAnyDeviceChange());
});
