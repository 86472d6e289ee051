import { expect } from "chai";
import { network } from "hardhat";

import type { IAppAuth } from "../types/ethers-contracts/index.js";
import { DAY, INITIAL_COMPOSE_HASH, INITIAL_DEVICE_ID, bootInfo as baseBootInfo } from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.getOrCreate();

const HASH = INITIAL_COMPOSE_HASH;
const DEVICE = INITIAL_DEVICE_ID;
const OS_IMAGE = ethers.id("os image");

/** A boot of `appId` that the reference fixtures allow once the OS image is allowed. */
function bootInfo(appId: string, overrides: Partial<IAppAuth.AppBootInfoStruct> = {}) {
  return baseBootInfo({ appId, osImageHash: OS_IMAGE, ...overrides });
}

async function deployReferences() {
  const [owner, stranger] = await ethers.getSigners();
  const stock = await ethers.deployContract("StockAppAuth", [owner!.address, false, DEVICE, ethers.ZeroHash]);
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  const timelocked = await ethers.deployContract("TimelockedAppAuth", [
    owner!.address,
    7n * DAY,
    HASH,
    "file:///app-compose.json",
    [DEVICE],
    false,
    true,
  ]);
  return { owner: owner!, stranger: stranger!, stock, kms, timelocked };
}

