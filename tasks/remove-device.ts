import { UserError } from "../lib/errors.js";
import { parseBytes32, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface RemoveDeviceArgs extends AppOptions {
  device?: string | undefined;
}

export default defineAction(async (args: RemoveDeviceArgs, hre) => {
  const app = parseAppOptions(args);
  const deviceId = parseBytes32("device", requireOption("device", args.device, "the device id (bytes32) to remove"));
  const session = await openApp(hre, app, true);
  if (!(await session.appAuth.allowedDeviceIds(deviceId))) throw new UserError(`device ${deviceId} is not listed`);
  if (await session.appAuth.allowAnyDevice()) {
    console.warn(
      "Note: any device is allowed right now, so removing it from the list changes nothing until restrict-devices.",
    );
  }
  return applyNarrowing(session, { method: "removeDevice", args: [deviceId] }, `stop allowing device ${deviceId}`);
});
