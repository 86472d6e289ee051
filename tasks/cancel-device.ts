import { deviceChange } from "../lib/appAuth.js";
import { parseBytes32, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { cancelChange } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface CancelDeviceArgs extends AppOptions {
  device?: string | undefined;
}

export default defineAction(async (args: CancelDeviceArgs, hre) => {
  const app = parseAppOptions(args);
  const deviceId = parseBytes32("device", requireOption("device", args.device, "the device id (bytes32)"));
  const session = await openApp(hre, app, true);
  return cancelChange(session, deviceChange(deviceId));
});
