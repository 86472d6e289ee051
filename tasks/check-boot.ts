import { Contract, ZeroHash } from "ethers";

import { NegativeAnswer, UserError } from "../lib/errors.js";
import {
  APP_AUTH_ABI,
  askIsAppAllowed,
  connectKms,
  makeBootInfo,
  type AppBootInfo,
  type BootCheck,
} from "../lib/kms.js";
import { parseAddress, parseBytes32, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { requireAppAuthContract } from "./shared/kms.js";
import { openNetwork } from "./shared/session.js";

export interface CheckBootArgs {
  app?: string | undefined;
  kms?: string | undefined;
  composeHash?: string | undefined;
  device?: string | undefined;
  osImage?: string | undefined;
  tcbStatus: string;
  instance: string;
}

export interface CheckBootResult extends BootCheck {
  bootInfo: AppBootInfo;
  /** The contract that answered: the KMS, or the app's auth contract. */
  askedContract: string;
}

/**
 * Asks the KMS (with --kms), or the app's auth contract directly, whether a CVM with this boot info would get its
 * keys. Prints "allowed" or "denied: <dstack's reason, verbatim>"; a denial makes the command exit with code 1.
 */
export default defineAction(async (args: CheckBootArgs, hre): Promise<CheckBootResult> => {
  const app = parseAddress("app", requireOption("app", args.app, "the app id: the address of its auth contract"));
  const kms = args.kms === undefined ? undefined : parseAddress("kms", args.kms);
  const bootInfo = makeBootInfo({
    appId: app,
    composeHash: parseBytes32(
      "compose-hash",
      requireOption("compose-hash", args.composeHash, "the compose hash the CVM reports (sha256 of app-compose.json)"),
    ),
    deviceId: parseBytes32("device", requireOption("device", args.device, "the device id of the TDX machine")),
    osImageHash:
      args.osImage !== undefined
        ? parseBytes32("os-image", args.osImage)
        : kms === undefined
          ? ZeroHash
          : parseBytes32("os-image", requireOption("os-image", args.osImage, "the KMS checks the OS image first")),
    tcbStatus: args.tcbStatus.trim(),
    instanceId: parseAddress("instance", args.instance),
  });
  if (bootInfo.tcbStatus === "")
    throw new UserError('--tcb-status is empty: pass the status the quote verifier gave, e.g. "UpToDate"');

  const session = await openNetwork(hre, undefined, false);
  let target: Contract;
  if (kms === undefined) {
    await requireAppAuthContract(session, app);
    target = new Contract(app, APP_AUTH_ABI, session.ethers.provider);
  } else {
    target = (await connectKms(kms, session.ethers.provider, session.where)).contract;
  }
  console.log(
    kms === undefined
      ? `Asking the app's auth contract ${app} on ${session.where} (the KMS would ask it after its own checks)`
      : `Asking dstack KMS ${kms} on ${session.where}, as it does at every boot`,
  );
  printBootInfo(bootInfo);

  let answer: BootCheck;
  try {
    answer = await askIsAppAllowed(target, bootInfo);
  } catch (error) {
    const reason = (error as { reason?: unknown }).reason;
    throw new UserError(
      `isAppAllowed reverted${typeof reason === "string" ? ` with "${reason}"` : ""}: a dstack KMS would refuse ` +
        "the keys (it does not catch a revert of the app's contract)",
    );
  }
  if (answer.allowed) {
    console.log("allowed");
    return { ...answer, bootInfo, askedContract: kms ?? app };
  }
  console.log(`denied: ${answer.reason}`);
  throw new NegativeAnswer(`denied: ${answer.reason}`);
});

function printBootInfo(bootInfo: AppBootInfo): void {
  console.log(`  appId:        ${bootInfo.appId}`);
  console.log(`  composeHash:  ${bootInfo.composeHash}`);
  console.log(`  deviceId:     ${bootInfo.deviceId}`);
  console.log(`  osImageHash:  ${bootInfo.osImageHash}`);
  console.log(`  tcbStatus:    ${bootInfo.tcbStatus}`);
  console.log(`  instanceId:   ${bootInfo.instanceId}`);
}
