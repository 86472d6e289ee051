import { getAddress, getBytes, recoverAddress } from "ethers";

import { ConflictingOptionsError, MissingOptionError, UserError } from "../lib/errors.js";
import {
  ReplicationVerificationError,
  buildNodeRegistration,
  checkNodeEvidenceConsistency,
  describeCheckedEvidence,
  describeCollateralSource,
  describeVerificationFailure,
  dstackGuestApi,
  encodeRegistrationFile,
  parseRegistrationFile,
  quoteVerificationFrom,
  registerArguments,
  registrationDigest,
  registryDomain,
} from "../lib/replication/index.js";
import type { CollateralSource, RegistryEvidenceContext, SignedNodeRegistration } from "../lib/replication/index.js";
import { defineAction } from "./shared/action.js";
import { readFileOption, writeFileOption } from "./shared/files.js";
import { quoteVerifier } from "./shared/quote-verifier.js";
import {
  evidenceContextOf,
  openRegistry,
  parseVerificationOptions,
  parseRegistryOptions,
  printRegistryHeader,
  requireNodeStatus,
  sendRegistryCall,
  type RegistryOptions,
  type RegistrySession,
  requireSignedForSession,
} from "./shared/registry.js";
import type { SentTransaction } from "./shared/send.js";

export interface RegisterNodeArgs extends RegistryOptions {
  file?: string | undefined;
  fromDstack?: boolean | undefined;
  dstackEndpoint?: string | undefined;
  out?: string | undefined;
  collateral?: string | undefined;
  pccsUrl?: string | undefined;
}

export type RegisterNodeResult =
  | (SentTransaction & { node: string; written?: undefined })
  | { node: string; written: string; signed: SignedNodeRegistration };

export default defineAction(async (args: RegisterNodeArgs, hre): Promise<RegisterNodeResult> => {
  const parsed = parseRegistryOptions(args);
  const fromDstack = args.fromDstack === true;
  if (args.file !== undefined && fromDstack) throw new ConflictingOptionsError(["file", "from-dstack"]);
  if (args.file === undefined && !fromDstack) {
    throw new MissingOptionError(
      "file or --from-dstack",
      "the node's signed registration, from a file or built here through the dstack guest API",
    );
  }
  if (!fromDstack) {
    for (const [option, value] of Object.entries({
      out: args.out,
      "dstack-endpoint": args.dstackEndpoint,
      collateral: args.collateral,
      "pccs-url": args.pccsUrl,
    })) {
      if (value !== undefined) throw new UserError(`--${option} goes with --from-dstack (building the registration)`);
    }
  }

  let signed: SignedNodeRegistration | undefined;
  let source = "";
  if (args.file !== undefined) {
    source = args.file;
    signed = parseRegistrationFile((await readFileOption("file", args.file)).toString("utf8"), args.file);
  }
  const verification = fromDstack ? parseVerificationOptions(args) : undefined;

  // Writing a file sends nothing, so it needs no account: a CVM has none.
  const session = await openRegistry(hre, parsed, args.out === undefined);
  const context = await evidenceContextOf(session);
  if (verification !== undefined) {
    source = "this CVM's dstack guest API";
    signed = await buildFromDstack(session, context, args.dstackEndpoint, verification.source);
  }
  if (signed === undefined) throw new Error("no registration was read or built");
  await checkRegistration(session, context, signed, source);

  const r = signed.registration;
  if (args.out !== undefined) {
    await writeFileOption("out", args.out, encodeRegistrationFile(signed));
    console.log(`Wrote the signed registration of node ${r.node} to ${args.out}; nothing was sent.`);
    console.log(
      `Any host can submit it (and pay the gas): npx hardhat register-node --registry ${session.address} ` +
        `--file ${args.out} --network ${session.networkName}`,
    );
    return { node: r.node, written: args.out, signed };
  }

  printRegistryHeader(session);
  console.log(
    `Registering node ${r.node} (signed by the node's in-TEE key; compose hash ${r.bootInfo.composeHash}, ` +
      `device ${r.bootInfo.deviceId}, TCB ${r.bootInfo.tcbStatus}).`,
  );
  const sent = await sendRegistryCall(session, {
    method: "register",
    args: [...registerArguments(signed)],
  });
  console.log(`Registered: node ${r.node} waits to be verified and onboarded by a member.`);
  const genesis = await session.registry.genesis();
  const next =
    BigInt(genesis) === 0n
      ? `the registry has no member yet; the app's owner can make this node the first: npx hardhat set-genesis`
      : `a member verifies its quote and onboards it: npx hardhat onboard-node`;
  console.log(`Next, ${next} --registry ${session.address} --node ${r.node} --network ${session.networkName}`);
  return { ...sent, node: r.node };
});

