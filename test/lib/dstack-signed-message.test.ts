import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { expect } from "chai";
import { Interface, Wallet, hexlify } from "ethers";
import { network } from "hardhat";

import {
  DstackEvidenceError,
  kmsRootOf,
  personalDigest,
  readKmsRoot,
  recoverEthereumSigner,
  verifySignedMessage,
} from "../../lib/dstack/index.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { STAND_IN_KMS } from "../helpers/kms-stand-in.js";
import {
  SIM_KMS_ROOT,
  VERDICT_FIXTURE,
  buildVerdictCases,
  type Verdict,
  type VerdictCase,
} from "../helpers/signed-message-verdicts.js";

const { ethers } = await network.getOrCreate();

/** The library's errors, by the verdict code the TypeScript verifier gives for the same refusal. */
const SOLIDITY_VERDICTS: Record<string, Verdict> = {
  DstackSignatureChainInvalidPublicKey: "public-key-invalid",
  DstackSignatureChainInvalidSignature: "signature-malformed",
  DstackSignatureChainMessageSignerMismatch: "message-signature-mismatch",
  DstackSignatureChainAppKeyMismatch: "app-key-mismatch",
  DstackSignatureChainKmsRootMismatch: "kms-root-mismatch",
  DstackSignatureChainNoKmsRoot: "kms-info-unset",
};

function typescriptVerdict(c: VerdictCase): { verdict: Verdict; reason: string } {
  try {
    const root = kmsRootOf({ k256Pubkey: c.kmsK256Pubkey, caPubkey: "0x" });
    const verified = verifySignedMessage(c, root.publicKey);
    return { verdict: "valid", reason: `signed by ${verified.derivedAddress}` };
  } catch (error) {
    if (!(error instanceof DstackEvidenceError)) throw error;
    return { verdict: error.code, reason: error.message };
  }
}

/** A case's signature chain as the Solidity harness takes it. */
function harnessChainOf(c: VerdictCase) {
  return {
    purpose: c.purpose,
    derivedPublicKey: c.derivedPublicKey,
    appPublicKey: c.appPublicKey,
    appSignature: c.signatureChain[0],
    kmsSignature: c.signatureChain[1],
  };
}

async function deployHarness() {
  const [owner] = await ethers.getSigners();
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  const harness = await ethers.deployContract("DstackSignatureChainHarness");
  return { kms, harness, kmsAddress: await kms.getAddress() };
}

