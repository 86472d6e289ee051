/**
 * Narrowing changes take effect at once and only the owner may make them. They keep working after upgrades are
 * disabled: revocation is never delayed and never frozen.
 */
import { expect } from "chai";
import { ZeroAddress } from "ethers";
import { network } from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import type { TimelockedAppAuth } from "../types/ethers-contracts/index.js";
import {
  bootInfo,
  ChangeKind,
  composeHashOf,
  composeUriOf,
  DAY,
  deployTimelockedAppAuth,
  deployTimelockedAppAuthFixture,
  deviceIdOf,
  eventsOf,
  INITIAL_COMPOSE_HASH,
  INITIAL_COMPOSE_URI,
  INITIAL_DEVICE_ID,
  INITIAL_NOTICE_PERIOD,
  MAX_NOTICE_PERIOD,
  MIN_NOTICE_PERIOD,
  noticeValue,
  proposalIdOf,
  ProposalState,
} from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const SECOND_COMPOSE_HASH = composeHashOf('{"name":"app","version":2}');
const SECOND_COMPOSE_URI = "https://example.org/releases/2/app-compose.json";
const UNKNOWN_HASH = composeHashOf('{"name":"unknown"}');
const UNKNOWN_DEVICE = deviceIdOf("unknown");

/** Proposes, waits and activates a second release, which becomes the current one. */
async function activateSecondRelease(appAuth: TimelockedAppAuth): Promise<bigint> {
  await appAuth.proposeComposeHash(SECOND_COMPOSE_HASH, SECOND_COMPOSE_URI);
  const { readyAt } = await appAuth.getProposal(proposalIdOf(ChangeKind.AddComposeHash, SECOND_COMPOSE_HASH));
  await time.setNextBlockTimestamp(readyAt);
  await appAuth.activateComposeHash(SECOND_COMPOSE_HASH);
  return readyAt;
}

/** The genesis state plus a second, current release activated after its notice: something to roll back from. */
async function twoReleasesFixture(connection: NetworkConnection) {
  const fixture = await deployTimelockedAppAuthFixture(connection);
  const secondSetAt = await activateSecondRelease(fixture.appAuth);
  return { ...fixture, secondSetAt };
}

/** The genesis state, but with any device allowed. */
async function allowAnyDeviceFixture(connection: NetworkConnection) {
  const fixture = await deployTimelockedAppAuthFixture(connection);
  return { ...fixture, appAuth: await deployTimelockedAppAuth(connection.ethers, { allowAnyDevice: true }) };
}

/** The genesis state, but without requiring an up-to-date TCB. */
async function outdatedTcbAllowedFixture(connection: NetworkConnection) {
  const fixture = await deployTimelockedAppAuthFixture(connection);
  return { ...fixture, appAuth: await deployTimelockedAppAuth(connection.ethers, { requireTcbUpToDate: false }) };
}

