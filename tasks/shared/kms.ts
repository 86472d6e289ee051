/**
 * Finding dstack's KMS (`--kms`, or `config/kms.json` by chain id) and registering an app with it, shared by
 * `register-app` and `deploy-app`.
 */
import path from "node:path";

import type { ContractTransactionResponse } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

import { APP_AUTH_INTERFACE_ID } from "../../lib/appAuth.js";
import type { KmsRegistration } from "../../lib/deployments.js";
import { isDstackAppAuth } from "../../lib/devproof-snapshot.js";
import { UserError } from "../../lib/errors.js";
import { connectKms, KMS_CONFIG_FILE, kmsForChain, type Kms } from "../../lib/kms.js";
import { signerOf, type NetworkSession } from "./session.js";

/** The KMS to use: the `--kms` address when given, else the one `config/kms.json` lists for the chain. */
export async function resolveKms(
  hre: HardhatRuntimeEnvironment,
  session: NetworkSession,
  kmsOption: string | undefined,
): Promise<Kms> {
  let address = kmsOption;
  if (address === undefined) {
    const file = path.join(hre.config.paths.root, KMS_CONFIG_FILE);
    const entry = await kmsForChain(file, Number(session.chainId));
    console.log(`KMS from ${KMS_CONFIG_FILE}: ${entry.name}, ${entry.address}`);
    if (entry.note !== "") console.log(`  Note: ${entry.note}`);
    address = entry.address;
  }
  return connectKms(address, session.signer ?? session.ethers.provider, session.where);
}

/** Refuses an app address without code, or whose contract is not a dstack AppAuth the KMS could ask. */
export async function requireAppAuthContract(session: NetworkSession, app: string): Promise<void> {
  if ((await session.ethers.provider.getCode(app)) === "0x") {
    throw new UserError(`no contract at --app ${app} on ${session.where}: check --app and --network`);
  }
  if (!(await isDstackAppAuth(session.ethers.provider, app))) {
    throw new UserError(
      `the contract at ${app} on ${session.where} does not implement dstack's IAppAuth ` +
        `(supportsInterface(${APP_AUTH_INTERFACE_ID}) is not true, and isAppAllowed(bootInfo) does not answer): ` +
        "the KMS could never ask it; check --app",
    );
  }
}

export interface RegistrationResult extends KmsRegistration {
  alreadyRegistered: boolean;
}

/**
 * Registers `app` with the KMS (`registerApp` is permissionless), unless `registeredApps(app)` is already true, in
 * which case nothing is sent and the output says so.
 */
export async function registerApp(session: NetworkSession, kms: Kms, app: string): Promise<RegistrationResult> {
  if (await kms.registeredApps(app)) {
    const blockNumber = await session.ethers.provider.getBlockNumber();
    console.log(`App ${app} is already registered with KMS ${kms.address}: nothing sent.`);
    return {
      kms: kms.address,
      app,
      txHash: null,
      blockNumber: null,
      seenRegisteredAtBlock: blockNumber,
      alreadyRegistered: true,
    };
  }
  const signer = signerOf(session);
  console.log(
    `Registering app ${app} with KMS ${kms.address} (registerApp, anyone may call it), from ${signer.address}`,
  );
  let response: ContractTransactionResponse;
  try {
    response = (await kms.contract.connect(signer).getFunction("registerApp")(app)) as ContractTransactionResponse;
  } catch (error) {
    const reason = (error as { reason?: unknown }).reason;
    if (typeof reason === "string") throw new UserError(`registerApp would revert with "${reason}"; nothing was sent`);
    throw error;
  }
  console.log(`Transaction ${response.hash} sent, waiting for it to be mined...`);
  const receipt = await response.wait();
  if (receipt === null) throw new UserError(`transaction ${response.hash} was dropped or replaced`);
  console.log(`Mined in block ${receipt.blockNumber}: app ${app} is registered with KMS ${kms.address}.`);
  return { kms: kms.address, app, txHash: response.hash, blockNumber: receipt.blockNumber, alreadyRegistered: false };
}
