import { composeHashChange, readComposeHashes } from "../lib/appAuth.js";
import { defineAction } from "./shared/action.js";
import { activateChange } from "./shared/changes.js";
import { composeHashFromOptions } from "./shared/composeInput.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface ActivateHashArgs extends AppOptions {
  hash?: string | undefined;
  file?: string | undefined;
  retireOthers?: boolean;
}

export default defineAction(async (args: ActivateHashArgs, hre) => {
  const app = parseAppOptions(args);
  const { composeHash } = await composeHashFromOptions(args);
  const session = await openApp(hre, app, true);
  // Every hash allowed now is older than the one being activated: retiring them all leaves no way back.
  const retire =
    args.retireOthers === true
      ? (await readComposeHashes(session.appAuth, await session.ethers.provider.getBlockNumber())).map(
          (entry) => entry.composeHash,
        )
      : [];
  return activateChange(session, composeHashChange(composeHash), retire);
});
