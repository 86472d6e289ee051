import { expect } from "chai";
import { ZeroAddress, ZeroHash } from "ethers";
import { network } from "hardhat";

import {
  ChangeKind,
  composeHashOf,
  composeUriOf,
  constructorArgs,
  deployTimelockedAppAuth,
  deployTimelockedAppAuthFixture,
  deviceIdOf,
  eventsOf,
  GRACE_PERIOD,
  INITIAL_COMPOSE_HASH,
  INITIAL_COMPOSE_URI,
  INITIAL_DEVICE_ID,
  INITIAL_NOTICE_PERIOD,
  MAX_NOTICE_PERIOD,
  MIN_NOTICE_PERIOD,
  proposalIdOf,
} from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.create();
const { loadFixture } = networkHelpers;

describe("TimelockedAppAuth", function () {
  describe("constructor", function () {
    describe("initial state", function () {
      it("sets the owner, with no pending owner", async function () {
        const { appAuth, owner } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.owner()).to.equal(owner.address);
        expect(await appAuth.pendingOwner()).to.equal(ZeroAddress);
      });

      it("can be owned by an account other than the deployer", async function () {
        const { newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, { owner: newOwner.address });
        expect(await appAuth.owner()).to.equal(newOwner.address);
      });

      it("sets the notice period, which getTimelock() reports too", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.noticePeriod()).to.equal(INITIAL_NOTICE_PERIOD);
        expect(await appAuth.getTimelock()).to.equal(INITIAL_NOTICE_PERIOD);
      });

      it("allows the initial compose hash and records its URI", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.allowedComposeHashes(INITIAL_COMPOSE_HASH)).to.equal(true);
        expect(await appAuth.getComposeHashes()).to.deep.equal([INITIAL_COMPOSE_HASH]);
        expect(await composeUriOf(appAuth, INITIAL_COMPOSE_HASH)).to.equal(INITIAL_COMPOSE_URI);
      });

      it("makes the initial compose hash the current release, set at the deployment time", async function () {
        const { appAuth, deploymentBlock } = await loadFixture(deployTimelockedAppAuthFixture);
        const block = await ethers.provider.getBlock(deploymentBlock);
        const [composeHash, uriBlock, setAt] = await appAuth.currentRelease();
        expect(composeHash).to.equal(INITIAL_COMPOSE_HASH);
        expect(uriBlock).to.equal(BigInt(deploymentBlock));
        expect(await composeUriOf(appAuth, composeHash)).to.equal(INITIAL_COMPOSE_URI);
        expect(setAt).to.equal(BigInt(block?.timestamp ?? -1));
      });

      it("lists the initial devices", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const devices = [deviceIdOf("a"), deviceIdOf("b"), deviceIdOf("c")];
        const appAuth = await deployTimelockedAppAuth(ethers, { devices });
        expect(await appAuth.getDevices())
          .to.have.members(devices)
          .and.have.lengthOf(3);
        for (const device of devices) expect(await appAuth.allowedDeviceIds(device)).to.equal(true);
        expect(await appAuth.allowedDeviceIds(deviceIdOf("d"))).to.equal(false);
      });

      it("accepts an empty device list", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, { devices: [] });
        expect(await appAuth.getDevices()).to.deep.equal([]);
      });

      it("sets allowAnyDevice and requireTcbUpToDate as given", async function () {
        const { appAuth: restrictive } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await restrictive.allowAnyDevice()).to.equal(false);
        expect(await restrictive.requireTcbUpToDate()).to.equal(true);

        const permissive = await deployTimelockedAppAuth(ethers, { allowAnyDevice: true, requireTcbUpToDate: false });
        expect(await permissive.allowAnyDevice()).to.equal(true);
        expect(await permissive.requireTcbUpToDate()).to.equal(false);
      });

      it("starts with upgrades enabled and no proposals", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.upgradesDisabled()).to.equal(false);
        expect(await appAuth.getProposals()).to.deep.equal([]);
      });

      it("exposes its bounds and grace window as constants", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.MIN_NOTICE_PERIOD()).to.equal(MIN_NOTICE_PERIOD);
        expect(await appAuth.MAX_NOTICE_PERIOD()).to.equal(MAX_NOTICE_PERIOD);
        expect(await appAuth.GRACE_PERIOD()).to.equal(GRACE_PERIOD);
      });

      it("starts without a release when the initial compose hash is zero (and ignores the URI)", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, { composeHash: ZeroHash, composeUri: "ignored" });
        expect(await appAuth.getComposeHashes()).to.deep.equal([]);
        expect(await appAuth.allowedComposeHashes(ZeroHash)).to.equal(false);
        expect(await composeUriOf(appAuth, ZeroHash)).to.equal("");
        const [composeHash, uriBlock, setAt] = await appAuth.currentRelease();
        expect([composeHash, uriBlock, setAt]).to.deep.equal([ZeroHash, 0n, 0n]);
      });

      it("lets the first release of a release-less deployment be proposed", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, { composeHash: ZeroHash, composeUri: "" });
        const first = composeHashOf('{"name":"first"}');
        const proposedAt = BigInt(await networkHelpers.time.latest()) + 1n;
        await networkHelpers.time.setNextBlockTimestamp(proposedAt);
        const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
        await expect(appAuth.proposeComposeHash(first, "ipfs://first"))
          .to.emit(appAuth, "ChangeProposed")
          .withArgs(
            proposalIdOf(ChangeKind.AddComposeHash, first),
            ChangeKind.AddComposeHash,
            first,
            readyAt,
            readyAt + GRACE_PERIOD,
            "ipfs://first",
          );
      });
    });

    describe("events", function () {
      it("emits the whole initial state in order, NoticePeriodChanged with an old notice of 0", async function () {
        const { owner } = await loadFixture(deployTimelockedAppAuthFixture);
        const devices = [deviceIdOf("a"), deviceIdOf("b")];
        const appAuth = await deployTimelockedAppAuth(ethers, {
          devices,
          allowAnyDevice: true,
          requireTcbUpToDate: false,
        });
        const deployment = appAuth.deploymentTransaction();
        const deployedAt = BigInt((await ethers.provider.getBlock((await deployment!.wait())!.blockNumber))!.timestamp);
        expect(await eventsOf(appAuth, deployment)).to.deep.equal([
          ["OwnershipTransferred", ZeroAddress, owner.address],
          ["NoticePeriodChanged", 0n, INITIAL_NOTICE_PERIOD],
          // The genesis release's URI, in the event that carries every release's (the contract does not store it).
          [
            "ChangeProposed",
            proposalIdOf(ChangeKind.AddComposeHash, INITIAL_COMPOSE_HASH),
            ChangeKind.AddComposeHash,
            INITIAL_COMPOSE_HASH,
            deployedAt,
            deployedAt + GRACE_PERIOD,
            INITIAL_COMPOSE_URI,
          ],
          ["ComposeHashAdded", INITIAL_COMPOSE_HASH],
          ["CurrentReleaseSet", INITIAL_COMPOSE_HASH, BigInt((await deployment!.wait())!.blockNumber)],
          ["DeviceAdded", devices[0]],
          ["DeviceAdded", devices[1]],
          ["AllowAnyDeviceSet", true],
          ["RequireTcbUpToDateSet", false],
        ]);
      });

      it("emits no release events without an initial compose hash, and the flags even when false", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, {
          noticePeriod: MIN_NOTICE_PERIOD,
          composeHash: ZeroHash,
          composeUri: "",
          devices: [],
          allowAnyDevice: false,
          requireTcbUpToDate: true,
        });
        const names = (await eventsOf(appAuth, appAuth.deploymentTransaction())).map(([name]) => name);
        expect(names).to.deep.equal([
          "OwnershipTransferred",
          "NoticePeriodChanged",
          "AllowAnyDeviceSet",
          "RequireTcbUpToDateSet",
        ]);
      });

      it("emits the events through the to.emit matcher too", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const deployment = appAuth.deploymentTransaction();
        if (deployment === null) throw new Error("no deployment transaction");
        await expect(deployment).to.emit(appAuth, "NoticePeriodChanged").withArgs(0n, INITIAL_NOTICE_PERIOD);
        await expect(deployment).to.emit(appAuth, "ComposeHashAdded").withArgs(INITIAL_COMPOSE_HASH);
        await expect(deployment)
          .to.emit(appAuth, "CurrentReleaseSet")
          .withArgs(INITIAL_COMPOSE_HASH, BigInt((await deployment.wait())!.blockNumber));
        await expect(deployment).to.emit(appAuth, "DeviceAdded").withArgs(INITIAL_DEVICE_ID);
        await expect(deployment).to.emit(appAuth, "AllowAnyDeviceSet").withArgs(false);
        await expect(deployment).to.emit(appAuth, "RequireTcbUpToDateSet").withArgs(true);
      });
    });

    describe("notice period bounds", function () {
      it("accepts exactly MIN_NOTICE_PERIOD (1 hour)", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, { noticePeriod: MIN_NOTICE_PERIOD });
        expect(await appAuth.noticePeriod()).to.equal(3600n);
      });

      it("accepts exactly MAX_NOTICE_PERIOD (365 days)", async function () {
        await loadFixture(deployTimelockedAppAuthFixture);
        const appAuth = await deployTimelockedAppAuth(ethers, { noticePeriod: MAX_NOTICE_PERIOD });
        expect(await appAuth.noticePeriod()).to.equal(365n * 86400n);
      });

      for (const [label, notice] of [
        ["zero", 0n],
        ["one second below MIN_NOTICE_PERIOD", MIN_NOTICE_PERIOD - 1n],
        ["one second above MAX_NOTICE_PERIOD", MAX_NOTICE_PERIOD + 1n],
        ["the largest uint256", 2n ** 256n - 1n],
      ] as const) {
        it(`reverts with NoticePeriodOutOfBounds for ${label}`, async function () {
          const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
          await expect(deployTimelockedAppAuth(ethers, { noticePeriod: notice }))
            .to.be.revertedWithCustomError(appAuth, "NoticePeriodOutOfBounds")
            .withArgs(notice, MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
        });
      }
    });

    describe("invalid input", function () {
      it("reverts with OwnableInvalidOwner for the zero owner", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await expect(deployTimelockedAppAuth(ethers, { owner: ZeroAddress }))
          .to.be.revertedWithCustomError(appAuth, "OwnableInvalidOwner")
          .withArgs(ZeroAddress);
      });

      it("reverts with ComposeUriEmpty for an initial compose hash without a URI", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await expect(deployTimelockedAppAuth(ethers, { composeUri: "" }))
          .to.be.revertedWithCustomError(appAuth, "ComposeUriEmpty")
          .withArgs(INITIAL_COMPOSE_HASH);
      });

      it("reverts with DeviceAlreadyAllowed for a device listed twice", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const twice = deviceIdOf("twice");
        await expect(deployTimelockedAppAuth(ethers, { devices: [deviceIdOf("once"), twice, twice] }))
          .to.be.revertedWithCustomError(appAuth, "DeviceAlreadyAllowed")
          .withArgs(twice);
      });

      it("declares its inputs in the order the test helper and the Ignition module pass them", async function () {
        const { owner } = await loadFixture(deployTimelockedAppAuthFixture);
        const factory = await ethers.getContractFactory("TimelockedAppAuth");
        const inputs = factory.interface.deploy.inputs.map((input) => `${input.type} ${input.name}`);
        expect(inputs).to.deep.equal([
          "address initialOwner",
          "uint256 initialNoticePeriod",
          "bytes32 initialComposeHash",
          "string initialComposeUri",
          "bytes32[] initialDevices",
          "bool initialAllowAnyDevice",
          "bool initialRequireTcbUpToDate",
        ]);
        expect(constructorArgs(owner.address)).to.have.lengthOf(inputs.length);
      });
    });
  });
});
