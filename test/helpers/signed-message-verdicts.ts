/**
 * The shared verdict fixtures of the signed-message verifiers (test/fixtures/dstack/signed-message-verdicts.json): a
 * message signed by a derived key with its chain, what the KMS contract publishes, and the verdict both verifiers
 * (lib/dstack/signed-message.ts, contracts/lib/DstackSignatureChain.sol) must reach. Built deterministically
 * (RFC 6979 signatures) from dstack's own simulator keys (test/fixtures/dstack/simulator-appkeys.json) and from the
 * stand-in KMSes (kms-stand-in.ts), which sign as dstack's KMS does; the test checks the file is what this builds.
 */
import { hkdfSync } from "node:crypto";

import { SigningKey, Wallet, concat, getBytes, hexlify, toUtf8Bytes } from "ethers";

import { appKeyMessage, dstackSign, personalDigest } from "../../lib/dstack/index.js";
import type { DstackEvidenceErrorCode } from "../../lib/dstack/index.js";
import { loadDstackSimulator } from "./dstack-attestation.js";
import { ROGUE_KMS, STAND_IN_KMS, standInAppKey, standInGetKey } from "./kms-stand-in.js";

export const VERDICT_FIXTURE = "test/fixtures/dstack/signed-message-verdicts.json";

/** dstack's simulator app (the `app-id` its attestation measures) and the KMS root its Go SDK test expects. */
export const SIM_APP_ID = "0x5bb4ff9a3837357f19dc176407a5709c62eb6c56";
export const SIM_KMS_ROOT = "0x0321529e458424ab1f710a3a57ec4dad2fb195ddca572f7469242ba6c7563085b6";

const APP_A = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
const APP_B = "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512";
const KEY_PATH = "oracle/results";
const PURPOSE = "ethereum";
const MESSAGE = "market 1 of 0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0 resolved YES at 1767225600";

export type Verdict = "valid" | DstackEvidenceErrorCode;

export interface VerdictCase {
  name: string;
  /** What `kmsInfo().k256Pubkey` of the KMS contract holds ("0x": nothing published). */
  kmsK256Pubkey: string;
  appId: string;
  purpose: string;
  derivedPublicKey: string;
  appPublicKey: string;
  signatureChain: [string, string];
  /** The text signed (EIP-191), for readers; `digest` is what is checked. */
  message: string;
  digest: string;
  signature: string;
  verdict: Verdict;
}

type Signed = Omit<VerdictCase, "name" | "kmsK256Pubkey" | "verdict">;

/** A message signed by `derived`, with the chain `[sig0, kmsSig]` of that key. */
function signedBy(appId: string, derived: Uint8Array, appPublicKey: string, chain: [Uint8Array, Uint8Array]): Signed {
  const key = new SigningKey(derived);
  return {
    appId,
    purpose: PURPOSE,
    derivedPublicKey: key.compressedPublicKey,
    appPublicKey,
    signatureChain: [hexlify(chain[0]), hexlify(chain[1])],
    message: MESSAGE,
    digest: personalDigest(MESSAGE),
    signature: new Wallet(key).signMessageSync(MESSAGE),
  };
}

function withByte(hex: string, index: number, value: number): string {
  const bytes = getBytes(hex);
  bytes[index] = value;
  return hexlify(bytes);
}

/** The other signature of the same digest: s' = n - s, recovery id flipped. */
function highSTwin(hex: string): string {
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
  const bytes = getBytes(hex);
  const s = BigInt(hexlify(bytes.slice(32, 64)));
  return hexlify(
    concat([bytes.slice(0, 32), `0x${(n - s).toString(16).padStart(64, "0")}`, new Uint8Array([bytes[64]! ^ 1])]),
  );
}