describe("reference contracts", function () {
  describe("StockAppAuth (the instant, Stage-0 baseline)", function () {
    it("allows a new compose hash in the same block the owner adds it", async function () {
      const { stock } = await networkHelpers.loadFixture(deployReferences);
      const target = await stock.getAddress();
      expect(await stock.isAppAllowed(bootInfo(target))).to.deep.equal([false, "Compose hash not allowed"]);
      await expect(stock.addComposeHash(HASH)).to.emit(stock, "ComposeHashAdded").withArgs(HASH);
      expect(await stock.isAppAllowed(bootInfo(target))).to.deep.equal([true, ""]);
    });

    it("checks the TCB first, then the compose hash, then the device, with dstack's reasons", async function () {
      const { stock } = await networkHelpers.loadFixture(deployReferences);
      const target = await stock.getAddress();
      await stock.setRequireTcbUpToDate(true);
      const everythingWrong = bootInfo(target, {
        tcbStatus: "OutOfDate",
        composeHash: ethers.ZeroHash,
        deviceId: ethers.ZeroHash,
      });
      expect(await stock.isAppAllowed(everythingWrong)).to.deep.equal([false, "TCB status is not up to date"]);
      expect(await stock.isAppAllowed({ ...everythingWrong, tcbStatus: "UpToDate" })).to.deep.equal([
        false,
        "Compose hash not allowed",
      ]);
      await stock.addComposeHash(ethers.ZeroHash);
      expect(await stock.isAppAllowed({ ...everythingWrong, tcbStatus: "UpToDate" })).to.deep.equal([
        false,
        "Device not allowed",
      ]);
      await stock.setAllowAnyDevice(true);
      expect(await stock.isAppAllowed({ ...everythingWrong, tcbStatus: "UpToDate" })).to.deep.equal([true, ""]);
    });

    it("revokes a compose hash and devices in the same block, too", async function () {
      const { stock } = await networkHelpers.loadFixture(deployReferences);
      const target = await stock.getAddress();
      const other = ethers.id("device 2");
      await stock.addComposeHash(HASH);
      await expect(stock.addDevice(other)).to.emit(stock, "DeviceAdded").withArgs(other);
      expect(await stock.isAppAllowed(bootInfo(target, { deviceId: other }))).to.deep.equal([true, ""]);
      await expect(stock.removeDevice(other)).to.emit(stock, "DeviceRemoved").withArgs(other);
      expect(await stock.isAppAllowed(bootInfo(target, { deviceId: other }))).to.deep.equal([
        false,
        "Device not allowed",
      ]);
      await expect(stock.removeComposeHash(HASH)).to.emit(stock, "ComposeHashRemoved").withArgs(HASH);
      expect(await stock.isAppAllowed(bootInfo(target))).to.deep.equal([false, "Compose hash not allowed"]);
    });

    it("answers ERC-165 for IAppAuth and IAppAuthBasicManagement, and only the owner changes it", async function () {
      const { stock, stranger } = await networkHelpers.loadFixture(deployReferences);
      expect(await stock.supportsInterface("0x1e079198")).to.equal(true);
      expect(await stock.supportsInterface("0x8fd37527")).to.equal(true);
      expect(await stock.supportsInterface("0xffffffff")).to.equal(false);
      await expect(stock.connect(stranger).addComposeHash(HASH))
        .to.be.revertedWithCustomError(stock, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });
  });

  describe("LegacyAppAuth (dstack's AppAuth before it answered ERC-165)", function () {
    it("answers isAppAllowed with dstack's reasons, through the KMS too, and has no supportsInterface", async function () {
      const { kms, owner } = await networkHelpers.loadFixture(deployReferences);
      const legacy = await ethers.deployContract("LegacyAppAuth", [owner.address, HASH]);
      const app = await legacy.getAddress();
      expect(await legacy.isAppAllowed(bootInfo(app))).to.deep.equal([true, ""]);
      expect(await legacy.isAppAllowed(bootInfo(owner.address))).to.deep.equal([false, "Wrong app controller"]);
      expect(await legacy.isAppAllowed(bootInfo(app, { composeHash: ethers.ZeroHash }))).to.deep.equal([
        false,
        "Compose hash not allowed",
      ]);
      await kms.registerApp(app);
      await kms.addOsImageHash(OS_IMAGE);
      expect(await kms.isAppAllowed(bootInfo(app))).to.deep.equal([true, ""]);
      const erc165 = new ethers.Contract(
        app,
        ["function supportsInterface(bytes4) view returns (bool)"],
        ethers.provider,
      );
      await expect(erc165.getFunction("supportsInterface").staticCall("0x1e079198")).to.be.revertedWithoutReason(
        ethers,
      );
    });
  });

  describe("KmsStandIn (stand-in for DstackKms on chains without it)", function () {
    it("checks registration, then the OS image, then code at the app id, with upstream's reasons", async function () {
      const { kms, timelocked, stranger } = await networkHelpers.loadFixture(deployReferences);
      const app = await timelocked.getAddress();
      expect(await kms.isAppAllowed(bootInfo(app))).to.deep.equal([false, "App not registered"]);
      await expect(kms.connect(stranger).registerApp(app)).to.emit(kms, "AppRegistered").withArgs(app);
      expect(await kms.isAppAllowed(bootInfo(app))).to.deep.equal([false, "OS image is not allowed"]);
      await kms.addOsImageHash(OS_IMAGE);
      expect(await kms.isAppAllowed(bootInfo(app))).to.deep.equal([true, ""]);

      await kms.registerApp(stranger.address);
      expect(await kms.isAppAllowed(bootInfo(stranger.address))).to.deep.equal([
        false,
        "App not deployed or invalid address",
      ]);
      await kms.removeOsImageHash(OS_IMAGE);
      expect(await kms.isAppAllowed(bootInfo(app))).to.deep.equal([false, "OS image is not allowed"]);
    });

    it("passes the app contract's own answer through", async function () {
      const { kms, timelocked } = await networkHelpers.loadFixture(deployReferences);
      const app = await timelocked.getAddress();
      await kms.registerApp(app);
      await kms.addOsImageHash(OS_IMAGE);
      expect(await kms.isAppAllowed(bootInfo(app, { tcbStatus: "OutOfDate" }))).to.deep.equal([
        false,
        "TCB status is not up to date",
      ]);
      expect(await kms.isAppAllowed(bootInfo(app, { deviceId: ethers.ZeroHash }))).to.deep.equal([
        false,
        "Device not allowed",
      ]);
      expect(await kms.supportsInterface("0x1e079198")).to.equal(true);
      expect(await kms.supportsInterface("0x01ffc9a7")).to.equal(true);
    });

    it("lets only its owner change the OS images", async function () {
      const { kms, stranger } = await networkHelpers.loadFixture(deployReferences);
      await expect(kms.connect(stranger).addOsImageHash(OS_IMAGE))
        .to.be.revertedWithCustomError(kms, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });
  });
});