/** Builds and signs this node's registration inside the CVM (see lib/replication/dstack-node.ts). */
async function buildFromDstack(
  session: RegistrySession,
  context: RegistryEvidenceContext,
  endpoint: string | undefined,
  collateralSource: CollateralSource,
): Promise<SignedNodeRegistration> {
  const guest = dstackGuestApi(endpoint);
  const { verifier, description, substitute } = quoteVerifier();
  let built;
  try {
    built = await buildNodeRegistration({
      guest,
      chainId: session.chainId,
      registry: session.address,
      verifyQuote: quoteVerificationFrom(collateralSource, { verifier }),
      context: { appId: context.appId, kms: context.kms },
    });
  } catch (error) {
    if (!(error instanceof ReplicationVerificationError)) throw error;
    throw new UserError(`this node's registration would be refused by members: ${describeVerificationFailure(error)}`);
  }
  const { registration } = built.signed;
  console.log(
    `Built the registration inside this CVM through the dstack guest API${endpoint ? ` at ${endpoint}` : ""}:`,
  );
  const keyPath = built.keys.paths.ethereum.replace(/ethereum$/, "{ethereum,encryption}");
  console.log(`  node address   ${registration.node}`);
  console.log(`  encryption key ${String(registration.encryptionPublicKey)}`);
  console.log(`  keys from      GetKey ${keyPath}`);
  console.log(
    `  TCB            ${registration.bootInfo.tcbStatus} from its own quote, ` +
      (substitute
        ? `accepted by a STAND-IN verifier: ${description}`
        : `verified by ${description} with collateral from ${describeCollateralSource(collateralSource)}`),
  );
  for (const [label, text] of describeCheckedEvidence(built.checked, context.appId)) {
    console.log(`  ${label.padEnd(15)}${text}`);
  }
  return built.signed;
}

/** Everything the registry would check, and what members will check without collateral, before anything is sent. */
async function checkRegistration(
  session: RegistrySession,
  context: RegistryEvidenceContext,
  signed: SignedNodeRegistration,
  source: string,
) {
  const r = signed.registration;
  requireSignedForSession(session, signed, source);
  if (getAddress(r.bootInfo.appId) !== getAddress(session.app.address)) {
    throw new UserError(
      `the node runs app ${getAddress(r.bootInfo.appId)}, but this registry serves app ${session.app.address}: check --registry`,
    );
  }
  await requireNodeStatus(session, r.node, "None", "register it");

  const keyLength = getBytes(r.encryptionPublicKey).length;
  const maxKeyLength = await session.registry.MAX_ENCRYPTION_KEY_LENGTH();
  if (keyLength > maxKeyLength) {
    throw new UserError(
      `the encryption public key is ${keyLength} bytes; the registry accepts at most ${maxKeyLength}`,
    );
  }
  let signer: string;
  try {
    signer = recoverAddress(registrationDigest(registryDomain(signed.chainId, signed.registry), r), signed.signature);
  } catch {
    throw new UserError(`${source}: the signature is not a valid ECDSA signature`);
  }
  if (signer !== getAddress(r.node)) {
    throw new UserError(`the registration is signed by ${signer}, not by the node ${r.node} it names`);
  }

  try {
    checkNodeEvidenceConsistency({ ...r, keyChain: signed.keyChain }, { appId: context.appId, kms: context.kms });
  } catch (error) {
    if (!(error instanceof ReplicationVerificationError)) throw error;
    throw new UserError(`members would refuse this registration: ${describeVerificationFailure(error)}`);
  }

  const [allowed, reason] = await session.app.appAuth.isAppAllowed(r.bootInfo);
  if (!allowed) throw new UserError(`the app's policy does not allow this node's boot info: ${reason}`);
}
