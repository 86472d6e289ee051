/**
 * Set-up for the ReplicationRegistry task tests: a registry bound to a policy (compose A and B on the stand-in
 * platform's device) and to a stand-in dstack KMS, TEE stand-in nodes that register through the contract or through
 * files, and the stand-in quote verifier, which the tasks use only while a test suite has substituted it (the CLI
 * always verifies with Intel DCAP).
 */
import { fileURLToPath } from "node:url";

import { hexlify, randomBytes } from "ethers";
import type { TypedDataDomain } from "ethers";

import { encodeRegistrationFile, registerArguments } from "../../lib/replication/index.js";
import type { AppBootInfo, SignedNodeRegistration } from "../../lib/replication/index.js";
import { substituteQuoteVerifier } from "../../tasks/shared/quote-verifier.js";
import { COMPOSE_A, COMPOSE_B, DEVICE_1, DEVICE_2, deployRegistry, testNode } from "../helpers/replication.js";
import type { TestNode } from "../helpers/replication.js";
import {
  FIXTURE_DEVICE_ID,
  TDX_FIXTURE_DIR,
  bootStandIn,
  loadTdxFixture,
  signBooted,
  standInVerifier,
} from "../helpers/tee-stand-in.js";
import type { StandInBoot } from "../helpers/tee-stand-in.js";
import { ethers, networkHelpers, writeTempFile } from "./helpers.js";

export { COMPOSE_A, COMPOSE_B, DEVICE_1, DEVICE_2, FIXTURE_DEVICE_ID, testNode };
export type { TestNode };

/** The stored collateral of the fixture quote (valid at FIXTURE_TIME). */
export const COLLATERAL_FILE = fileURLToPath(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR));
export const { quote: TEMPLATE } = await loadTdxFixture();

/** Makes the tasks accept stand-in quotes for the duration of the current `describe`. */
export function withStandInVerifier(): void {
  let restore: (() => void) | undefined;
  before(function () {
    restore = substituteQuoteVerifier(standInVerifier, "test stand-in (accepts any parseable TDX quote)");
  });
  after(function () {
    restore?.();
  });
}

/**
 * A stand-in node's registration, measured as `measured` says and claiming it (or `claim`), signed (by the node unless
 * `signer` says otherwise) for the registry's domain, with the key chain of the KMS it booted with.
 */
export async function signedStandIn(
  domain: TypedDataDomain,
  appId: string,
  node: TestNode,
  measured: StandInBoot,
  claim: Partial<AppBootInfo> & { encryptionPublicKey?: string } = {},
  options: { signer?: TestNode; eventLog?: string } = {},
): Promise<SignedNodeRegistration> {
  const booted = bootStandIn(TEMPLATE, node, appId, measured, claim);
  return {
    chainId: BigInt(domain.chainId as bigint),
    registry: String(domain.verifyingContract),
    ...(await signBooted(booted, domain, options)),
  };
}

/** Writes a signed registration to a registration file. */
export async function registrationFile(signed: SignedNodeRegistration): Promise<string> {
  return writeTempFile("registration.json", encodeRegistrationFile(signed));
}

/** The registry's `register` arguments for a signed registration. */
export const registerArgs = registerArguments;

export const A = testNode("tasks A");
export const B = testNode("tasks B");

/** A fresh registry whose policy allows the stand-in platform's device, no node registered. */
export async function emptyRegistry() {
  const deployed = await deployRegistry(ethers, networkHelpers, { devices: [FIXTURE_DEVICE_ID] });
  return { ...deployed, address: await deployed.registry.getAddress() };
}

/**
 * A registry whose genesis member is A (compose A) and where B (compose B) is registered, each honestly measured on
 * the stand-in platform; the secret A holds; and the files a member's agent uses.
 */
export async function registryWithGenesis() {
  const deployed = await emptyRegistry();
  const { registry, owner, relayer, domain, appId } = deployed;
  await registry
    .connect(relayer)
    .register(...registerArgs(await signedStandIn(domain, appId, A, { composeHash: COMPOSE_A })));
  await registry.connect(owner).setGenesis(A.address);
  const signedB = await signedStandIn(domain, appId, B, { composeHash: COMPOSE_B });
  await registry.connect(relayer).register(...registerArgs(signedB));
  const secret = randomBytes(32);
  return {
    ...deployed,
    signedB,
    secret: hexlify(secret),
    secretFile: await writeTempFile("secret", secret),
    memberKeyFile: await writeTempFile("member.key", `${A.wallet.privateKey}\n`),
  };
}
