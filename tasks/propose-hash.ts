import { composeHashChange, ZERO_BYTES32 } from "../lib/appAuth.js";
import { MissingOptionError, UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { proposeChange } from "./shared/changes.js";
import { composeHashFromOptions } from "./shared/composeInput.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface ProposeHashArgs extends AppOptions {
  hash?: string | undefined;
  file?: string | undefined;
  uri?: string | undefined;
}

export default defineAction(async (args: ProposeHashArgs, hre) => {
  const app = parseAppOptions(args);
  const uri = args.uri?.trim() ?? "";
  if (uri === "") {
    const why =
      args.file !== undefined
        ? `publish ${args.file} (these exact bytes) where guest agents and auditors can fetch it, and pass its URL`
        : "the contract stores where guest agents and auditors fetch the compose file, and refuses an empty one";
    throw new MissingOptionError("uri", why);
  }
  const { composeHash } = await composeHashFromOptions(args);
  if (composeHash === ZERO_BYTES32) throw new UserError('the zero hash is not a compose hash (it marks "no release")');

  const session = await openApp(hre, app, true);
  if (await session.appAuth.allowedComposeHashes(composeHash)) {
    const [current] = await session.appAuth.currentRelease();
    const hint =
      current === composeHash
        ? "it is the current release"
        : `to make it the current release again, use roll-back --hash ${composeHash}`;
    throw new UserError(`compose hash ${composeHash} is already allowed: ${hint}`);
  }
  return proposeChange(session, composeHashChange(composeHash), uri);
});
