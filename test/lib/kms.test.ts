import { expect } from "chai";
import type { FunctionFragment, Interface } from "ethers";
import { network } from "hardhat";

import { UserError } from "../../lib/errors.js";
import {
  connectKms,
  findAllowedOsImages,
  KMS_ABI,
  KMS_CONFIG_FILE,
  kmsForChain,
  kmsInterface,
  makeBootInfo,
  readKmsConfig,
} from "../../lib/kms.js";
import { writeTempFile } from "../tasks/helpers.js";
import { KmsStandIn__factory } from "../../types/ethers-contracts/index.js";

const { ethers, networkHelpers } = await network.getOrCreate();

const image = (n: number) => `0x${n.toString(16).padStart(2, "0").repeat(32)}`;

async function kmsWithImages() {
  const [owner] = await ethers.getSigners();
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  await kms.addOsImageHash(image(1));
  await networkHelpers.mine(30);
  await kms.addOsImageHash(image(2));
  await kms.addOsImageHash(image(3));
  await kms.removeOsImageHash(image(3));
  await networkHelpers.mine(5);
  return { kms, address: await kms.getAddress(), toBlock: await ethers.provider.getBlockNumber() };
}

describe("lib/kms", function () {
  it("calls the KMS with upstream DstackKms signatures, which the stand-in shares", function () {
    const standIn: Interface = KmsStandIn__factory.createInterface();
    const shape = (fragment: FunctionFragment | null) =>
      fragment === null
        ? undefined
        : { outputs: fragment.outputs.map((output) => output.format("sighash")), readOnly: fragment.constant };
    kmsInterface.forEachFunction((fragment) => {
      const theirs = standIn.getFunction(fragment.selector);
      expect(shape(theirs), fragment.format("sighash")).to.deep.equal(shape(fragment));
    });
    kmsInterface.forEachEvent((fragment) => {
      const theirs = standIn.getEvent(fragment.topicHash);
      expect(
        theirs?.inputs.map((input) => input.indexed === true),
        fragment.format("sighash"),
      ).to.deep.equal(fragment.inputs.map((input) => input.indexed === true));
    });
    expect(KMS_ABI.length).to.equal(8);
    expect(kmsInterface.getFunction("isAppAllowed")!.selector).to.equal("0x1e079198");
  });

  it("reads config/kms.json: Base mainnet's KMS, checksummed", async function () {
    const entry = await kmsForChain(KMS_CONFIG_FILE, 8453);
    expect(entry.address).to.equal("0x2f83172A49584C017F2B256F0FB2Dca14126Ba9C");
    expect(entry.note).to.match(/re-check on Basescan before relying on it/);
    const error = await kmsForChain(KMS_CONFIG_FILE, 1).catch((e: unknown) => e);
    expect((error as Error).message).to.equal("config/kms.json has no dstack KMS for chain 1: pass --kms <address>");
  });

  it("refuses a config with a bad address or a key that is not a chain id", async function () {
    const bad = await writeTempFile(
      "kms.json",
      JSON.stringify({ 8453: { address: "0x2f83172a49584c017F2B256F0FB2Dca14126Ba9C" } }),
    );
    await readKmsConfig(bad).then(
      () => expect.fail("accepted a broken checksum"),
      (error: unknown) =>
        expect((error as Error).message).to.match(/chain 8453: .* is not an address with a valid checksum$/),
    );
    const key = await writeTempFile("kms.json", JSON.stringify({ base: { address: ethers.ZeroAddress } }));
    await readKmsConfig(key).then(
      () => expect.fail("accepted a key that is not a chain id"),
      (error: unknown) => expect(error).to.be.instanceOf(UserError),
    );
  });

  it("finds the allowed OS images from the KMS's events, newest first, across log windows, skipping removed ones", async function () {
    const { address, toBlock } = await networkHelpers.loadFixture(kmsWithImages);
    const options = { toBlock, chunkBlocks: 4, maxBlocks: 1000 };
    expect(await findAllowedOsImages(ethers.provider, address, { ...options, want: 5 })).to.deep.equal([
      image(2),
      image(1),
    ]);
    expect(await findAllowedOsImages(ethers.provider, address, options)).to.deep.equal([image(2)]);
    // The scan stops after maxBlocks: the first image is 30+ blocks older than the others.
    expect(await findAllowedOsImages(ethers.provider, address, { ...options, maxBlocks: 20, want: 5 })).to.deep.equal([
      image(2),
    ]);
  });

  it("asks the KMS with a boot info in dstack's field order", async function () {
    const { kms, address } = await networkHelpers.loadFixture(kmsWithImages);
    const connected = await connectKms(address, ethers.provider, "here");
    const app = await kms.getAddress();
    expect(
      await connected.isAppAllowed(
        makeBootInfo({ appId: app, composeHash: ethers.ZeroHash, deviceId: ethers.ZeroHash }),
      ),
    ).to.deep.equal({
      allowed: false,
      reason: "App not registered",
    });
    expect(await connected.allowedOsImages(image(1))).to.equal(true);
  });
});
