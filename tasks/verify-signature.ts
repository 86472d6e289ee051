import { readFile } from "node:fs/promises";

import { hexlify, toUtf8Bytes } from "ethers";

import {
  DstackEvidenceError,
  compressPublicKey,
  kmsRootOf,
  personalDigest,
  readKmsInfo,
  recoverEthereumSigner,
  verifySignedMessage,
  type KmsRoot,
  type VerifiedSignedMessage,
} from "../lib/dstack/index.js";
import { isContractRefusal } from "../lib/contractRefusal.js";
import { InvalidOptionError, NegativeAnswer, UserError } from "../lib/errors.js";
import { atMostOneOf, exactlyOneOf, parseAddress, parseBytes32, requireOption } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { resolveKms } from "./shared/kms.js";
import { openNetwork } from "./shared/session.js";

export interface VerifySignatureArgs {
  message?: string | undefined;
  file?: string | undefined;
  digest?: string | undefined;
  signature?: string | undefined;
  chain?: string | undefined;
  app?: string | undefined;
  purpose?: string | undefined;
  derivedKey?: string | undefined;
  appKey?: string | undefined;
  kms?: string | undefined;
  kmsRoot?: string | undefined;
}

export interface VerifySignatureResult extends VerifiedSignedMessage {
  /** Where the KMS root came from: `kmsInfo()` of this KMS contract, or --kms-root. */
  kms: string | undefined;
}

/** The 32-byte digest the signature is over: EIP-191 of the message or file, or --digest as given. */
async function digestOf(args: VerifySignatureArgs): Promise<{ digest: string; what: string }> {
  const given = exactlyOneOf(
    { message: args.message, file: args.file, digest: args.digest },
    "what was signed: a text (--message), a file's exact bytes (--file), or a 32-byte digest (--digest)",
  );
  if (given.option === "digest") return { digest: parseBytes32("digest", given.value), what: "the digest" };
  if (given.option === "message") {
    return { digest: personalDigest(toUtf8Bytes(given.value)), what: "the message" };
  }
  const bytes = await readFile(given.value).catch((error: unknown) => {
    throw new UserError(`cannot read --file ${given.value}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  });
  return { digest: personalDigest(new Uint8Array(bytes)), what: `the file ${given.value}` };
}

function hexOption(option: string, value: string, what: string): string {
  const hex = value.startsWith("0x") || value.startsWith("0X") ? value.slice(2) : value;
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new InvalidOptionError(option, value, what);
  return `0x${hex}`;
}

function publicKeyOption(option: string, value: string): string {
  const hex = hexOption(option, value, "a secp256k1 public key: 33 bytes compressed or 65 uncompressed, in hex");
  try {
    compressPublicKey(hex);
  } catch {
    throw new InvalidOptionError(
      option,
      value,
      "a secp256k1 public key: 33 bytes compressed or 65 uncompressed, in hex",
    );
  }
  return hex;
}

/**
 * Checks a message signed by a key that dstack's `GetKey` derived, up to the KMS root that the KMS contract publishes
 * (`kmsInfo()`, read on --network) or that --kms-root gives. Prints one line: VALID with who signed and which KMS
 * root issued the key, or REFUSED with the link that failed (then exits 1). Read-only.
 */
export default defineAction(async (args: VerifySignatureArgs, hre): Promise<VerifySignatureResult> => {
  const { digest, what } = await digestOf(args);
  const signature = hexOption(
    "signature",
    requireOption("signature", args.signature, "the derived key's signature (65 bytes r ‖ s ‖ v, v 27 or 28)"),
    "65 bytes of hex: r ‖ s ‖ v",
  );
  const chainText = requireOption("chain", args.chain, "the signature chain GetKey returned: sig0,kmsSig");
  const chain = chainText.split(",").map((part) => part.trim());
  if (chain.length !== 2) {
    throw new InvalidOptionError("chain", chainText, "two signatures separated by a comma, as GetKey returns them");
  }
  const signatureChain = chain.map((s) => hexOption("chain", s, "two hex signatures separated by a comma")) as [
    string,
    string,
  ];
  const app = parseAddress("app", requireOption("app", args.app, "the app id the key was issued to"));
  const purpose = requireOption("purpose", args.purpose, "the purpose of the GetKey call");
  const appPublicKey = args.appKey === undefined ? undefined : hexOption("app-key", args.appKey, "a public key in hex");
  let derivedPublicKey: string;
  if (args.derivedKey !== undefined) {
    // Evidence, not a typo: a key off the curve is a verdict (public-key-invalid), so only the encoding is checked.
    derivedPublicKey = hexOption("derived-key", args.derivedKey, "a public key in hex");
  } else {
    // Without it, the key is the one that made the signature: the chain then decides whether it is the app's.
    try {
      derivedPublicKey = hexlify(recoverEthereumSigner(digest, signature));
    } catch (error) {
      if (!(error instanceof DstackEvidenceError)) throw error;
      console.log(`REFUSED (${error.code}): ${error.message}`);
      throw new NegativeAnswer(error.message);
    }
  }

  const kmsSource = atMostOneOf({ kms: args.kms, "kms-root": args.kmsRoot });
  let root: KmsRoot;
  let kms: string | undefined;
  let from: string;
  if (kmsSource?.option === "kms-root") {
    root = kmsRootOf({
      k256Pubkey: publicKeyOption("kms-root", kmsSource.value),
      caPubkey: "0x",
    });
    from = "given with --kms-root (not read from a KMS contract)";
  } else {
    const session = await openNetwork(hre, undefined, false);
    const resolved = await resolveKms(
      hre,
      session,
      kmsSource === undefined ? undefined : parseAddress("kms", kmsSource.value),
    );
    kms = resolved.address;
    const info = await readKmsInfo(session.ethers.provider, kms).catch((error: unknown) => {
      if (!isContractRefusal(error)) throw error;
      throw new UserError(`the KMS at ${kms} on ${session.where} does not answer kmsInfo(): it publishes no root`);
    });
    try {
      root = kmsRootOf(info);
    } catch (error) {
      if (!(error instanceof DstackEvidenceError)) throw error;
      console.log(`REFUSED (${error.code}): the KMS at ${kms} on ${session.where}: ${error.message}`);
      throw new NegativeAnswer(error.message);
    }
    from = `that kmsInfo() of the KMS at ${kms} publishes on ${session.where}`;
  }

  try {
    const verified = verifySignedMessage(
      { digest, signature, appId: app, purpose, derivedPublicKey, signatureChain, appPublicKey },
      root.publicKey,
    );
    console.log(
      `VALID: ${what} was signed by ${verified.derivedAddress}, a key dstack's KMS issued to app ${app} for ` +
        `purpose ${JSON.stringify(purpose)}, under the KMS root ${verified.kmsRootAddress} ${from}`,
    );
    return { ...verified, kms };
  } catch (error) {
    if (!(error instanceof DstackEvidenceError)) throw error;
    console.log(`REFUSED (${error.code}): ${error.message}`);
    throw new NegativeAnswer(error.message);
  }
});