/** Every case, in the file's order. */
export async function buildVerdictCases(): Promise<VerdictCase[]> {
  const { appKeys } = await loadDstackSimulator();
  const simAppKey = new SigningKey(`0x${appKeys.k256_key}`);
  const simDerived = new Uint8Array(
    hkdfSync("sha256", getBytes(simAppKey.privateKey), toUtf8Bytes("RATLS"), toUtf8Bytes(KEY_PATH), 32),
  );
  const simDerivedPublic = new SigningKey(simDerived).compressedPublicKey;
  // dstack's simulator: its KMS signature over its app key as the simulator ships it, sig0 as its guest agent signs.
  const simulator = signedBy(SIM_APP_ID, simDerived, simAppKey.compressedPublicKey, [
    dstackSign(simAppKey, appKeyMessage(PURPOSE, simDerivedPublic)),
    getBytes(`0x${appKeys.k256_signature}`),
  ]);

  const standIn = (appId: string, kms = STAND_IN_KMS): Signed => {
    const answer = standInGetKey(appId, KEY_PATH, PURPOSE, kms);
    return signedBy(appId, answer.key, standInAppKey(appId, kms).compressedPublicKey, answer.signatureChain);
  };
  const appA = standIn(APP_A);
  const appB = standIn(APP_B);
  const rogue = standIn(APP_A, ROGUE_KMS);
  const standInRoot = STAND_IN_KMS.root.compressedPublicKey;
  const otherKey = new Wallet(new SigningKey(`0x${"42".repeat(32)}`));

  const cases: Array<[string, string, Signed, Verdict]> = [
    [
      "dstack's simulator: a message signed by a key of its app, chain to its KMS root",
      SIM_KMS_ROOT,
      simulator,
      "valid",
    ],
    ["the stand-in KMS: a message signed by a key of app A", standInRoot, appA, "valid"],
    [
      "a tampered message (the digest of another text, the same signature)",
      SIM_KMS_ROOT,
      { ...simulator, message: `${MESSAGE}!`, digest: personalDigest(`${MESSAGE}!`) },
      "message-signature-mismatch",
    ],
    [
      "a tampered signature (another key's signature of the same message)",
      SIM_KMS_ROOT,
      { ...simulator, signature: otherKey.signMessageSync(MESSAGE) },
      "message-signature-mismatch",
    ],
    [
      "a message signature with dstack's v = 0/1 instead of Ethereum's 27/28",
      SIM_KMS_ROOT,
      { ...simulator, signature: withByte(simulator.signature, 64, getBytes(simulator.signature)[64]! - 27) },
      "signature-malformed",
    ],
    ["another app id", SIM_KMS_ROOT, { ...simulator, appId: APP_A }, "kms-root-mismatch"],
    ["another purpose", SIM_KMS_ROOT, { ...simulator, purpose: "signing" }, "app-key-mismatch"],
    [
      "another derived key (it signed the message; the chain is of the genuine one)",
      SIM_KMS_ROOT,
      {
        ...simulator,
        derivedPublicKey: otherKey.signingKey.compressedPublicKey,
        signature: otherKey.signMessageSync(MESSAGE),
      },
      "app-key-mismatch",
    ],
    [
      "an app public key other than the one sig0 recovers to",
      SIM_KMS_ROOT,
      { ...simulator, appPublicKey: appA.appPublicKey },
      "app-key-mismatch",
    ],
    ["a wrong KMS root (the KMS contract publishes another key)", standInRoot, simulator, "kms-root-mismatch"],
    [
      "an app key the KMS issued to another app (app B's key and chain, presented for app A)",
      standInRoot,
      { ...appB, appId: APP_A },
      "kms-root-mismatch",
    ],
    [
      "a chain from a KMS that the KMS contract does not publish (a rogue KMS)",
      standInRoot,
      rogue,
      "kms-root-mismatch",
    ],
    ["a KMS contract that publishes no root key", "0x", simulator, "kms-info-unset"],
    [
      "sig0 with v = 27 (Ethereum's convention; dstack's is 0/1)",
      SIM_KMS_ROOT,
      {
        ...simulator,
        signatureChain: [
          withByte(simulator.signatureChain[0], 64, getBytes(simulator.signatureChain[0])[64]! + 27),
          simulator.signatureChain[1],
        ],
      },
      "signature-malformed",
    ],
    [
      "the high-s twin of kmsSig",
      SIM_KMS_ROOT,
      { ...simulator, signatureChain: [simulator.signatureChain[0], highSTwin(simulator.signatureChain[1])] },
      "signature-malformed",
    ],
    [
      "a derived public key off the curve",
      SIM_KMS_ROOT,
      { ...simulator, derivedPublicKey: `0x02${"00".repeat(31)}05` },
      "public-key-invalid",
    ],
  ];
  return cases.map(([name, kmsK256Pubkey, signed, verdict]) => ({ name, kmsK256Pubkey, ...signed, verdict }));
}
