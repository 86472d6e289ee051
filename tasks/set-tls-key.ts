import { getAddress, isHexString, recoverAddress } from "ethers";

import { MissingOptionError, UserError } from "../lib/errors.js";
import { registryDomain, tlsKeyDigest } from "../lib/replication/index.js";
import { defineAction } from "./shared/action.js";
import { readFileOption } from "./shared/files.js";
import {
  openRegistry,
  parseRegistryOptions,
  printRegistryHeader,
  sendRegistryCall,
  type RegistryOptions,
  requireSignedForSession,
} from "./shared/registry.js";
import type { SentTransaction } from "./shared/send.js";

export interface SetTlsKeyArgs extends RegistryOptions {
  file?: string | undefined;
}

/** `tls-key.json`, as the genesis member's agent writes it (guest/src/replicator.ts). */
export interface TlsKeyFile {
  chainId: bigint;
  registry: string;
  node: string;
  spkiSha256: string;
  nonce: bigint;
  signature: string;
}

/** Parses `tls-key.json` field by field; a {@link UserError} names the first field that is wrong. */
export function parseTlsKeyFile(text: string, file: string): TlsKeyFile {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new UserError(`${file} is not JSON`);
  }
  const field = (name: string, ok: (value: unknown) => boolean, what: string): string => {
    const value = doc?.[name];
    if (!ok(value)) throw new UserError(`${file}: "${name}" must be ${what}`);
    return String(value);
  };
  const decimal = (value: unknown) => typeof value === "string" && /^\d{1,20}$/.test(value);
  return {
    chainId: BigInt(field("chainId", decimal, "a chain id as a decimal string")),
    registry: getAddress(field("registry", (v) => isHexString(v, 20), "an address")),
    node: getAddress(field("node", (v) => isHexString(v, 20), "an address")),
    spkiSha256: field("spkiSha256", (v) => isHexString(v, 32), "0x + 64 hex digits").toLowerCase(),
    nonce: BigInt(field("nonce", decimal, "a decimal string")),
    signature: field("signature", (v) => isHexString(v, 65), "a 65-byte signature"),
  };
}

/**
 * A host submits the TLS key publication the genesis member's agent signed (`tls-key.json`): before sending, it checks
 * that the file is for this chain and registry, at the registry's next nonce, and signed by the genesis member.
 */
export default defineAction(async (args: SetTlsKeyArgs, hre): Promise<SentTransaction & { spkiSha256: string }> => {
  const parsed = parseRegistryOptions(args);
  if (args.file === undefined) {
    throw new MissingOptionError("file", "the genesis member's signed TLS key publication, as its agent writes it");
  }
  const signed = parseTlsKeyFile((await readFileOption("file", args.file)).toString("utf8"), args.file);
  const session = await openRegistry(hre, parsed, true);
  requireSignedForSession(session, signed, args.file);
  const genesis = getAddress(await session.registry.genesis());
  const [published, nonce] = await session.registry.tlsKey();
  if (signed.nonce !== nonce) {
    throw new UserError(
      `${args.file} is publication #${signed.nonce + 1n} of the TLS key, but the registry expects #${nonce + 1n}: ` +
        (signed.nonce < nonce ? "it was submitted already" : "an earlier one is missing"),
    );
  }
  const digest = tlsKeyDigest(registryDomain(signed.chainId, signed.registry), {
    spkiSha256: signed.spkiSha256,
    nonce: signed.nonce,
  });
  let signer: string;
  try {
    signer = recoverAddress(digest, signed.signature);
  } catch {
    throw new UserError(`${args.file}: the signature does not recover`);
  }
  if (signer !== genesis) {
    throw new UserError(
      `${args.file} is signed by ${signer}, not by the genesis member ${genesis}: the registry would refuse it`,
    );
  }

  printRegistryHeader(session);
  console.log(
    `Publishing the app's TLS key ${signed.spkiSha256}, signed by the genesis member ${genesis}'s in-TEE key` +
      (/^0x0{64}$/.test(published) ? "." : ` (it replaces ${published}).`),
  );
  const sent = await sendRegistryCall(session, { method: "setTlsKey", args: [signed.spkiSha256, signed.signature] });
  console.log(`Published: the registry's TLS key is ${signed.spkiSha256} (a TlsKeySet event).`);
  return { ...sent, spkiSha256: signed.spkiSha256 };
});
