import { kmsRootOf, readKmsInfo, type KmsInfo } from "../lib/dstack/kms-info.js";
import { isContractRefusal } from "../lib/contractRefusal.js";
import { UserError } from "../lib/errors.js";
import { parseAddress } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { resolveKms } from "./shared/kms.js";
import { openNetwork } from "./shared/session.js";

export interface KmsInfoArgs {
  kms?: string | undefined;
}

export interface KmsInfoResult extends KmsInfo {
  kms: string;
  rootAddress: string;
  /** What an app-compose.json's `key_provider_id` must be for its CVMs to take keys from this KMS only. */
  keyProviderId: string;
}

/**
 * Prints what a dstack KMS publishes about its keys (`kmsInfo()`): the root key every key signature chain ends in,
 * and the CA key a CVM's `key-provider` event names, which is the `key_provider_id` an app-compose.json pins.
 * Read-only.
 */
export default defineAction(async (args: KmsInfoArgs, hre): Promise<KmsInfoResult> => {
  const kmsOption = args.kms === undefined ? undefined : parseAddress("kms", args.kms);
  const session = await openNetwork(hre, undefined, false);
  const kms = await resolveKms(hre, session, kmsOption);
  const info = await readKmsInfo(session.ethers.provider, kms.address).catch((error: unknown) => {
    if (!isContractRefusal(error)) throw error;
    throw new UserError(
      `the KMS at ${kms.address} on ${session.where} does not answer kmsInfo(): it publishes no keys to check against`,
    );
  });
  const keyProviderId = info.caPubkey.replace(/^0x/, "").toLowerCase();
  if (info.k256Pubkey === "0x" || keyProviderId === "") {
    throw new UserError(
      `the KMS at ${kms.address} on ${session.where} publishes no keys yet (kmsInfo() is empty: its owner has not set it)`,
    );
  }
  const root = kmsRootOf(info);
  console.log(`dstack KMS ${kms.address} on ${session.where} (kmsInfo(), set by the KMS contract's owner)`);
  console.log(
    `  root key:  ${root.publicKey} (address ${root.address}): every key signature chain it issues ends here`,
  );
  console.log(`  CA key:    ${info.caPubkey}`);
  console.log("To take keys from this KMS only, an app-compose.json pins:");
  console.log(`  "key_provider_id": "${keyProviderId}"`);
  return { ...info, kms: kms.address, rootAddress: root.address, keyProviderId };
});
