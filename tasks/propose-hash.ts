import { styleText } from "node:util";

import { composeHashChange, ZERO_BYTES32 } from "../lib/appAuth.js";
import { assessComposeUri, checkPublishedCompose, composeFileProblems, howBytesDiffer } from "../lib/composeCheck.js";
import { MissingOptionError, UserError } from "../lib/errors.js";
import { defineAction } from "./shared/action.js";
import { proposeChange, type ProposeResult } from "./shared/changes.js";
import { composeHashFromOptions } from "./shared/composeInput.js";
import { openApp, parseAppOptions, type AppOptions } from "./shared/session.js";

export interface ProposeHashArgs extends AppOptions {
  hash?: string | undefined;
  file?: string | undefined;
  uri?: string | undefined;
  allowInvalidJson?: boolean | undefined;
}

/** What checking --uri from here may take: a guest agent's default fetch timeout, and its largest file setting. */
export const URI_CHECK_LIMITS = { timeoutMs: 30_000, maxBytes: 64 * 1024 * 1024 };

/**
 * Proposes a compose hash and the URI of its compose file. A proposal is public and cannot be taken back unseen, so
 * everything that can be checked from here is checked before anything is sent: the file is an app-compose.json dstack
 * can run (--allow-invalid-json overrides, with a warning), the URI is an absolute URL without credentials, and the
 * bytes at the URI (fetched as guest agents fetch them: http, https, file) hash to the compose hash proposed. A URI
 * that cannot be fetched from here is a warning, not a refusal: the file may be published before the notice ends.
 */
export default defineAction(async (args: ProposeHashArgs, hre): Promise<ProposeResult> => {
  const app = parseAppOptions(args);
  const uri = args.uri?.trim() ?? "";
  if (uri === "") {
    const why =
      args.file !== undefined
        ? `publish ${args.file} (these exact bytes) where guest agents and auditors can fetch it, and pass its URL`
        : "the contract stores where guest agents and auditors fetch the compose file, and refuses an empty one";
    throw new MissingOptionError("uri", why);
  }
  const target = assessComposeUri("uri", uri);
  const { composeHash, file, bytes } = await composeHashFromOptions(args);
  if (composeHash === ZERO_BYTES32) throw new UserError('the zero hash is not a compose hash (it marks "no release")');
  const allowInvalid = args.allowInvalidJson === true;
  if (bytes !== undefined) checkContent(`--file ${file}`, bytes, allowInvalid);
  for (const warning of target.warnings) warn(warning);

  // The network and the signer first: a missing key or a dead RPC is known at once, before a fetch that may take 30 s.
  const session = await openApp(hre, app, true);
  if (target.fetchable) {
    console.log(`Checking that ${uri} serves the bytes whose sha256 is ${composeHash}...`);
    const published = await checkPublishedCompose(uri, composeHash, URI_CHECK_LIMITS);
    switch (published.found) {
      case "mismatch": {
        const difference = bytes === undefined ? undefined : howBytesDiffer(bytes, published.bytes);
        throw new UserError(
          `the compose file at ${uri} is not the one proposed: its bytes hash to ${published.sha256}, but the compose ` +
            `hash proposed is ${composeHash}${file === undefined ? "" : ` (the bytes of ${file})`}` +
            `${difference === undefined ? "" : `; they differ ${difference}: upload the file unchanged, as binary`}; ` +
            "guest agents would refuse it and auditors could not check the release: publish the exact bytes there, " +
            "or pass the URI where they are; nothing was sent",
        );
      }
      case "match":
        console.log(`Checked: ${uri} serves exactly these bytes.`);
        // With --hash, the published bytes are the only copy of the file here: check them as --file would be.
        if (bytes === undefined) checkContent(`the compose file at ${uri}`, published.bytes, allowInvalid);
        break;
      case "unreachable":
        warn(
          `could not check --uri from here (${published.reason}). Before the proposal is ready, make sure ${uri} ` +
            `serves the exact bytes whose sha256 is ${composeHash}: guest agents refuse anything else, and auditors ` +
            "need it to read the release",
        );
        break;
    }
  } else if (bytes === undefined) {
    warn(`the compose file behind ${composeHash} was not checked at all: give --file, or a URI that can be fetched`);
  }

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

/** Refuses a compose file dstack cannot run, unless --allow-invalid-json says to propose it anyway (with a warning). */
function checkContent(source: string, bytes: Uint8Array, allowInvalid: boolean): void {
  const problems = composeFileProblems(bytes);
  if (problems.length === 0) return;
  const what = `${source} is not a valid app-compose.json (${problems.join("; ")})`;
  if (!allowInvalid) {
    throw new UserError(
      `${what}: dstack cannot run it, and a proposal is public and waits its notice; fix the file, or pass ` +
        "--allow-invalid-json to propose it anyway; nothing was sent",
    );
  }
  warn(`${what}; proposing it anyway, as --allow-invalid-json asks: dstack cannot run it as it is`);
}

function warn(message: string): void {
  console.warn(styleText("yellow", `Warning: ${message}`));
}
