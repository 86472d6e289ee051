/**
 * The reference contracts the gas benchmark (scripts/bench/) measures besides ours: dstack's DstackApp as users have
 * it (UpgradeableStockAppAuth behind OpenZeppelin's ERC1967Proxy) and UpgradeCycleFloor. The figures are only worth
 * comparing if these behave as their comments say.
 */
import { expect } from "chai";
import { network } from "hardhat";

import type { IAppAuth } from "../types/ethers-contracts/index.js";
import { DAY, INITIAL_COMPOSE_HASH, INITIAL_DEVICE_ID, bootInfo as baseBootInfo } from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.getOrCreate();

const HASH = INITIAL_COMPOSE_HASH;
const NEXT_HASH = ethers.id("release 2");
const DEVICE = INITIAL_DEVICE_ID;
const OS_IMAGE = ethers.id("os image");
const NOTICE = 7n * DAY;
const COMPOSE_HASH_POLICY = ethers.id("compose-hash");

function bootInfo(appId: string, overrides: Partial<IAppAuth.AppBootInfoStruct> = {}) {
  return baseBootInfo({ appId, osImageHash: OS_IMAGE, ...overrides });
}

async function deployProxiedApp() {
  const [owner, stranger] = await ethers.getSigners();
  const implementation = await ethers.deployContract("UpgradeableStockAppAuth");
  const initialize = implementation.interface.encodeFunctionData("initialize", [
    owner!.address,
    false,
    true,
    false,
    DEVICE,
    HASH,
  ]);
  const proxy = await ethers.deployContract("ERC1967Proxy", [await implementation.getAddress(), initialize]);
  const app = await ethers.getContractAt("UpgradeableStockAppAuth", await proxy.getAddress());
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  await kms.registerApp(await app.getAddress());
  await kms.addOsImageHash(OS_IMAGE);
  return { owner: owner!, stranger: stranger!, implementation, proxy, app, kms };
}

async function deployFloor() {
  const [owner, stranger] = await ethers.getSigners();
  const floor = await ethers.deployContract("UpgradeCycleFloor", [owner!.address, NOTICE, HASH]);
  return { owner: owner!, stranger: stranger!, floor };
}

