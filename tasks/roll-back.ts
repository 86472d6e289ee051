import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { composeHashFromOptions } from "./shared/composeInput.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface RollBackArgs extends AppOptions {
  hash?: string | undefined;
  file?: string | undefined;
}

export default defineAction(async (args: RollBackArgs, hre) => {
  const app = parseAppOptions(args);
  const { composeHash } = await composeHashFromOptions(args);
  const session = await openApp(hre, app, true);
  if (!(await session.appAuth.allowedComposeHashes(composeHash))) {
    throw new UserError(
      `compose hash ${composeHash} is not allowed: a roll-back can only point at an allowed hash (a new one must be proposed)`,
    );
  }
  const [current] = await session.appAuth.currentRelease();
  if (current === composeHash) throw new UserError(`compose hash ${composeHash} is already the current release`);
  return applyNarrowing(
    session,
    { method: "rollBackTo", args: [composeHash] },
    `make the already-allowed compose hash ${composeHash} the current release (was ${current})`,
  );
});
