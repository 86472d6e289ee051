import { hkdfSync } from "node:crypto";

import { DstackClient } from "@phala/dstack-sdk";
import { expect } from "chai";
import { SigningKey, computeAddress, concat, getBytes, hexlify, id, keccak256, toUtf8Bytes } from "ethers";
import { network } from "hardhat";

import {
  DstackEvidenceError,
  appKeyMessage,
  compressPublicKey,
  dstackSign,
  kmsIssuedMessage,
  kmsSignedMessage,
  publicKeyAddress,
  recoverKeyChain,
  recoverSigner,
  verifyKeyChain,
} from "../../lib/dstack/index.js";
import type { DstackEvidenceErrorCode, KeySignatureChain } from "../../lib/dstack/index.js";
import { DstackGuestApiStandIn, ROGUE_KMS, STAND_IN_KMS } from "../helpers/dstack-guest-api.js";
import { loadDstackSimulator } from "../helpers/dstack-attestation.js";
import { standInGetKey } from "../helpers/kms-stand-in.js";

const { ethers } = await network.getOrCreate();

/** The simulator's app id: the `app-id` its attestation measures. */
const SIM_APP_ID = "0x5bb4ff9a3837357f19dc176407a5709c62eb6c56";
/** What dstack's Go SDK test expects the simulator's app key and KMS root to be. */
const SIM_APP_PUBLIC_KEY = "0x02818494263695e8839122dbd88e281d7380622999df4e60a14befa0f2d096fc7c";
const SIM_KMS_ROOT = "0x0321529e458424ab1f710a3a57ec4dad2fb195ddca572f7469242ba6c7563085b6";
/** secp256k1's group order. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function expectEvidenceError(run: () => unknown, code: DstackEvidenceErrorCode, message?: RegExp): void {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(DstackEvidenceError);
    expect((error as DstackEvidenceError).code, (error as Error).message).to.equal(code);
    if (message !== undefined) expect((error as Error).message).to.match(message);
    return;
  }
  expect.fail(`expected a ${code} refusal`);
}

/** `GetKey(path, purpose)` as dstack's guest agent answers it for the simulator's app key. */
async function simulatorGetKey(path: string, purpose: string): Promise<KeySignatureChain & { key: Uint8Array }> {
  const { appKeys } = await loadDstackSimulator();
  const appKey = new SigningKey(`0x${appKeys.k256_key}`);
  const key = new Uint8Array(hkdfSync("sha256", getBytes(appKey.privateKey), toUtf8Bytes("RATLS"), path, 32));
  const derivedPublicKey = new SigningKey(key).compressedPublicKey;
  return {
    key,
    appId: SIM_APP_ID,
    purpose,
    derivedPublicKey,
    signatureChain: [
      dstackSign(appKey, appKeyMessage(purpose, derivedPublicKey)),
      getBytes(`0x${appKeys.k256_signature}`),
    ],
  };
}

/** A signature with v + 27 (the Ethereum convention dstack does not use). */
function v27(signature: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(signature);
  copy[64] = copy[64]! + 27;
  return copy;
}

/** The other valid signature of the same message: s' = n - s, recovery id flipped. */
function highSTwin(signature: Uint8Array): Uint8Array {
  const s = BigInt(hexlify(signature.slice(32, 64)));
  return getBytes(
    concat([
      signature.slice(0, 32),
      `0x${(N - s).toString(16).padStart(64, "0")}`,
      new Uint8Array([signature[64]! ^ 1]),
    ]),
  );
}