describe("reference contracts the benchmark measures", function () {
  describe("UpgradeableStockAppAuth behind an ERC1967Proxy (dstack's DstackApp as deployed)", function () {
    it("is initialised once, through the proxy, with the genesis release, device and TCB rule", async function () {
      const { app, implementation, owner } = await networkHelpers.loadFixture(deployProxiedApp);
      expect(await app.owner()).to.equal(owner.address);
      expect(await app.allowedComposeHashes(HASH)).to.equal(true);
      expect(await app.allowedDeviceIds(DEVICE)).to.equal(true);
      expect(await app.requireTcbUpToDate()).to.equal(true);
      expect(await app.allowAnyDevice()).to.equal(false);
      await expect(app.initialize(owner.address, false, true, false, DEVICE, HASH)).to.be.revertedWithCustomError(
        app,
        "InvalidInitialization",
      );
      await expect(
        implementation.initialize(owner.address, false, true, false, DEVICE, HASH),
      ).to.be.revertedWithCustomError(implementation, "InvalidInitialization");
    });

    it("refuses a zero owner at initialisation, with upstream's reason", async function () {
      const implementation = await ethers.deployContract("UpgradeableStockAppAuth");
      const initialize = implementation.interface.encodeFunctionData("initialize", [
        ethers.ZeroAddress,
        false,
        true,
        false,
        DEVICE,
        HASH,
      ]);
      const proxyFactory = await ethers.getContractFactory("ERC1967Proxy");
      await expect(proxyFactory.deploy(await implementation.getAddress(), initialize)).to.be.revertedWith(
        "invalid owner address",
      );
    });

    it("changes the policy at once, with dstack's events and PolicyChanged, and answers through the KMS", async function () {
      const { app, kms, owner } = await networkHelpers.loadFixture(deployProxiedApp);
      const appId = await app.getAddress();
      const next = bootInfo(appId, { composeHash: NEXT_HASH });
      expect(await kms.isAppAllowed(next)).to.deep.equal([false, "Compose hash not allowed"]);
      await expect(app.addComposeHash(NEXT_HASH))
        .to.emit(app, "ComposeHashAdded")
        .withArgs(NEXT_HASH)
        .and.to.emit(app, "PolicyChanged")
        .withArgs(owner.address, COMPOSE_HASH_POLICY, NEXT_HASH, true);
      expect(await kms.isAppAllowed(next)).to.deep.equal([true, ""]);
      await expect(app.removeComposeHash(NEXT_HASH))
        .to.emit(app, "ComposeHashRemoved")
        .withArgs(NEXT_HASH)
        .and.to.emit(app, "PolicyChanged")
        .withArgs(owner.address, COMPOSE_HASH_POLICY, NEXT_HASH, false);
      expect(await kms.isAppAllowed(next)).to.deep.equal([false, "Compose hash not allowed"]);
    });

    it("checks the TCB first, then the compose hash, then the device, with dstack's reasons", async function () {
      const { app, owner } = await networkHelpers.loadFixture(deployProxiedApp);
      const appId = await app.getAddress();
      const other = ethers.id("device 2");
      const everythingWrong = bootInfo(appId, { tcbStatus: "OutOfDate", composeHash: NEXT_HASH, deviceId: other });
      expect(await app.isAppAllowed(everythingWrong)).to.deep.equal([false, "TCB status is not up to date"]);
      await expect(app.setRequireTcbUpToDate(false))
        .to.emit(app, "RequireTcbUpToDateSet")
        .withArgs(false)
        .and.to.emit(app, "PolicyChanged")
        .withArgs(owner.address, ethers.id("require-tcb-up-to-date"), ethers.ZeroHash, false);
      expect(await app.isAppAllowed(everythingWrong)).to.deep.equal([false, "Compose hash not allowed"]);
      await app.addComposeHash(NEXT_HASH);
      expect(await app.isAppAllowed(everythingWrong)).to.deep.equal([false, "Device not allowed"]);
      await expect(app.addDevice(other)).to.emit(app, "DeviceAdded").withArgs(other);
      expect(await app.isAppAllowed(everythingWrong)).to.deep.equal([true, ""]);
      await expect(app.removeDevice(other)).to.emit(app, "DeviceRemoved").withArgs(other);
      expect(await app.isAppAllowed(everythingWrong)).to.deep.equal([false, "Device not allowed"]);
      await expect(app.setAllowAnyDevice(true))
        .to.emit(app, "AllowAnyDeviceSet")
        .withArgs(true)
        .and.to.emit(app, "PolicyChanged")
        .withArgs(owner.address, ethers.id("allow-any-device"), ethers.ZeroHash, true);
      expect(await app.isAppAllowed(everythingWrong)).to.deep.equal([true, ""]);
    });

    it("lets only its owner change it or upgrade it, and refuses upgrades once they are disabled", async function () {
      const { app, stranger, owner } = await networkHelpers.loadFixture(deployProxiedApp);
      for (const change of [
        () => app.connect(stranger).addComposeHash(NEXT_HASH),
        () => app.connect(stranger).removeComposeHash(HASH),
        () => app.connect(stranger).addDevice(NEXT_HASH),
        () => app.connect(stranger).removeDevice(DEVICE),
        () => app.connect(stranger).setAllowAnyDevice(true),
        () => app.connect(stranger).setRequireTcbUpToDate(false),
        () => app.connect(stranger).disableUpgrades(),
      ]) {
        await expect(change())
          .to.be.revertedWithCustomError(app, "OwnableUnauthorizedAccount")
          .withArgs(stranger.address);
      }
      const successor = await ethers.deployContract("UpgradeableStockAppAuth");
      const successorAddress = await successor.getAddress();
      await expect(app.connect(stranger).upgradeToAndCall(successorAddress, "0x"))
        .to.be.revertedWithCustomError(app, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
      // Upgrading at once is what the owner of dstack's DstackApp can do, announced as a policy change.
      await expect(app.upgradeToAndCall(successorAddress, "0x"))
        .to.emit(app, "PolicyChanged")
        .withArgs(owner.address, ethers.id("implementation-upgrade"), ethers.zeroPadValue(successorAddress, 32), true);
      expect(await app.allowedComposeHashes(HASH)).to.equal(true);
      await expect(app.disableUpgrades())
        .to.emit(app, "UpgradesDisabled")
        .and.to.emit(app, "PolicyChanged")
        .withArgs(owner.address, ethers.id("upgrades-disabled"), ethers.ZeroHash, true);
      await expect(app.upgradeToAndCall(successorAddress, "0x")).to.be.revertedWith(
        "Upgrades are permanently disabled",
      );
    });

    it("answers ERC-165 for IAppAuth and IAppAuthBasicManagement", async function () {
      const { app } = await networkHelpers.loadFixture(deployProxiedApp);
      expect(await app.supportsInterface("0x1e079198")).to.equal(true);
      expect(await app.supportsInterface("0x8fd37527")).to.equal(true);
      expect(await app.supportsInterface("0x01ffc9a7")).to.equal(true);
      expect(await app.supportsInterface("0xffffffff")).to.equal(false);
    });
  });

  describe("UpgradeCycleFloor (the least a timelocked upgrade stores)", function () {
    it("announces the URI at proposal, allows the hash after the notice, and retires on activation", async function () {
      const { floor, stranger, owner } = await networkHelpers.loadFixture(deployFloor);
      const uri = "https://example.org/app-compose.json";
      const proposal = await floor.proposeComposeHash(NEXT_HASH, uri);
      const readyAt = BigInt(await networkHelpers.time.latest()) + NOTICE;
      await expect(proposal).to.emit(floor, "ComposeHashProposed").withArgs(NEXT_HASH, readyAt, uri);
      expect(await floor.readyAt(NEXT_HASH)).to.equal(readyAt);
      await networkHelpers.time.increaseTo(readyAt);
      await expect(floor.connect(stranger).activateComposeHash(NEXT_HASH))
        .to.emit(floor, "ComposeHashAdded")
        .withArgs(NEXT_HASH)
        .and.to.emit(floor, "PolicyChanged")
        .withArgs(stranger.address, COMPOSE_HASH_POLICY, NEXT_HASH, true);
      expect(await floor.getComposeHashes()).to.deep.equal([HASH, NEXT_HASH]);
      expect(await floor.readyAt(NEXT_HASH)).to.equal(0n);

      const third = ethers.id("release 3");
      await floor.proposeComposeHash(third, uri);
      await networkHelpers.time.increase(NOTICE);
      await expect(floor.activateComposeHashAndRetire(third, [HASH, NEXT_HASH]))
        .to.emit(floor, "ComposeHashRemoved")
        .withArgs(HASH)
        .and.to.emit(floor, "PolicyChanged")
        .withArgs(owner.address, COMPOSE_HASH_POLICY, NEXT_HASH, false);
      expect(await floor.getComposeHashes()).to.deep.equal([third]);
    });

    it("refuses a stranger's proposal or retirement, a proposal twice, an early activation and unknown hashes", async function () {
      const { floor, stranger } = await networkHelpers.loadFixture(deployFloor);
      await expect(floor.connect(stranger).proposeComposeHash(NEXT_HASH, "u"))
        .to.be.revertedWithCustomError(floor, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
      await expect(floor.activateComposeHash(NEXT_HASH))
        .to.be.revertedWithCustomError(floor, "NotReady")
        .withArgs(NEXT_HASH);
      await floor.proposeComposeHash(NEXT_HASH, "u");
      await expect(floor.proposeComposeHash(NEXT_HASH, "u"))
        .to.be.revertedWithCustomError(floor, "AlreadyProposed")
        .withArgs(NEXT_HASH);
      await expect(floor.activateComposeHash(NEXT_HASH))
        .to.be.revertedWithCustomError(floor, "NotReady")
        .withArgs(NEXT_HASH);
      await networkHelpers.time.increase(NOTICE);
      await expect(floor.connect(stranger).activateComposeHashAndRetire(NEXT_HASH, [HASH]))
        .to.be.revertedWithCustomError(floor, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
      const unknown = ethers.id("never allowed");
      await expect(floor.activateComposeHashAndRetire(NEXT_HASH, [unknown]))
        .to.be.revertedWithCustomError(floor, "NotAllowed")
        .withArgs(unknown);
      await floor.proposeComposeHash(HASH, "u");
      await networkHelpers.time.increase(NOTICE);
      await expect(floor.activateComposeHash(HASH))
        .to.be.revertedWithCustomError(floor, "AlreadyAllowed")
        .withArgs(HASH);
      expect(await floor.getComposeHashes()).to.deep.equal([HASH]);
    });
  });
});
