import { UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { applyNarrowing } from "./shared/changes.js";
import { composeHashFromOptions } from "./shared/composeInput.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface RemoveHashArgs extends AppOptions {
  hash?: string | undefined;
  file?: string | undefined;
}

export default defineAction(async (args: RemoveHashArgs, hre) => {
  const app = parseAppOptions(args);
  const { composeHash } = await composeHashFromOptions(args);
  const session = await openApp(hre, app, true);
  if (!(await session.appAuth.allowedComposeHashes(composeHash))) {
    throw new UserError(`compose hash ${composeHash} is not allowed, so there is nothing to remove`);
  }
  const [current] = await session.appAuth.currentRelease();
  if (current === composeHash) {
    console.warn(
      "Note: this is the current release. Guest agents will see it is no longer allowed and stop it; " +
        "roll back to another allowed hash (roll-back) or activate a new one.",
    );
  }
  return applyNarrowing(
    session,
    { method: "removeComposeHash", args: [composeHash] },
    `stop allowing compose hash ${composeHash}`,
  );
});