describe("lib/dstack and DstackSignatureChain: a message signed by a derived key, up to the KMS root", function () {
  let cases: VerdictCase[];
  before(async function () {
    cases = await buildVerdictCases();
  });

  it("the shared fixture file is what the builder makes (UPDATE_FIXTURES=1 rewrites it)", async function () {
    const file = path.join(REPO_ROOT, VERDICT_FIXTURE);
    const built = `${JSON.stringify(cases, null, 2)}\n`;
    if (process.env["UPDATE_FIXTURES"] === "1") await writeFile(file, built);
    expect(await readFile(file, "utf8")).to.equal(built);
  });

  it("the TypeScript verifier reaches each fixture's verdict, with a reason naming the failing link", function () {
    for (const c of cases) {
      const { verdict, reason } = typescriptVerdict(c);
      expect(verdict, `${c.name}: ${reason}`).to.equal(c.verdict);
    }
    const reasons = Object.fromEntries(cases.map((c) => [c.name, typescriptVerdict(c).reason]));
    expect(reasons["another purpose"]).to.match(/^sig0 over purpose "signing" and derived key 0x0[23]/);
    expect(reasons["a wrong KMS root (the KMS contract publishes another key)"]).to.match(
      /^the signature chain of 0x0[23][0-9a-f]{64} for app 0x5bb4ff9a.* and purpose "ethereum" leads to 0x0[23][0-9a-f]{64}, not to the KMS root 0x0[23]/,
    );
    expect(reasons["a tampered message (the digest of another text, the same signature)"]).to.match(
      /^the message signature was made by 0x[0-9a-fA-F]{40}, not by the derived key/,
    );
  });

  it("the Solidity verifier, reading the root from kmsInfo() on-chain, reaches the same verdict for each", async function () {
    const { kms, harness, kmsAddress } = await deployHarness();
    const errors: Interface = harness.interface;
    for (const c of cases) {
      await kms.setKmsInfo({ k256Pubkey: c.kmsK256Pubkey, caPubkey: "0x", quote: "0x", eventlog: "0x" });
      const chain = harnessChainOf(c);
      let verdict: Verdict;
      try {
        const signer = await harness.verifySignedDigest(c.digest, c.signature, chain, c.appId, kmsAddress);
        expect(signer, c.name).to.equal(ethers.computeAddress(c.derivedPublicKey));
        verdict = "valid";
      } catch (error) {
        const data = (error as { data?: string }).data;
        const parsed = data === undefined ? null : errors.parseError(data);
        expect(parsed, `${c.name}: ${String(error)}`).to.not.equal(null);
        verdict = SOLIDITY_VERDICTS[parsed!.name] ?? (parsed!.name as Verdict);
      }
      expect(verdict, c.name).to.equal(c.verdict);
    }
  });

  it("reads the KMS root from the KMS contract, and refuses an address that is no KMS", async function () {
    const { kms, harness, kmsAddress } = await deployHarness();
    await kms.setKmsInfo({ k256Pubkey: SIM_KMS_ROOT, caPubkey: "0x", quote: "0x", eventlog: "0x" });
    const root = await readKmsRoot(ethers.provider, kmsAddress);
    expect(root.publicKey).to.equal(SIM_KMS_ROOT);
    const [onChain] = await harness.measureKmsRootOf(kmsAddress);
    expect(onChain).to.equal(root.address);
    const [stranger] = await ethers.getSigners();
    await expect(harness.measureKmsRootOf(stranger!.address))
      .to.be.revertedWithCustomError(harness, "DstackSignatureChainNoKmsRoot")
      .withArgs(stranger!.address);
    // A contract without kmsInfo(): the harness itself.
    await expect(harness.measureKmsRootOf(await harness.getAddress()))
      .to.be.revertedWithCustomError(harness, "DstackSignatureChainNoKmsRoot")
      .withArgs(await harness.getAddress());
  });

  it("follows a root the KMS's owner rotates: the old chains stop verifying at once", async function () {
    const { kms, harness, kmsAddress } = await deployHarness();
    const c = cases.find((x) => x.verdict === "valid" && x.kmsK256Pubkey === STAND_IN_KMS.root.compressedPublicKey)!;
    const chain = harnessChainOf(c);
    await kms.setKmsInfo({ k256Pubkey: c.kmsK256Pubkey, caPubkey: "0x", quote: "0x", eventlog: "0x" });
    expect(await harness.verifySignedDigest(c.digest, c.signature, chain, c.appId, kmsAddress)).to.equal(
      ethers.computeAddress(c.derivedPublicKey),
    );
    await kms.setKmsInfo({ k256Pubkey: SIM_KMS_ROOT, caPubkey: "0x", quote: "0x", eventlog: "0x" });
    await expect(
      harness.verifySignedDigest(c.digest, c.signature, chain, c.appId, kmsAddress),
    ).to.be.revertedWithCustomError(harness, "DstackSignatureChainKmsRootMismatch");
  });

  it("recovers Ethereum signatures only in their one canonical form, the digest 32 bytes", function () {
    const wallet = new Wallet(`0x${"11".repeat(32)}`);
    const signature = wallet.signMessageSync("hello");
    expect(hexlify(recoverEthereumSigner(personalDigest("hello"), signature))).to.equal(
      wallet.signingKey.compressedPublicKey,
    );
    expect(hexlify(recoverEthereumSigner(personalDigest("hello").slice(2), signature.slice(2)))).to.equal(
      wallet.signingKey.compressedPublicKey,
    );
    expect(() => recoverEthereumSigner("0x1234", signature)).to.throw(DstackEvidenceError, /digest is 2 bytes/);
    expect(() => recoverEthereumSigner(personalDigest("hello"), signature.slice(0, 130))).to.throw(
      DstackEvidenceError,
      /is 64 bytes/,
    );
  });
});
