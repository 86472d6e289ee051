import { DstackClient } from "@phala/dstack-sdk";
import { expect } from "chai";
import { Interface, SigningKey, hexlify } from "ethers";
import { network } from "hardhat";

import {
  DstackEvidenceError,
  KMS_INFO_ABI,
  keyProviderRefusal,
  kmsRootOf,
  readKmsInfo,
  verifyKeyChain,
} from "../../lib/dstack/index.js";
import { measureBoot } from "../../lib/replication/index.js";
import { DstackGuestApiStandIn, ROGUE_KMS, STAND_IN_KMS } from "../helpers/dstack-guest-api.js";
import { standInVerified } from "../helpers/tee-stand-in.js";
import { KmsStandIn__factory } from "../../types/ethers-contracts/index.js";

const { ethers, networkHelpers } = await network.getOrCreate();

async function kmsWithInfo() {
  const [owner, stranger] = await ethers.getSigners();
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  await kms.setKmsInfo({
    k256Pubkey: STAND_IN_KMS.root.compressedPublicKey,
    caPubkey: STAND_IN_KMS.caPublicKey,
    quote: "0x",
    eventlog: "0x",
  });
  return { kms, owner: owner!, stranger: stranger!, address: await kms.getAddress() };
}

/** What a CVM proves about its keys: a GetKey chain, and its quote's event log. */
async function evidenceOf(cvm: DstackGuestApiStandIn) {
  const client = new DstackClient(cvm.endpoint);
  const key = await client.getKey("node/ethereum", "ethereum");
  const quote = await client.getQuote(new Uint8Array(64));
  return {
    chain: {
      appId: cvm.cvm.appId,
      purpose: "ethereum",
      derivedPublicKey: new SigningKey(hexlify(key.key)).compressedPublicKey,
      signatureChain: key.signature_chain,
    },
    measured: measureBoot(standInVerified(`0x${quote.quote}`), quote.event_log),
  };
}

describe("lib/dstack: what the KMS contract publishes about its keys", function () {
  it("reads kmsInfo with upstream DstackKms's signatures, which the stand-in shares", function () {
    const ours = new Interface(KMS_INFO_ABI);
    const standIn: Interface = KmsStandIn__factory.createInterface();
    ours.forEachFunction((fragment) => {
      const theirs = standIn.getFunction(fragment.selector);
      expect(
        theirs?.outputs.map((output) => output.format("sighash")),
        fragment.format("sighash"),
      ).to.deep.equal(fragment.outputs.map((output) => output.format("sighash")));
    });
    const event = ours.getEvent("KmsInfoSet")!;
    expect(standIn.getEvent(event.topicHash)?.inputs.map((input) => input.indexed)).to.deep.equal([false]);
    expect(ours.getFunction("kmsInfo")!.selector).to.equal(ethers.id("kmsInfo()").slice(0, 10));
    expect(ours.getFunction("setKmsInfo")!.selector).to.equal(
      ethers.id("setKmsInfo((bytes,bytes,bytes,bytes))").slice(0, 10),
    );
  });

  it("lets only the KMS's owner set it, and says so in KmsInfoSet", async function () {
    const { kms, stranger } = await networkHelpers.loadFixture(kmsWithInfo);
    const info = { k256Pubkey: ROGUE_KMS.root.compressedPublicKey, caPubkey: "0x", quote: "0x", eventlog: "0x" };
    await expect(kms.connect(stranger).setKmsInfo(info))
      .to.be.revertedWithCustomError(kms, "OwnableUnauthorizedAccount")
      .withArgs(stranger.address);
    await expect(kms.setKmsInfo(info)).to.emit(kms, "KmsInfoSet").withArgs(ROGUE_KMS.root.compressedPublicKey);
  });

  it("gives the KMS root a chain must end in, and the CA key a key-provider event must name", async function () {
    const { address } = await networkHelpers.loadFixture(kmsWithInfo);
    const info = await readKmsInfo(ethers.provider, address);
    expect(info).to.deep.equal({
      k256Pubkey: STAND_IN_KMS.root.compressedPublicKey,
      caPubkey: STAND_IN_KMS.caPublicKey,
      quote: "0x",
      eventlog: "0x",
    });
    const root = kmsRootOf(info);
    expect(root.address).to.equal(ethers.computeAddress(STAND_IN_KMS.root.publicKey));

    const genuine = await DstackGuestApiStandIn.start();
    const rogue = await DstackGuestApiStandIn.start({ kms: ROGUE_KMS });
    try {
      const ok = await evidenceOf(genuine);
      expect(verifyKeyChain(ok.chain, root.publicKey).kmsRootAddress).to.equal(root.address);
      expect(keyProviderRefusal(ok.measured.keyProvider!, root.caPublicKey)).to.equal(undefined);
      // Info reports what the quote measures.
      expect(`0x${genuine.info["mr_aggregated"]}`).to.equal(ok.measured.runtime.mrAggregated);
      expect(`0x${genuine.info["device_id"]}`).to.equal(ok.measured.deviceId);

      const bad = await evidenceOf(rogue);
      expect(() => verifyKeyChain(bad.chain, root.publicKey)).to.throw(DstackEvidenceError, /not to the KMS root/);
      expect(keyProviderRefusal(bad.measured.keyProvider!, root.caPublicKey)).to.match(/not the KMS root CA key/);
    } finally {
      await genuine.close();
      await rogue.close();
    }
  });

  it("refuses a KMS that publishes no root key", async function () {
    const [owner] = await ethers.getSigners();
    const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
    const info = await readKmsInfo(ethers.provider, await kms.getAddress());
    expect(() => kmsRootOf(info)).to.throw(DstackEvidenceError, "the KMS publishes no k256Pubkey (kmsInfo is not set)");
  });
});