describe("TimelockedAppAuth", function () {
  describe("removeComposeHash", function () {
    it("stops allowing the hash at once; emits only ComposeHashRemoved", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await eventsOf(appAuth, appAuth.removeComposeHash(INITIAL_COMPOSE_HASH))).to.deep.equal([
        ["ComposeHashRemoved", INITIAL_COMPOSE_HASH],
      ]);
      expect(await appAuth.allowedComposeHashes(INITIAL_COMPOSE_HASH)).to.equal(false);
      expect(await appAuth.getComposeHashes()).to.deep.equal([]);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([false, "Compose hash not allowed"]);
    });

    it("points at no URI for the removed hash", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      expect(await composeUriOf(appAuth, INITIAL_COMPOSE_HASH)).to.equal("");
    });

    it("leaves the other hashes allowed", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      expect(await appAuth.getComposeHashes()).to.deep.equal([SECOND_COMPOSE_HASH]);
      expect(await composeUriOf(appAuth, SECOND_COMPOSE_HASH)).to.equal(SECOND_COMPOSE_URI);
    });

    it("keeps currentRelease pointing at a removed current release, without its URI, while isAppAllowed denies it", async function () {
      const { appAuth, secondSetAt } = await loadFixture(twoReleasesFixture);
      await appAuth.removeComposeHash(SECOND_COMPOSE_HASH);
      expect(await appAuth.currentRelease()).to.deep.equal([SECOND_COMPOSE_HASH, 0n, secondSetAt]);
      expect(await appAuth.isAppAllowed(bootInfo({ composeHash: SECOND_COMPOSE_HASH }))).to.deep.equal([
        false,
        "Compose hash not allowed",
      ]);
    });

    it("does not emit CurrentReleaseSet, even for the current release", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.removeComposeHash(INITIAL_COMPOSE_HASH)).not.to.emit(appAuth, "CurrentReleaseSet");
    });

    it("reverts with ComposeHashNotAllowed for a hash that is not allowed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.removeComposeHash(UNKNOWN_HASH))
        .to.be.revertedWithCustomError(appAuth, "ComposeHashNotAllowed")
        .withArgs(UNKNOWN_HASH);
    });

    it("reverts with ComposeHashNotAllowed when removed twice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      await expect(appAuth.removeComposeHash(INITIAL_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "ComposeHashNotAllowed")
        .withArgs(INITIAL_COMPOSE_HASH);
    });

    it("reverts with ComposeHashNotAllowed for a hash that is only proposed (cancel it instead)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeComposeHash(SECOND_COMPOSE_HASH, SECOND_COMPOSE_URI);
      await expect(appAuth.removeComposeHash(SECOND_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "ComposeHashNotAllowed")
        .withArgs(SECOND_COMPOSE_HASH);
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.connect(stranger).removeComposeHash(INITIAL_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("still works after upgrades are disabled", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.removeComposeHash(INITIAL_COMPOSE_HASH))
        .to.emit(appAuth, "ComposeHashRemoved")
        .withArgs(INITIAL_COMPOSE_HASH);
    });
  });

  describe("removeDevice", function () {
    it("stops allowing the device at once; emits only DeviceRemoved", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await eventsOf(appAuth, appAuth.removeDevice(INITIAL_DEVICE_ID))).to.deep.equal([
        ["DeviceRemoved", INITIAL_DEVICE_ID],
      ]);
      expect(await appAuth.allowedDeviceIds(INITIAL_DEVICE_ID)).to.equal(false);
      expect(await appAuth.getDevices()).to.deep.equal([]);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([false, "Device not allowed"]);
    });

    it("leaves the other devices listed", async function () {
      await loadFixture(deployTimelockedAppAuthFixture);
      const [a, b, c] = [deviceIdOf("a"), deviceIdOf("b"), deviceIdOf("c")];
      const appAuth = await deployTimelockedAppAuth(ethers, { devices: [a, b, c] });
      await appAuth.removeDevice(b);
      expect(await appAuth.getDevices())
        .to.have.members([a, c])
        .and.have.lengthOf(2);
    });

    it("does not refuse the device while any device is allowed", async function () {
      await loadFixture(deployTimelockedAppAuthFixture);
      const appAuth = await deployTimelockedAppAuth(ethers, { allowAnyDevice: true });
      await appAuth.removeDevice(INITIAL_DEVICE_ID);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([true, ""]);
    });

    it("reverts with DeviceNotAllowed for a device that is not listed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.removeDevice(UNKNOWN_DEVICE))
        .to.be.revertedWithCustomError(appAuth, "DeviceNotAllowed")
        .withArgs(UNKNOWN_DEVICE);
    });

    it("reverts with DeviceNotAllowed when removed twice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.removeDevice(INITIAL_DEVICE_ID);
      await expect(appAuth.removeDevice(INITIAL_DEVICE_ID))
        .to.be.revertedWithCustomError(appAuth, "DeviceNotAllowed")
        .withArgs(INITIAL_DEVICE_ID);
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.connect(stranger).removeDevice(INITIAL_DEVICE_ID))
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("still works after upgrades are disabled", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.removeDevice(INITIAL_DEVICE_ID))
        .to.emit(appAuth, "DeviceRemoved")
        .withArgs(INITIAL_DEVICE_ID);
    });
  });

  describe("restrictDevices", function () {
    it("allows only listed devices from now on; emits only AllowAnyDeviceSet(false)", async function () {
      const { appAuth } = await loadFixture(allowAnyDeviceFixture);
      expect(await appAuth.isAppAllowed(bootInfo({ deviceId: UNKNOWN_DEVICE }))).to.deep.equal([true, ""]);
      expect(await eventsOf(appAuth, appAuth.restrictDevices())).to.deep.equal([["AllowAnyDeviceSet", false]]);
      expect(await appAuth.allowAnyDevice()).to.equal(false);
      expect(await appAuth.isAppAllowed(bootInfo({ deviceId: UNKNOWN_DEVICE }))).to.deep.equal([
        false,
        "Device not allowed",
      ]);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([true, ""]);
    });

    it("reverts with AllowAnyDeviceUnchanged(false) when devices are already restricted", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.restrictDevices())
        .to.be.revertedWithCustomError(appAuth, "AllowAnyDeviceUnchanged")
        .withArgs(false);
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(allowAnyDeviceFixture);
      await expect(appAuth.connect(stranger).restrictDevices())
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("still works after upgrades are disabled", async function () {
      const { appAuth } = await loadFixture(allowAnyDeviceFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.restrictDevices()).to.emit(appAuth, "AllowAnyDeviceSet").withArgs(false);
    });
  });

  describe("requireUpToDateTcb", function () {
    it("refuses TCBs that are not up to date from now on; emits only RequireTcbUpToDateSet(true)", async function () {
      const { appAuth } = await loadFixture(outdatedTcbAllowedFixture);
      expect(await appAuth.isAppAllowed(bootInfo({ tcbStatus: "OutOfDate" }))).to.deep.equal([true, ""]);
      expect(await eventsOf(appAuth, appAuth.requireUpToDateTcb())).to.deep.equal([["RequireTcbUpToDateSet", true]]);
      expect(await appAuth.requireTcbUpToDate()).to.equal(true);
      expect(await appAuth.isAppAllowed(bootInfo({ tcbStatus: "OutOfDate" }))).to.deep.equal([
        false,
        "TCB status is not up to date",
      ]);
    });

    it("reverts with RequireTcbUpToDateUnchanged(true) when it is already required", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.requireUpToDateTcb())
        .to.be.revertedWithCustomError(appAuth, "RequireTcbUpToDateUnchanged")
        .withArgs(true);
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(outdatedTcbAllowedFixture);
      await expect(appAuth.connect(stranger).requireUpToDateTcb())
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("still works after upgrades are disabled", async function () {
      const { appAuth } = await loadFixture(outdatedTcbAllowedFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.requireUpToDateTcb()).to.emit(appAuth, "RequireTcbUpToDateSet").withArgs(true);
    });
  });

  describe("lengthenNoticePeriod", function () {
    it("lengthens the notice at once; emits only NoticePeriodChanged(old, new)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await eventsOf(appAuth, appAuth.lengthenNoticePeriod(30n * DAY))).to.deep.equal([
        ["NoticePeriodChanged", INITIAL_NOTICE_PERIOD, 30n * DAY],
      ]);
      expect(await appAuth.noticePeriod()).to.equal(30n * DAY);
      expect(await appAuth.getTimelock()).to.equal(30n * DAY);
    });

    it("accepts one second more than the current notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.lengthenNoticePeriod(INITIAL_NOTICE_PERIOD + 1n))
        .to.emit(appAuth, "NoticePeriodChanged")
        .withArgs(INITIAL_NOTICE_PERIOD, INITIAL_NOTICE_PERIOD + 1n);
    });

    it("accepts exactly MAX_NOTICE_PERIOD", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.lengthenNoticePeriod(MAX_NOTICE_PERIOD))
        .to.emit(appAuth, "NoticePeriodChanged")
        .withArgs(INITIAL_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
    });

    it("makes later proposals wait the longer notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.lengthenNoticePeriod(30n * DAY);
      const proposedAt = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(proposedAt);
      await appAuth.proposeDevice(UNKNOWN_DEVICE);
      const { readyAt } = await appAuth.getProposal(proposalIdOf(ChangeKind.AddDevice, UNKNOWN_DEVICE));
      expect(readyAt).to.equal(proposedAt + 30n * DAY);
    });

    it("cancels open proposals to shorten the notice below the new one, and keeps every other proposal", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeNoticePeriod(DAY);
      await appAuth.proposeDevice(UNKNOWN_DEVICE);
      await appAuth.proposeNoticePeriod(2n * DAY);
      const oneDay = proposalIdOf(ChangeKind.ShortenNotice, noticeValue(DAY));
      const twoDays = proposalIdOf(ChangeKind.ShortenNotice, noticeValue(2n * DAY));

      const events = await eventsOf(appAuth, appAuth.lengthenNoticePeriod(30n * DAY));

      expect(events).to.deep.equal([
        ["NoticePeriodChanged", INITIAL_NOTICE_PERIOD, 30n * DAY],
        ["ChangeCancelled", twoDays, ChangeKind.ShortenNotice, noticeValue(2n * DAY)],
        ["ChangeCancelled", oneDay, ChangeKind.ShortenNotice, noticeValue(DAY)],
      ]);
      const open = await appAuth.getProposals();
      expect(open.map((proposal) => proposal.id)).to.deep.equal([proposalIdOf(ChangeKind.AddDevice, UNKNOWN_DEVICE)]);
      expect((await appAuth.getProposal(oneDay)).state).to.equal(ProposalState.None);
    });

    it("does not let a shortening announced before a lengthening undo it after its notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeNoticePeriod(6n * DAY);
      await appAuth.lengthenNoticePeriod(365n * DAY);
      await time.increase(INITIAL_NOTICE_PERIOD);
      await expect(appAuth.activateNoticePeriod(6n * DAY))
        .to.be.revertedWithCustomError(appAuth, "ProposalNotFound")
        .withArgs(proposalIdOf(ChangeKind.ShortenNotice, noticeValue(6n * DAY)));
      expect(await appAuth.noticePeriod()).to.equal(365n * DAY);
    });

    it("keeps an open proposal whose notice is not below the new one", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      // At 7 days, propose 5 days and, separately, 1 day; activate 1 day; then lengthen to 3 days.
      await appAuth.proposeNoticePeriod(5n * DAY);
      await appAuth.proposeNoticePeriod(DAY);
      await time.increase(INITIAL_NOTICE_PERIOD);
      await appAuth.activateNoticePeriod(DAY);
      await appAuth.lengthenNoticePeriod(3n * DAY);
      const fiveDays = await appAuth.getProposal(proposalIdOf(ChangeKind.ShortenNotice, noticeValue(5n * DAY)));
      expect(fiveDays.state).to.equal(ProposalState.Ready);
    });

    it("reverts with NoticePeriodOutOfBounds one second above MAX_NOTICE_PERIOD", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.lengthenNoticePeriod(MAX_NOTICE_PERIOD + 1n))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodOutOfBounds")
        .withArgs(MAX_NOTICE_PERIOD + 1n, MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
    });

    it("reverts with NoticePeriodOutOfBounds below MIN_NOTICE_PERIOD (bounds are checked first)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.lengthenNoticePeriod(MIN_NOTICE_PERIOD - 1n))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodOutOfBounds")
        .withArgs(MIN_NOTICE_PERIOD - 1n, MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
    });

    it("reverts with NoticePeriodNotLonger for the current notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.lengthenNoticePeriod(INITIAL_NOTICE_PERIOD))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodNotLonger")
        .withArgs(INITIAL_NOTICE_PERIOD, INITIAL_NOTICE_PERIOD);
    });

    it("reverts with NoticePeriodNotLonger for a shorter notice (shortening waits instead)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.lengthenNoticePeriod(DAY))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodNotLonger")
        .withArgs(DAY, INITIAL_NOTICE_PERIOD);
    });

    it("reverts with NoticePeriodNotLonger at MAX_NOTICE_PERIOD", async function () {
      await loadFixture(deployTimelockedAppAuthFixture);
      const appAuth = await deployTimelockedAppAuth(ethers, { noticePeriod: MAX_NOTICE_PERIOD });
      await expect(appAuth.lengthenNoticePeriod(MAX_NOTICE_PERIOD))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodNotLonger")
        .withArgs(MAX_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.connect(stranger).lengthenNoticePeriod(30n * DAY))
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("still works after upgrades are disabled", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.lengthenNoticePeriod(30n * DAY))
        .to.emit(appAuth, "NoticePeriodChanged")
        .withArgs(INITIAL_NOTICE_PERIOD, 30n * DAY);
    });
  });

  describe("rollBackTo", function () {
    it("points the current release back at an allowed hash; emits only CurrentReleaseSet(hash, uriBlock)", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      const uriBlock = await appAuth.composeHashUriBlock(INITIAL_COMPOSE_HASH);
      const rolledBackAt = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(rolledBackAt);
      expect(await eventsOf(appAuth, appAuth.rollBackTo(INITIAL_COMPOSE_HASH))).to.deep.equal([
        ["CurrentReleaseSet", INITIAL_COMPOSE_HASH, uriBlock],
      ]);
      expect(await appAuth.currentRelease()).to.deep.equal([INITIAL_COMPOSE_HASH, uriBlock, rolledBackAt]);
      expect(await composeUriOf(appAuth, INITIAL_COMPOSE_HASH)).to.equal(INITIAL_COMPOSE_URI);
    });

    it("widens nothing: the allowed hashes stay the same", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await appAuth.rollBackTo(INITIAL_COMPOSE_HASH);
      expect(await appAuth.getComposeHashes()).to.have.members([INITIAL_COMPOSE_HASH, SECOND_COMPOSE_HASH]);
    });

    it("moves a release away from a removed current release", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await appAuth.removeComposeHash(SECOND_COMPOSE_HASH);
      await expect(appAuth.rollBackTo(INITIAL_COMPOSE_HASH))
        .to.emit(appAuth, "CurrentReleaseSet")
        .withArgs(INITIAL_COMPOSE_HASH, await appAuth.composeHashUriBlock(INITIAL_COMPOSE_HASH));
    });

    it("can roll forward again to a later allowed release", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await appAuth.rollBackTo(INITIAL_COMPOSE_HASH);
      await expect(appAuth.rollBackTo(SECOND_COMPOSE_HASH))
        .to.emit(appAuth, "CurrentReleaseSet")
        .withArgs(SECOND_COMPOSE_HASH, await appAuth.composeHashUriBlock(SECOND_COMPOSE_HASH));
    });

    it("reverts with AlreadyCurrentRelease for the current release", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await expect(appAuth.rollBackTo(SECOND_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "AlreadyCurrentRelease")
        .withArgs(SECOND_COMPOSE_HASH);
    });

    it("reverts with ComposeHashNotAllowed for a hash that was never allowed", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await expect(appAuth.rollBackTo(UNKNOWN_HASH))
        .to.be.revertedWithCustomError(appAuth, "ComposeHashNotAllowed")
        .withArgs(UNKNOWN_HASH);
    });

    it("reverts with ComposeHashNotAllowed for a removed hash", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      await expect(appAuth.rollBackTo(INITIAL_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "ComposeHashNotAllowed")
        .withArgs(INITIAL_COMPOSE_HASH);
    });

    it("reverts with ComposeHashNotAllowed for a hash that is only proposed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeComposeHash(SECOND_COMPOSE_HASH, SECOND_COMPOSE_URI);
      await expect(appAuth.rollBackTo(SECOND_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "ComposeHashNotAllowed")
        .withArgs(SECOND_COMPOSE_HASH);
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(twoReleasesFixture);
      await expect(appAuth.connect(stranger).rollBackTo(INITIAL_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("still works after upgrades are disabled", async function () {
      const { appAuth } = await loadFixture(twoReleasesFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.rollBackTo(INITIAL_COMPOSE_HASH))
        .to.emit(appAuth, "CurrentReleaseSet")
        .withArgs(INITIAL_COMPOSE_HASH, await appAuth.composeHashUriBlock(INITIAL_COMPOSE_HASH));
    });
  });

  describe("disableUpgrades", function () {
    it("disables upgrades for good; emits only UpgradesDisabled", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await eventsOf(appAuth, appAuth.disableUpgrades())).to.deep.equal([["UpgradesDisabled"]]);
      expect(await appAuth.upgradesDisabled()).to.equal(true);
    });

    it("leaves the policy as it was", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.disableUpgrades();
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([true, ""]);
      expect((await appAuth.currentRelease()).composeHash).to.equal(INITIAL_COMPOSE_HASH);
    });

    it("reverts with UpgradesAreDisabled when called twice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.disableUpgrades()).to.be.revertedWithCustomError(appAuth, "UpgradesAreDisabled");
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.connect(stranger).disableUpgrades())
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });
  });

  describe("renounceOwnership", function () {
    it("disables upgrades first, then gives up ownership; emits UpgradesDisabled then OwnershipTransferred", async function () {
      const { appAuth, owner } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await eventsOf(appAuth, appAuth.renounceOwnership())).to.deep.equal([
        ["UpgradesDisabled"],
        ["OwnershipTransferred", owner.address, ZeroAddress],
      ]);
      expect(await appAuth.owner()).to.equal(ZeroAddress);
      expect(await appAuth.upgradesDisabled()).to.equal(true);
    });

    it("emits only OwnershipTransferred when upgrades are already disabled", async function () {
      const { appAuth, owner } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.disableUpgrades();
      expect(await eventsOf(appAuth, appAuth.renounceOwnership())).to.deep.equal([
        ["OwnershipTransferred", owner.address, ZeroAddress],
      ]);
    });

    it("drops a pending ownership transfer", async function () {
      const { appAuth, newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.transferOwnership(newOwner.address);
      await appAuth.renounceOwnership();
      expect(await appAuth.pendingOwner()).to.equal(ZeroAddress);
      await expect(appAuth.connect(newOwner).acceptOwnership())
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(newOwner.address);
    });

    it("leaves no one able to narrow the policy any more", async function () {
      const { appAuth, owner } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.renounceOwnership();
      await expect(appAuth.removeComposeHash(INITIAL_COMPOSE_HASH))
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(owner.address);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([true, ""]);
    });

    it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.connect(stranger).renounceOwnership())
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
      expect(await appAuth.upgradesDisabled()).to.equal(false);
    });
  });

  describe("activateComposeHashAndRetire", function () {
    it("activates the new release and stops allowing the retired ones in the same transaction", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeComposeHash(SECOND_COMPOSE_HASH, SECOND_COMPOSE_URI);
      const { readyAt } = await appAuth.getProposal(proposalIdOf(ChangeKind.AddComposeHash, SECOND_COMPOSE_HASH));
      await time.setNextBlockTimestamp(readyAt);
      await appAuth.activateComposeHashAndRetire(SECOND_COMPOSE_HASH, [INITIAL_COMPOSE_HASH]);
      expect(await appAuth.allowedComposeHashes(SECOND_COMPOSE_HASH)).to.equal(true);
      expect(await appAuth.allowedComposeHashes(INITIAL_COMPOSE_HASH)).to.equal(false);
      expect(await appAuth.getComposeHashes()).to.deep.equal([SECOND_COMPOSE_HASH]);
    });

    it("reverts with CannotRetireNewRelease when the list names the release it activates, and changes nothing", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeComposeHash(SECOND_COMPOSE_HASH, SECOND_COMPOSE_URI);
      const { readyAt } = await appAuth.getProposal(proposalIdOf(ChangeKind.AddComposeHash, SECOND_COMPOSE_HASH));
      await time.setNextBlockTimestamp(readyAt);
      await expect(appAuth.activateComposeHashAndRetire(SECOND_COMPOSE_HASH, [SECOND_COMPOSE_HASH]))
        .to.be.revertedWithCustomError(appAuth, "CannotRetireNewRelease")
        .withArgs(SECOND_COMPOSE_HASH);
      expect(await appAuth.allowedComposeHashes(SECOND_COMPOSE_HASH)).to.equal(false);
    });
  });

  describe("the bound on open proposals", function () {
    const MAX_OPEN = 32;

    it("prunes expired proposals to make room, and refuses a new one while every open one is live", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      for (let i = 0; i < MAX_OPEN; i++) await appAuth.proposeDevice(deviceIdOf(`bound ${i}`));
      await expect(appAuth.proposeDevice(deviceIdOf("one too many")))
        .to.be.revertedWithCustomError(appAuth, "TooManyOpenProposals")
        .withArgs(MAX_OPEN);
      const { readyAt } = await appAuth.getProposal(
        proposalIdOf(ChangeKind.AddDevice, deviceIdOf(`bound ${MAX_OPEN - 1}`)),
      );
      await time.increaseTo(readyAt + 14n * DAY);
      await appAuth.proposeDevice(deviceIdOf("after expiry"));
      const open = await appAuth.getProposals();
      expect(open.map((p) => p.value)).to.deep.equal([deviceIdOf("after expiry")]);
    });

    it("counts compose-hash proposals and the others together, and prunes both kinds", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const hashes = Array.from({ length: MAX_OPEN / 2 }, (_, i) => composeHashOf(`{"bound":${i}}`));
      for (const hash of hashes) await appAuth.proposeComposeHash(hash, `ipfs://${hash.slice(2, 12)}`);
      for (let i = 0; i < MAX_OPEN / 2; i++) await appAuth.proposeDevice(deviceIdOf(`bound ${i}`));
      const late = composeHashOf('{"bound":"late"}');
      await expect(appAuth.proposeComposeHash(late, "ipfs://late"))
        .to.be.revertedWithCustomError(appAuth, "TooManyOpenProposals")
        .withArgs(MAX_OPEN);
      await expect(appAuth.proposeDevice(deviceIdOf("one too many")))
        .to.be.revertedWithCustomError(appAuth, "TooManyOpenProposals")
        .withArgs(MAX_OPEN);
      const last = deviceIdOf(`bound ${MAX_OPEN / 2 - 1}`);
      const { readyAt } = await appAuth.getProposal(proposalIdOf(ChangeKind.AddDevice, last));
      await time.increaseTo(readyAt + 14n * DAY);
      await expect(appAuth.proposeComposeHash(late, "ipfs://late")).to.emit(appAuth, "ChangeCancelled");
      expect((await appAuth.getProposals()).map((p) => p.value)).to.deep.equal([late]);
      expect(await appAuth.getComposeHashes()).to.deep.equal([INITIAL_COMPOSE_HASH]);
    });
  });
});
