import { shortenNoticeChange } from "../lib/appAuth.js";
import { parseDuration, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { activateChange } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface ActivateNoticeArgs extends AppOptions {
  notice?: string | undefined;
}

export default defineAction(async (args: ActivateNoticeArgs, hre) => {
  const app = parseAppOptions(args);
  const notice = parseDuration("notice", requireOption("notice", args.notice, "the proposed notice period, e.g. 3d"));
  const session = await openApp(hre, app, true);
  return activateChange(session, shortenNoticeChange(notice));
});
