import { shortenNoticeChange } from "../lib/appAuth.js";
import { UserError } from "../lib/errors.js";
import { formatDuration } from "../lib/format.js";
import { parseDuration, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing, proposeChange } from "./shared/changes.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface SetNoticeArgs extends AppOptions {
  notice?: string | undefined;
}

/** Lengthening the notice narrows (instant); shortening widens (proposed, waits the current notice). */
export default defineAction(async (args: SetNoticeArgs, hre) => {
  const app = parseAppOptions(args);
  const notice = parseDuration("notice", requireOption("notice", args.notice, "the new notice period, e.g. 7d"));
  const session = await openApp(hre, app, true);
  const [current, min, max] = await Promise.all([
    session.appAuth.noticePeriod(),
    session.appAuth.MIN_NOTICE_PERIOD(),
    session.appAuth.MAX_NOTICE_PERIOD(),
  ]);
  if (notice < min || notice > max) {
    throw new UserError(
      `--notice ${args.notice} (${formatDuration(notice)}) is outside the contract's bounds: ` +
        `${formatDuration(min)} to ${formatDuration(max)}`,
    );
  }
  if (notice === current) throw new UserError(`the notice period is already ${formatDuration(current)}`);
  if (notice > current) {
    const sent = await applyNarrowing(
      session,
      { method: "lengthenNoticePeriod", args: [notice] },
      `lengthen the notice period from ${formatDuration(current)} to ${formatDuration(notice)}`,
    );
    return { ...sent, mode: "lengthened" as const };
  }
  console.log(
    `Shortening the notice (${formatDuration(current)} -> ${formatDuration(notice)}) widens what may change, ` +
      "so it is proposed and waits the current notice.",
  );
  const proposed = await proposeChange(session, shortenNoticeChange(notice));
  return { ...proposed, mode: "proposed" as const };
});
