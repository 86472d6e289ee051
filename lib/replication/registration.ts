/**
 * The two sides of the replication protocol off-chain, beyond verification (node-evidence.ts): the evidence a
 * registry's events carry, and what a member signs and sends to onboard a node.
 */
import { hexlify } from "ethers";
import type { BytesLike, Signer, TypedDataDomain } from "ethers";

import { bootInfoFromDecoded, type DecodedBootInfo } from "../bootInfo.js";
import { quoteHash, signOnboarding } from "./eip712.js";
import type { QuoteCollateral, VerifiedTdxQuote } from "./quote.js";
import type { NodeKeyChain } from "./key-chain.js";
import type { NodeEvidence } from "./node-evidence.js";
import { encryptSecret } from "./secret.js";

/** A node's registration as the registry's `NodeRegistered` event carries it (its first attestation). */
export type RegistrationEvidence = NodeEvidence;

/** Verifies a quote's DCAP chain; `verifyTdxQuote` unless a test substitutes a stand-in. */
export type QuoteVerifier = (quote: BytesLike, collateral: QuoteCollateral, nowSeconds: number) => VerifiedTdxQuote;

/** The fields of a `NodeRegistered` event as ethers decodes them (a `Result` has these properties). */
export interface NodeRegisteredArgs {
  node: string;
  encryptionPublicKey: string;
  bootInfo: DecodedBootInfo;
  attestation: { quote: string; eventLog: string };
  keyChain: NodeKeyChain;
}

/** The evidence a `NodeRegistered` event carries, as plain values. */
export function evidenceFromNodeRegistered(args: NodeRegisteredArgs): RegistrationEvidence {
  const k = args.keyChain;
  return {
    node: args.node,
    encryptionPublicKey: args.encryptionPublicKey,
    bootInfo: bootInfoFromDecoded(args.bootInfo),
    quote: args.attestation.quote,
    eventLog: args.attestation.eventLog,
    keyChain: {
      derivedPublicKey: k.derivedPublicKey,
      appPublicKey: k.appPublicKey,
      appSignature: k.appSignature,
      kmsSignature: k.kmsSignature,
    },
  };
}

/** An onboarding ready to submit: `registry.onboard(node, ciphertext, signature)`. */
export interface PreparedOnboarding {
  node: string;
  ciphertext: string;
  signature: string;
}

/**
 * A member's side of an onboarding: encrypt `secret` to the node's registered key and sign it for the node and
 * its last quote (the one the registry stores). Call it only after `verifyNodeEvidence` and the policy check passed.
 */
export async function prepareOnboarding(args: {
  member: Pick<Signer, "signTypedData">;
  domain: TypedDataDomain;
  node: string;
  quote: BytesLike;
  encryptionPublicKey: BytesLike;
  secret: BytesLike;
}): Promise<PreparedOnboarding> {
  const ciphertext = hexlify(encryptSecret(args.encryptionPublicKey, args.secret));
  const signature = await signOnboarding(args.member, args.domain, {
    node: args.node,
    quoteHash: quoteHash(args.quote),
    ciphertext,
  });
  return { node: args.node, ciphertext, signature };
}
