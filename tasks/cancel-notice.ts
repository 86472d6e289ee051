import { shortenNoticeChange } from "../lib/appAuth.js";
import { parseDuration, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { cancelChange } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface CancelNoticeArgs extends AppOptions {
  notice?: string | undefined;
}

export default defineAction(async (args: CancelNoticeArgs, hre) => {
  const app = parseAppOptions(args);
  const notice = parseDuration("notice", requireOption("notice", args.notice, "the proposed notice period, e.g. 3d"));
  const session = await openApp(hre, app, true);
  return cancelChange(session, shortenNoticeChange(notice));
});
