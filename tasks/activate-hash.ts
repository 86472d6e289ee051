import { composeHashChange } from "../lib/appAuth.js";
import { defineAction } from "./shared/action.js";
import { activateChange } from "./shared/changes.js";
import { composeHashFromOptions } from "./shared/composeInput.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface ActivateHashArgs extends AppOptions {
  hash?: string | undefined;
  file?: string | undefined;
}

export default defineAction(async (args: ActivateHashArgs, hre) => {
  const app = parseAppOptions(args);
  const { composeHash } = await composeHashFromOptions(args);
  const session = await openApp(hre, app, true);
  return activateChange(session, composeHashChange(composeHash));
});
