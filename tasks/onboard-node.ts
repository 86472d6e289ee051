import { Wallet, getAddress, recoverAddress } from "ethers";

import { ConflictingOptionsError, MissingOptionError, UserError } from "../lib/errors.js";
import { formatDate } from "../lib/format.js";
import {
  bootFactsFromInfo,
  deriveNodeKeys,
  dstackGuestApi,
  encodeOnboardingFile,
  onboardingDigest,
  parseOnboardingFile,
  prepareOnboarding,
  registryDomain,
} from "../lib/replication/index.js";
import type { SignedOnboarding } from "../lib/replication/index.js";
import { atMostOneOf } from "../lib/validate.js";
import { defineAction } from "./shared/action.js";
import { readFileOption, writeFileOption } from "./shared/files.js";
import {
  openRegistry,
  parseVerificationOptions,
  parseNodeOption,
  parseRegistryOptions,
  printRegistryHeader,
  requireNodeStatus,
  sendRegistryCall,
  verifyRegisteredNode,
  type VerificationOptions,
  type RegistryOptions,
  type RegistrySession,
  requireSignedForSession,
} from "./shared/registry.js";
import type { SentTransaction } from "./shared/send.js";

export interface OnboardNodeArgs extends RegistryOptions, VerificationOptions {
  node?: string | undefined;
  secretFile?: string | undefined;
  memberKeyFile?: string | undefined;
  memberFromDstack?: boolean | undefined;
  dstackEndpoint?: string | undefined;
  onboarding?: string | undefined;
  out?: string | undefined;
}

export type OnboardNodeResult =
  | (SentTransaction & { node: string; sponsor: string; written?: undefined })
  | { node: string; sponsor: string; written: string; signed: SignedOnboarding };

/** Where the onboarding's signature comes from: a member key here (with the secret), or a file signed elsewhere. */
type Signing =
  | { mode: "sign"; secret: Uint8Array; member: { keyFile: string } | { dstackEndpoint: string | undefined } }
  | { mode: "submit"; file: string; signed: SignedOnboarding };

export default defineAction(async (args: OnboardNodeArgs, hre): Promise<OnboardNodeResult> => {
  const parsed = parseRegistryOptions(args);
  const node = parseNodeOption(args.node);
  const verification = parseVerificationOptions(args);
  const signing = await parseSigning(args);
  const session = await openRegistry(hre, parsed, args.out === undefined);

  await requireNodeStatus(session, node, "Registered", "onboard it");
  let wallet: Wallet | undefined;
  let member: string;
  if (signing.mode === "sign") {
    wallet = await memberWallet(session, signing.member);
    member = wallet.address;
  } else {
    member = await checkOnboardingFile(session, node, signing.file, signing.signed);
  }
  await requireActiveMember(session, member);

  const { read } = await verifyRegisteredNode(session, node, verification, "onboard");

  let signed: SignedOnboarding;
  if (signing.mode === "submit") {
    signed = signing.signed;
    console.log(`Submitting the onboarding signed by member ${signed.member} (${signing.file}).`);
  } else {
    if (wallet === undefined) throw new Error("signing without a member key");
    console.log(
      `Encrypting the ${signing.secret.length}-byte secret to the node's registered key (ECIES: secp256k1, ` +
        `HKDF-SHA256, AES-256-GCM) and signing the onboarding as member ${member}.`,
    );
    const prepared = await prepareOnboarding({
      member: wallet,
      domain: registryDomain(session.chainId, session.address),
      node,
      quote: read.evidence.quote,
      encryptionPublicKey: read.evidence.encryptionPublicKey,
      secret: signing.secret,
    });
    signed = {
      chainId: session.chainId,
      registry: session.address,
      member,
      onboarding: {
        node,
        quoteHash: (await session.registry.getNode(node)).quoteHash,
        ciphertext: prepared.ciphertext,
      },
      signature: prepared.signature,
    };
  }

  if (args.out !== undefined) {
    await writeFileOption("out", args.out, encodeOnboardingFile(signed));
    console.log(`Wrote the signed onboarding of node ${node} to ${args.out}; nothing was sent.`);
    console.log(
      `Any host can submit it (and pay the gas): npx hardhat onboard-node --registry ${session.address} ` +
        `--node ${node} --onboarding ${args.out} --network ${session.networkName}`,
    );
    return { node, sponsor: signed.member, written: args.out, signed };
  }

  printRegistryHeader(session);
  const sent = await sendRegistryCall(session, {
    method: "onboard",
    args: [node, signed.onboarding.ciphertext, signed.signature],
  });
  console.log(
    `Onboarded: node ${node} is a member, sponsored by ${signed.member}. Its agent finds the ciphertext in the ` +
      "NodeOnboarded event and decrypts the secret with its key.",
  );
  return { ...sent, node, sponsor: signed.member };
});

