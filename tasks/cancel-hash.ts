import { composeHashChange } from "../lib/appAuth.js";
import { defineAction } from "./shared/action.js";
import { cancelChange } from "./shared/changes.js";
import { composeHashFromOptions } from "./shared/composeInput.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface CancelHashArgs extends AppOptions {
  hash?: string | undefined;
  file?: string | undefined;
}

export default defineAction(async (args: CancelHashArgs, hre) => {
  const app = parseAppOptions(args);
  const { composeHash } = await composeHashFromOptions(args);
  const session = await openApp(hre, app, true);
  return cancelChange(session, composeHashChange(composeHash));
});
