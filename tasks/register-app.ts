import { parseAddress, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { registerApp, requireAppAuthContract, resolveKms, type RegistrationResult } from "./shared/kms.js";
import { openNetwork } from "./shared/session.js";

export interface RegisterAppArgs {
  app?: string | undefined;
  kms?: string | undefined;
  from?: string | undefined;
}

export default defineAction(async (args: RegisterAppArgs, hre): Promise<RegistrationResult> => {
  const app = parseAddress("app", requireOption("app", args.app, "the address of the app's auth contract to register"));
  const kmsOption = args.kms === undefined ? undefined : parseAddress("kms", args.kms);
  const from = args.from === undefined ? undefined : parseAddress("from", args.from);

  const session = await openNetwork(hre, from, true);
  const kms = await resolveKms(hre, session, kmsOption);
  await requireAppAuthContract(session, app);
  console.log(`dstack KMS ${kms.address} on ${session.where}`);
  return registerApp(session, kms, app);
});