/** Validates the signing options and reads their files, before the network is touched. */
async function parseSigning(args: OnboardNodeArgs): Promise<Signing> {
  const memberFromDstack = args.memberFromDstack === true;
  if (args.onboarding !== undefined) {
    const conflicting = Object.entries({
      "secret-file": args.secretFile,
      "member-key-file": args.memberKeyFile,
      "member-from-dstack": memberFromDstack ? "yes" : undefined,
      "dstack-endpoint": args.dstackEndpoint,
      out: args.out,
    }).find(([, value]) => value !== undefined);
    if (conflicting !== undefined) throw new ConflictingOptionsError(["onboarding", conflicting[0]]);
    const text = (await readFileOption("onboarding", args.onboarding)).toString("utf8");
    return { mode: "submit", file: args.onboarding, signed: parseOnboardingFile(text, args.onboarding) };
  }
  if (args.secretFile === undefined) {
    throw new MissingOptionError(
      "secret-file",
      "the shared secret to hand over (or --onboarding, an onboarding a member signed elsewhere)",
    );
  }
  const key = atMostOneOf({
    "member-key-file": args.memberKeyFile,
    "member-from-dstack": memberFromDstack ? "yes" : undefined,
  });
  if (key === undefined) {
    throw new MissingOptionError(
      "member-key-file or --member-from-dstack",
      "the member's key signs the onboarding (the registry accepts only a member's signature)",
    );
  }
  if (args.dstackEndpoint !== undefined && !memberFromDstack) {
    throw new UserError("--dstack-endpoint goes with --member-from-dstack");
  }
  if (key.option === "member-key-file") await readFileOption("member-key-file", key.value);
  const secret = new Uint8Array(await readFileOption("secret-file", args.secretFile));
  if (secret.length === 0)
    throw new UserError(`--secret-file ${args.secretFile} is empty: there is no secret to hand over`);
  return {
    mode: "sign",
    secret,
    member: key.option === "member-key-file" ? { keyFile: key.value } : { dstackEndpoint: args.dstackEndpoint },
  };
}

/** The member's key: from a file, or derived inside this CVM exactly as it was when the member registered. */
async function memberWallet(
  session: RegistrySession,
  source: { keyFile: string } | { dstackEndpoint: string | undefined },
): Promise<Wallet> {
  if ("keyFile" in source) {
    const text = (await readFileOption("member-key-file", source.keyFile)).toString("utf8").trim();
    if (!/^(0x)?[0-9a-fA-F]{64}$/.test(text)) {
      throw new UserError(`--member-key-file ${source.keyFile} does not hold a private key (0x + 64 hex digits)`);
    }
    return new Wallet(text.startsWith("0x") ? text : `0x${text}`);
  }
  const guest = dstackGuestApi(source.dstackEndpoint);
  const keys = await deriveNodeKeys(guest, session.address, bootFactsFromInfo(await guest.info()));
  console.log(`Member key derived inside this CVM through the dstack guest API: ${keys.address}`);
  return keys.ethereum;
}

/**
 * Only a member whose last attestation still counts and whose own boot info the policy still allows can onboard (the
 * registry checks all three).
 */
async function requireActiveMember(session: RegistrySession, member: string): Promise<void> {
  if (!(await session.registry.isMember(member))) {
    throw new UserError(
      `${member} is not a member of this registry: only a member's signature onboards a node ` +
        `(${await session.registry.memberCount()} member(s); list them with npx hardhat nodes --registry ${session.address})`,
    );
  }
  const block = await session.ethers.provider.getBlock("latest");
  const expiresAt = await session.registry.attestationExpiresAt(member);
  if (BigInt(block?.timestamp ?? 0) >= expiresAt) {
    throw new UserError(
      `member ${member}'s last attestation expired at ${formatDate(expiresAt)}, so the registry refuses its ` +
        "onboardings until it refreshes it (and anyone may evict it)",
    );
  }
  const [allowed, reason] = await session.registry.isNodeAllowed(member);
  if (!allowed) {
    throw new UserError(
      `member ${member} is no longer allowed by the app's policy (${reason}), so the registry refuses its onboardings`,
    );
  }
}

/** An onboarding signed elsewhere: for this chain, registry, node and quote, and signed by the member it names. */
async function checkOnboardingFile(
  session: RegistrySession,
  node: string,
  file: string,
  signed: SignedOnboarding,
): Promise<string> {
  requireSignedForSession(session, signed, file);
  if (getAddress(signed.onboarding.node) !== node) {
    throw new UserError(`${file} onboards node ${signed.onboarding.node}, not ${node}`);
  }
  const { quoteHash } = await session.registry.getNode(node);
  if (signed.onboarding.quoteHash !== quoteHash.toLowerCase()) {
    throw new UserError(
      `${file} is signed for quote hash ${signed.onboarding.quoteHash}, but node ${node} registered quote ${quoteHash}`,
    );
  }
  let signer: string;
  try {
    signer = recoverAddress(
      onboardingDigest(registryDomain(signed.chainId, signed.registry), signed.onboarding),
      signed.signature,
    );
  } catch {
    throw new UserError(`${file}: the signature is not a valid ECDSA signature`);
  }
  if (signer !== signed.member) {
    throw new UserError(`${file} is signed by ${signer}, not by the member ${signed.member} it names`);
  }
  return signed.member;
}
