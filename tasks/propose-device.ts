import { deviceChange } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { parseBytes32, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { proposeChange } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface ProposeDeviceArgs extends AppOptions {
  device?: string | undefined;
}

export default defineAction(async (args: ProposeDeviceArgs, hre) => {
  const app = parseAppOptions(args);
  const deviceId = parseBytes32("device", requireOption("device", args.device, "the device id (bytes32) to allow"));
  const session = await openApp(hre, app, true);
  if (await session.appAuth.allowedDeviceIds(deviceId)) throw new UserError(`device ${deviceId} is already allowed`);
  return proposeChange(session, deviceChange(deviceId));
});