describe("lib/dstack: a key's signature chain up to the KMS root", function () {
  describe("against dstack's own vectors (its simulator's keys)", function () {
    it("reads the KMS root dstack's SDK test expects from the simulator's KMS signature and app key", async function () {
      const { appKeys } = await loadDstackSimulator();
      const appKey = new SigningKey(`0x${appKeys.k256_key}`);
      expect(appKey.compressedPublicKey).to.equal(SIM_APP_PUBLIC_KEY);
      const root = recoverSigner(kmsIssuedMessage(SIM_APP_ID, appKey.compressedPublicKey), appKeys.k256_signature);
      expect(hexlify(root)).to.equal(SIM_KMS_ROOT);
      // The KMS signs the compressed app key: over the uncompressed form the same signature names another key.
      const overUncompressed = getBytes(concat([toUtf8Bytes("dstack-kms-issued:"), SIM_APP_ID, appKey.publicKey]));
      expect(hexlify(recoverSigner(overUncompressed, appKeys.k256_signature))).to.not.equal(SIM_KMS_ROOT);
    });

    it("verifies a GetKey answer of the simulator's app key up to that root", async function () {
      const chain = await simulatorGetKey("/test/path", "test-purpose");
      const verified = verifyKeyChain(chain, SIM_KMS_ROOT);
      expect(verified).to.deep.equal({
        derivedPublicKey: hexlify(chain.derivedPublicKey),
        derivedAddress: computeAddress(new SigningKey(chain.key).publicKey),
        appPublicKey: SIM_APP_PUBLIC_KEY,
        kmsRootPublicKey: SIM_KMS_ROOT,
        kmsRootAddress: publicKeyAddress(SIM_KMS_ROOT),
      });
      // dstack's JSON sends hex without 0x; the KMS root may be published uncompressed.
      const noPrefix = chain.signatureChain.map((sig) => hexlify(sig).slice(2));
      const uncompressedRoot = SigningKey.computePublicKey(SIM_KMS_ROOT, false);
      expect(verifyKeyChain({ ...chain, signatureChain: noPrefix }, uncompressedRoot).kmsRootPublicKey).to.equal(
        SIM_KMS_ROOT,
      );
    });

    it("matches the KMS's signing format of its other signature (env-encrypt key, dstack's JS SDK vector)", function () {
      // sdk/js/src/__tests__/verify-env-encrypt-public-key.test.ts: prefix ‖ ":" ‖ app id (20 raw bytes) ‖ key.
      const message = kmsSignedMessage(
        "dstack-env-encrypt-pubkey",
        `0x${"00".repeat(20)}`,
        "0xe33a1832c6562067ff8f844a61e51ad051f1180b66ec2551fb0251735f3ee90a",
      );
      const signature =
        "8542c49081fbf4e03f62034f13fbf70630bdf256a53032e38465a27c36fd6bed7a5e7111652004aef37f7fd92fbfc1285212c4ae6a6154203a48f5e16cad2cef00";
      expect(hexlify(recoverSigner(message, signature))).to.equal(
        "0x0217610d74cbd39b6143842c6d8bc310d79da1d82cc9d17f8876376221eda0c38f",
      );
    });
  });

  describe("refuses every tampered link", function () {
    let chain: KeySignatureChain & { key: Uint8Array };
    before(async function () {
      chain = await simulatorGetKey("/test/path", "test-purpose");
    });

    it("another app id", function () {
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, appId: "0x5fbdb2315678afecb367f032d93f642f64180aa3" }, SIM_KMS_ROOT),
        "kms-root-mismatch",
        /for app 0x5fbdb2315678afecb367f032d93f642f64180aa3 and purpose "test-purpose" leads to 0x0[23][0-9a-f]{64}, not to the KMS root 0x0321529e/,
      );
    });

    it("another purpose", function () {
      expectEvidenceError(() => verifyKeyChain({ ...chain, purpose: "ethereum" }, SIM_KMS_ROOT), "kms-root-mismatch");
    });

    it("a swapped derived key", function () {
      const other = new SigningKey(id("another key")).compressedPublicKey;
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, derivedPublicKey: other }, SIM_KMS_ROOT),
        "kms-root-mismatch",
      );
    });

    it("a swapped app signature (another app key's sig0)", function () {
      const rogueApp = new SigningKey(id("rogue app key"));
      const sig0 = dstackSign(rogueApp, appKeyMessage(chain.purpose, chain.derivedPublicKey));
      const recovered = recoverKeyChain({ ...chain, signatureChain: [sig0, chain.signatureChain[1]!] });
      expect(recovered.appPublicKey).to.equal(rogueApp.compressedPublicKey);
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [sig0, chain.signatureChain[1]!] }, SIM_KMS_ROOT),
        "kms-root-mismatch",
      );
    });

    it("a rogue KMS root that issued a perfectly formed chain", function () {
      const rogue = standInGetKey(SIM_APP_ID, "/test/path", "test-purpose", ROGUE_KMS);
      const rogueChain = {
        ...chain,
        derivedPublicKey: new SigningKey(rogue.key).compressedPublicKey,
        signatureChain: rogue.signatureChain,
      };
      expect(verifyKeyChain(rogueChain, ROGUE_KMS.root.publicKey).kmsRootPublicKey).to.equal(
        ROGUE_KMS.root.compressedPublicKey,
      );
      expectEvidenceError(() => verifyKeyChain(rogueChain, SIM_KMS_ROOT), "kms-root-mismatch");
      expectEvidenceError(() => verifyKeyChain(rogueChain, STAND_IN_KMS.root.publicKey), "kms-root-mismatch");
    });

    it("v = 27/28 (Ethereum style), in either signature", function () {
      const [sig0, kmsSig] = chain.signatureChain.map((sig) => getBytes(sig)) as [Uint8Array, Uint8Array];
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [v27(sig0), kmsSig] }, SIM_KMS_ROOT),
        "signature-malformed",
        /the app signature \(sig0\) has v = 2[78]; dstack's recovery id is 0 or 1/,
      );
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [sig0, v27(kmsSig)] }, SIM_KMS_ROOT),
        "signature-malformed",
        /the KMS signature \(kmsSig\) has v = 2[78]/,
      );
    });

    it("the high-s twin of a signature (same signer, another encoding)", function () {
      const [sig0, kmsSig] = chain.signatureChain.map((sig) => getBytes(sig)) as [Uint8Array, Uint8Array];
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [highSTwin(sig0), kmsSig] }, SIM_KMS_ROOT),
        "signature-malformed",
        /upper half/,
      );
    });

    it("a chain whose app key signed the uncompressed derived key's hex", async function () {
      const { appKeys } = await loadDstackSimulator();
      const appKey = new SigningKey(`0x${appKeys.k256_key}`);
      const uncompressed = SigningKey.computePublicKey(chain.derivedPublicKey, false);
      const sig0 = dstackSign(appKey, toUtf8Bytes(`${chain.purpose}:${uncompressed.slice(2)}`));
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [sig0, chain.signatureChain[1]!] }, SIM_KMS_ROOT),
        "kms-root-mismatch",
      );
      // The key itself may be given in either form: the message is always over the compressed one.
      expect(verifyKeyChain({ ...chain, derivedPublicKey: uncompressed }, SIM_KMS_ROOT).derivedPublicKey).to.equal(
        hexlify(chain.derivedPublicKey),
      );
      expect(new TextDecoder().decode(appKeyMessage("p", uncompressed))).to.equal(
        `p:${hexlify(chain.derivedPublicKey).slice(2)}`,
      );
    });

    it("malformed chains, signatures, keys and app ids, each named", function () {
      const [sig0, kmsSig] = chain.signatureChain as [string | Uint8Array, string | Uint8Array];
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [sig0] }, SIM_KMS_ROOT),
        "signature-chain-malformed",
        /has 1 signatures; GetKey returns two/,
      );
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [sig0, kmsSig, kmsSig] }, SIM_KMS_ROOT),
        "signature-chain-malformed",
      );
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [getBytes(sig0).slice(0, 64), kmsSig] }, SIM_KMS_ROOT),
        "signature-malformed",
        /is 64 bytes/,
      );
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: ["zz", kmsSig] }, SIM_KMS_ROOT),
        "signature-malformed",
        /not hex/,
      );
      expectEvidenceError(
        () => verifyKeyChain({ ...chain, signatureChain: [new Uint8Array(65), kmsSig] }, SIM_KMS_ROOT),
        "signature-malformed",
        /does not recover a key/,
      );
      const offCurve = `0x02${"00".repeat(31)}05`;
      expectEvidenceError(() => compressPublicKey(offCurve), "public-key-invalid", /is not a secp256k1 point/);
      expectEvidenceError(() => verifyKeyChain(chain, `0x${"03".repeat(32)}`), "public-key-invalid", /32 bytes/);
      expectEvidenceError(() => verifyKeyChain({ ...chain, appId: "0x1234" }, SIM_KMS_ROOT), "app-id-invalid");
    });
  });

  describe("against the guest API stand-in, through the real @phala/dstack-sdk", function () {
    it("verifies GetKey's chain up to the stand-in KMS root, and only for the CVM's own app", async function () {
      const cvm = await DstackGuestApiStandIn.start();
      try {
        const answer = await new DstackClient(cvm.endpoint).getKey("replicator/eth", "ethereum");
        const chain = {
          appId: cvm.cvm.appId,
          purpose: "ethereum",
          derivedPublicKey: new SigningKey(hexlify(answer.key)).compressedPublicKey,
          signatureChain: answer.signature_chain,
        };
        const verified = verifyKeyChain(chain, STAND_IN_KMS.root.compressedPublicKey);
        expect(verified.appPublicKey).to.equal(cvm.appKey.compressedPublicKey);
        expect(verified.derivedAddress).to.equal(computeAddress(cvm.derivedKey("replicator/eth").publicKey));
        expectEvidenceError(
          () =>
            verifyKeyChain(
              { ...chain, appId: "0x00000000000000000000000000000000000000aa" },
              STAND_IN_KMS.root.publicKey,
            ),
          "kms-root-mismatch",
        );
      } finally {
        await cvm.close();
      }
    });

    it("a CVM whose host pointed it at a rogue KMS gets keys that do not lead to the app's KMS root", async function () {
      const cvm = await DstackGuestApiStandIn.start({ kms: ROGUE_KMS });
      try {
        const answer = await new DstackClient(cvm.endpoint).getKey("k", "ethereum");
        const chain = {
          appId: cvm.cvm.appId,
          purpose: "ethereum",
          derivedPublicKey: new SigningKey(hexlify(answer.key)).compressedPublicKey,
          signatureChain: answer.signature_chain,
        };
        expectEvidenceError(() => verifyKeyChain(chain, STAND_IN_KMS.root.publicKey), "kms-root-mismatch");
        expect(verifyKeyChain(chain, ROGUE_KMS.root.publicKey).kmsRootAddress).to.equal(
          computeAddress(ROGUE_KMS.root.publicKey),
        );
      } finally {
        await cvm.close();
      }
    });
  });

  describe("on-chain: DstackSignatureChain agrees with the TypeScript verifier", function () {
    it("accepts dstack's simulator chain, refuses it for another app, and measures the gas", async function () {
      const harness = await ethers.deployContract("DstackSignatureChainHarness");
      const chain = await simulatorGetKey("/test/path", "test-purpose");
      const recovered = recoverKeyChain(chain);
      const input = {
        purpose: chain.purpose,
        derivedPublicKey: recovered.derivedPublicKey,
        appPublicKey: recovered.appPublicKey,
        appSignature: hexlify(chain.signatureChain[0]!),
        kmsSignature: hexlify(chain.signatureChain[1]!),
      };
      const root = await harness.publicKeyAddress(SIM_KMS_ROOT);
      expect(root).to.equal(publicKeyAddress(SIM_KMS_ROOT));
      expect(await harness.publicKeyAddress(SigningKey.computePublicKey(SIM_KMS_ROOT, false))).to.equal(root);
      expect(await harness.verify(input, SIM_APP_ID, root)).to.equal(recovered.derivedAddress);
      expect(await harness.appKeyDigest(chain.purpose, recovered.derivedPublicKey)).to.equal(
        keccak256(appKeyMessage(chain.purpose, recovered.derivedPublicKey)),
      );
      expect(await harness.kmsIssuedDigest(SIM_APP_ID, recovered.appPublicKey)).to.equal(
        keccak256(kmsIssuedMessage(SIM_APP_ID, recovered.appPublicKey)),
      );
      await expect(
        harness.verify(input, "0x5fbdb2315678afecb367f032d93f642f64180aa3", root),
      ).to.be.revertedWithCustomError(harness, "DstackSignatureChainKmsRootMismatch");

      const [, libraryGas] = await harness.measureVerify(input, SIM_APP_ID, root);
      const callGas = await harness.verify.estimateGas(input, SIM_APP_ID, root);
      // Reported, not bounded: the coverage run instruments the code and multiplies its gas.
      console.log(
        `      gas: DstackSignatureChain.verify ${libraryGas} (library, chain in memory), ${callGas} (a whole ` +
          "transaction calling it: 21,000 intrinsic, calldata, ABI decoding)",
      );
      expect(libraryGas).to.be.greaterThan(6_000n); // at least its two ecrecovers
    });
  });
});
