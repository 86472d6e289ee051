/**
 * The rules that hold across functions: when a proposal becomes ready, what can and cannot reset it, who may act
 * as ownership moves, and what disabling upgrades or renouncing ownership does to open proposals.
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
  deployTimelockedAppAuthFixture,
  deviceIdOf,
  eventsOf,
  GRACE_PERIOD,
  HOUR,
  INITIAL_COMPOSE_HASH,
  INITIAL_COMPOSE_URI,
  INITIAL_DEVICE_ID,
  INITIAL_NOTICE_PERIOD,
  MIN_NOTICE_PERIOD,
  noticeValue,
  proposalIdOf,
  ProposalState,
} from "./helpers/appAuth.js";

const { networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const V2_HASH = composeHashOf('{"name":"app","version":2}');
const V2_URI = "https://example.org/releases/2/app-compose.json";
const V2_ID = proposalIdOf(ChangeKind.AddComposeHash, V2_HASH);
const DEVICE = deviceIdOf("second machine");
const DEVICE_ID = proposalIdOf(ChangeKind.AddDevice, DEVICE);

/** Sends `send` in a block at `timestamp`. */
async function at<T>(timestamp: bigint, send: () => Promise<T>): Promise<T> {
  await time.setNextBlockTimestamp(timestamp);
  return send();
}

async function now(): Promise<bigint> {
  return BigInt(await time.latest());
}

async function readyAtOf(appAuth: TimelockedAppAuth, id: string): Promise<bigint> {
  return (await appAuth.getProposal(id)).readyAt;
}

/** Every kind of widening change proposed, one after the other; `readyAt` is when the last one becomes ready. */
async function allKindsProposedFixture(connection: NetworkConnection) {
  const fixture = await deployTimelockedAppAuthFixture(connection);
  const { appAuth } = fixture;
  await appAuth.proposeComposeHash(V2_HASH, V2_URI);
  await appAuth.proposeDevice(DEVICE);
  await appAuth.proposeAllowAnyDevice();
  await appAuth.proposeAllowOutdatedTcb();
  await appAuth.proposeNoticePeriod(DAY);
  const readyAt = BigInt(await connection.networkHelpers.time.latest()) + INITIAL_NOTICE_PERIOD;
  return { ...fixture, readyAt };
}

describe("TimelockedAppAuth", function () {
  describe("timelock rules", function () {
    it("lets anyone activate every kind of ready change, in any order", async function () {
      const { appAuth, stranger, readyAt } = await loadFixture(allKindsProposedFixture);
      expect((await appAuth.getProposals()).map((p) => p.state)).to.deep.equal(Array(5).fill(ProposalState.Waiting));
      await time.increaseTo(readyAt);
      const anyone = appAuth.connect(stranger);
      await anyone.activateNoticePeriod(DAY);
      await anyone.activateAllowOutdatedTcb();
      await anyone.activateAllowAnyDevice();
      await anyone.activateDevice(DEVICE);
      await anyone.activateComposeHash(V2_HASH);
      expect(await appAuth.getProposals()).to.deep.equal([]);
      expect(await appAuth.noticePeriod()).to.equal(DAY);
      expect(await appAuth.requireTcbUpToDate()).to.equal(false);
      expect(await appAuth.allowAnyDevice()).to.equal(true);
      expect(await appAuth.allowedDeviceIds(DEVICE)).to.equal(true);
      expect((await appAuth.currentRelease()).composeHash).to.equal(V2_HASH);
    });

    it("keeps proposals independent: cancelling one leaves the others ready", async function () {
      const { appAuth, readyAt } = await loadFixture(allKindsProposedFixture);
      await appAuth.cancelDevice(DEVICE);
      await time.increaseTo(readyAt);
      expect((await appAuth.getProposals()).map((p) => p.state)).to.deep.equal(Array(4).fill(ProposalState.Ready));
      await expect(appAuth.activateComposeHash(V2_HASH)).to.emit(appAuth, "ComposeHashAdded").withArgs(V2_HASH);
    });

    it("fixes readyAt at proposal: lengthening the notice afterwards does not delay an open proposal", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      const proposedAt = (await now()) + 1n;
      await at(proposedAt, () => appAuth.proposeComposeHash(V2_HASH, V2_URI));
      await appAuth.lengthenNoticePeriod(90n * DAY);
      expect(await readyAtOf(appAuth, V2_ID)).to.equal(proposedAt + INITIAL_NOTICE_PERIOD);
      await at(proposedAt + INITIAL_NOTICE_PERIOD, () => appAuth.connect(stranger).activateComposeHash(V2_HASH));
      expect(await appAuth.allowedComposeHashes(V2_HASH)).to.equal(true);
    });

    it("fixes readyAt at proposal: activating a shorter notice afterwards does not bring an open proposal forward", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeNoticePeriod(HOUR));
      await at(t0 + DAY, () => appAuth.proposeComposeHash(V2_HASH, V2_URI));
      const v2ReadyAt = t0 + DAY + INITIAL_NOTICE_PERIOD;

      await at(t0 + INITIAL_NOTICE_PERIOD, () => appAuth.activateNoticePeriod(HOUR));
      expect(await appAuth.noticePeriod()).to.equal(HOUR);
      expect(await readyAtOf(appAuth, V2_ID)).to.equal(v2ReadyAt);

      const oneHourLater = t0 + INITIAL_NOTICE_PERIOD + HOUR;
      await time.setNextBlockTimestamp(oneHourLater);
      await expect(appAuth.activateComposeHash(V2_HASH))
        .to.be.revertedWithCustomError(appAuth, "ProposalNotReady")
        .withArgs(V2_ID, v2ReadyAt, oneHourLater);
      await at(v2ReadyAt, () => appAuth.activateComposeHash(V2_HASH));
    });

    it("applies a shortened notice only to proposals made after its activation", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeNoticePeriod(HOUR));
      await at(t0 + 1n, () => appAuth.proposeDevice(DEVICE));
      await at(t0 + INITIAL_NOTICE_PERIOD, () => appAuth.activateNoticePeriod(HOUR));
      const afterwards = t0 + INITIAL_NOTICE_PERIOD + 1n;
      await at(afterwards, () => appAuth.proposeComposeHash(V2_HASH, V2_URI));
      expect(await readyAtOf(appAuth, V2_ID)).to.equal(afterwards + HOUR);
      expect(await readyAtOf(appAuth, DEVICE_ID)).to.equal(t0 + 1n + INITIAL_NOTICE_PERIOD);
    });

    it("makes a notice-shortening proposal wait the current, longer notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeNoticePeriod(MIN_NOTICE_PERIOD));
      const id = proposalIdOf(ChangeKind.ShortenNotice, noticeValue(MIN_NOTICE_PERIOD));
      expect(await readyAtOf(appAuth, id)).to.equal(t0 + INITIAL_NOTICE_PERIOD);
    });

    it("sets the notice an older proposal named even when a shorter one was activated first (that is a lengthening)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeNoticePeriod(2n * DAY));
      await at(t0 + 1n, () => appAuth.proposeNoticePeriod(DAY));
      await at(t0 + INITIAL_NOTICE_PERIOD + 1n, () => appAuth.activateNoticePeriod(DAY));
      await expect(appAuth.activateNoticePeriod(2n * DAY))
        .to.emit(appAuth, "NoticePeriodChanged")
        .withArgs(DAY, 2n * DAY);
      expect(await appAuth.noticePeriod()).to.equal(2n * DAY);
    });

    it("never resets the timer of an open proposal: failed re-proposals leave readyAt and expiresAt alone", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeDevice(DEVICE));
      const before = await appAuth.getProposal(DEVICE_ID);
      for (const when of [t0 + 1n, t0 + INITIAL_NOTICE_PERIOD, t0 + INITIAL_NOTICE_PERIOD + GRACE_PERIOD - 1n]) {
        await time.setNextBlockTimestamp(when);
        await expect(appAuth.proposeDevice(DEVICE))
          .to.be.revertedWithCustomError(appAuth, "ProposalAlreadyOpen")
          .withArgs(DEVICE_ID, before.readyAt, before.expiresAt);
        await time.increaseTo(when);
      }
      const after = await appAuth.getProposal(DEVICE_ID);
      expect([after.readyAt, after.expiresAt]).to.deep.equal([before.readyAt, before.expiresAt]);
      expect([before.state, after.state]).to.deep.equal([ProposalState.Waiting, ProposalState.Ready]);
    });

    it("gives an expired proposal, proposed again, a fresh notice counted from the new proposal", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeDevice(DEVICE));
      const again = t0 + INITIAL_NOTICE_PERIOD + GRACE_PERIOD + 3n * DAY;
      await at(again, () => appAuth.proposeDevice(DEVICE));
      const { readyAt, expiresAt, state } = await appAuth.getProposal(DEVICE_ID);
      expect([readyAt, expiresAt, state]).to.deep.equal([
        again + INITIAL_NOTICE_PERIOD,
        again + INITIAL_NOTICE_PERIOD + GRACE_PERIOD,
        ProposalState.Waiting,
      ]);
      await time.setNextBlockTimestamp(again + 1n);
      await expect(appAuth.activateDevice(DEVICE))
        .to.be.revertedWithCustomError(appAuth, "ProposalNotReady")
        .withArgs(DEVICE_ID, readyAt, again + 1n);
      await at(readyAt, () => appAuth.activateDevice(DEVICE));
      expect(await appAuth.allowedDeviceIds(DEVICE)).to.equal(true);
    });
  });

  describe("ownership", function () {
    it("transfers in two steps: pendingOwner first, owner only after acceptOwnership", async function () {
      const { appAuth, owner, newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await eventsOf(appAuth, appAuth.transferOwnership(newOwner.address))).to.deep.equal([
        ["OwnershipTransferStarted", owner.address, newOwner.address],
      ]);
      expect(await appAuth.owner()).to.equal(owner.address);
      expect(await appAuth.pendingOwner()).to.equal(newOwner.address);
      expect(await eventsOf(appAuth, appAuth.connect(newOwner).acceptOwnership())).to.deep.equal([
        ["OwnershipTransferred", owner.address, newOwner.address],
      ]);
      expect(await appAuth.owner()).to.equal(newOwner.address);
      expect(await appAuth.pendingOwner()).to.equal(ZeroAddress);
    });

    it("reverts transferOwnership with OwnableUnauthorizedAccount for anyone but the owner", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.connect(stranger).transferOwnership(stranger.address))
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("reverts acceptOwnership with OwnableUnauthorizedAccount for anyone but the pending owner", async function () {
      const { appAuth, stranger, newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.transferOwnership(newOwner.address);
      await expect(appAuth.connect(stranger).acceptOwnership())
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(stranger.address);
    });

    it("leaves the old owner in charge until the transfer is accepted", async function () {
      const { appAuth, newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeDevice(DEVICE);
      await appAuth.transferOwnership(newOwner.address);
      await expect(appAuth.connect(newOwner).cancelDevice(DEVICE))
        .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
        .withArgs(newOwner.address);
      await expect(appAuth.cancelDevice(DEVICE)).to.emit(appAuth, "ChangeCancelled");
    });

    it("takes cancel, propose and narrowing away from the old owner once accepted, and gives them to the new owner", async function () {
      const { appAuth, owner, newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeDevice(DEVICE);
      await appAuth.transferOwnership(newOwner.address);
      await appAuth.connect(newOwner).acceptOwnership();

      for (const call of [
        () => appAuth.cancelDevice(DEVICE),
        () => appAuth.proposeComposeHash(V2_HASH, V2_URI),
        () => appAuth.removeComposeHash(INITIAL_COMPOSE_HASH),
        () => appAuth.disableUpgrades(),
      ]) {
        await expect(call())
          .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
          .withArgs(owner.address);
      }
      await expect(appAuth.connect(newOwner).cancelDevice(DEVICE))
        .to.emit(appAuth, "ChangeCancelled")
        .withArgs(DEVICE_ID, ChangeKind.AddDevice, DEVICE);
    });

    it("lets a proposal made by the old owner still activate after the transfer", async function () {
      const { appAuth, stranger, newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeComposeHash(V2_HASH, V2_URI));
      await appAuth.transferOwnership(newOwner.address);
      await appAuth.connect(newOwner).acceptOwnership();
      await time.setNextBlockTimestamp(t0 + INITIAL_NOTICE_PERIOD);
      await expect(appAuth.connect(stranger).activateComposeHash(V2_HASH))
        .to.emit(appAuth, "ChangeActivated")
        .withArgs(V2_ID, ChangeKind.AddComposeHash, V2_HASH, stranger.address);
    });

    it("lets a proposal activate while a transfer is pending", async function () {
      const { appAuth, stranger, newOwner } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeDevice(DEVICE));
      await appAuth.transferOwnership(newOwner.address);
      await at(t0 + INITIAL_NOTICE_PERIOD, () => appAuth.connect(stranger).activateDevice(DEVICE));
      expect(await appAuth.allowedDeviceIds(DEVICE)).to.equal(true);
    });
  });

  describe("disableUpgrades with open proposals", function () {
    /** Three device proposals that, at `checkAt`, are Expired, Ready and Waiting. */
    async function staggeredProposalsFixture(connection: NetworkConnection) {
      const fixture = await deployTimelockedAppAuthFixture(connection);
      const { appAuth } = fixture;
      const [expired, ready, waiting] = [deviceIdOf("expired"), deviceIdOf("ready"), deviceIdOf("waiting")];
      const t0 = BigInt(await connection.networkHelpers.time.latest()) + 1n;
      const checkAt = t0 + INITIAL_NOTICE_PERIOD + GRACE_PERIOD;
      await connection.networkHelpers.time.setNextBlockTimestamp(t0);
      await appAuth.proposeDevice(expired);
      await connection.networkHelpers.time.setNextBlockTimestamp(checkAt - INITIAL_NOTICE_PERIOD);
      await appAuth.proposeDevice(ready);
      await connection.networkHelpers.time.setNextBlockTimestamp(checkAt);
      await appAuth.proposeDevice(waiting);
      const ids = [expired, ready, waiting].map((d) => proposalIdOf(ChangeKind.AddDevice, d));
      return { ...fixture, devices: [expired, ready, waiting] as const, ids };
    }

    it("turns Waiting, Ready and Expired proposals all into Voided (4)", async function () {
      const { appAuth, ids } = await loadFixture(staggeredProposalsFixture);
      const stateOf = async (id: string) => (await appAuth.getProposal(id)).state;
      expect(await Promise.all(ids.map(stateOf))).to.deep.equal([
        ProposalState.Expired,
        ProposalState.Ready,
        ProposalState.Waiting,
      ]);
      await appAuth.disableUpgrades();
      expect(await Promise.all(ids.map(stateOf))).to.deep.equal(Array(3).fill(4n));
    });

    it("keeps voided proposals listed in getProposals, with their timestamps", async function () {
      const { appAuth, ids } = await loadFixture(staggeredProposalsFixture);
      const before = await appAuth.getProposals();
      await appAuth.disableUpgrades();
      const after = await appAuth.getProposals();
      expect(after.map((p) => p.id)).to.deep.equal(ids);
      expect(after.map((p) => [p.readyAt, p.expiresAt])).to.deep.equal(before.map((p) => [p.readyAt, p.expiresAt]));
      expect(after.map((p) => p.state)).to.deep.equal(Array(3).fill(ProposalState.Voided));
    });

    it("keeps them Voided forever, whatever the time", async function () {
      const { appAuth, ids } = await loadFixture(staggeredProposalsFixture);
      await appAuth.disableUpgrades();
      await time.increase(400n * DAY);
      for (const id of ids) expect((await appAuth.getProposal(id)).state).to.equal(ProposalState.Voided);
    });

    it("makes activating a once-ready proposal revert with UpgradesAreDisabled, for anyone", async function () {
      const { appAuth, owner, stranger, devices } = await loadFixture(staggeredProposalsFixture);
      await appAuth.disableUpgrades();
      for (const signer of [owner, stranger]) {
        await expect(appAuth.connect(signer).activateDevice(devices[1])).to.be.revertedWithCustomError(
          appAuth,
          "UpgradesAreDisabled",
        );
      }
    });

    it("makes proposing anything revert with UpgradesAreDisabled, even an expired proposal again", async function () {
      const { appAuth, devices } = await loadFixture(staggeredProposalsFixture);
      await appAuth.disableUpgrades();
      for (const call of [
        () => appAuth.proposeDevice(devices[0]),
        () => appAuth.proposeComposeHash(V2_HASH, V2_URI),
        () => appAuth.proposeAllowAnyDevice(),
        () => appAuth.proposeAllowOutdatedTcb(),
        () => appAuth.proposeNoticePeriod(DAY),
      ]) {
        await expect(call()).to.be.revertedWithCustomError(appAuth, "UpgradesAreDisabled");
      }
    });

    it("still lets the owner narrow the policy", async function () {
      const { appAuth } = await loadFixture(staggeredProposalsFixture);
      await appAuth.disableUpgrades();
      await appAuth.removeDevice(INITIAL_DEVICE_ID);
      await appAuth.lengthenNoticePeriod(30n * DAY);
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([false, "Compose hash not allowed"]);
      expect(await appAuth.noticePeriod()).to.equal(30n * DAY);
      expect(await appAuth.getDevices()).to.deep.equal([]);
    });

    it("lets the owner clear a voided proposal with cancel", async function () {
      const { appAuth, devices, ids } = await loadFixture(staggeredProposalsFixture);
      await appAuth.disableUpgrades();
      await expect(appAuth.cancelDevice(devices[1]))
        .to.emit(appAuth, "ChangeCancelled")
        .withArgs(ids[1], ChangeKind.AddDevice, devices[1]);
      expect((await appAuth.getProposals()).map((p) => p.id)).to.have.members([ids[0], ids[2]]);
    });
  });

  describe("renounceOwnership with open proposals", function () {
    it("voids them, so that a proposal nobody can cancel any more can never take effect", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeComposeHash(V2_HASH, V2_URI));
      await appAuth.renounceOwnership();
      expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.Voided);
      await time.setNextBlockTimestamp(t0 + INITIAL_NOTICE_PERIOD);
      await expect(appAuth.connect(stranger).activateComposeHash(V2_HASH)).to.be.revertedWithCustomError(
        appAuth,
        "UpgradesAreDisabled",
      );
      expect(await appAuth.isAppAllowed(bootInfo({ composeHash: V2_HASH }))).to.deep.equal([
        false,
        "Compose hash not allowed",
      ]);
    });

    it("voids a proposal that is already ready", async function () {
      const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeAllowAnyDevice());
      await time.increaseTo(t0 + INITIAL_NOTICE_PERIOD);
      await appAuth.renounceOwnership();
      await expect(appAuth.connect(stranger).activateAllowAnyDevice()).to.be.revertedWithCustomError(
        appAuth,
        "UpgradesAreDisabled",
      );
      expect(await appAuth.allowAnyDevice()).to.equal(false);
    });
  });

  describe("releases", function () {
    it("recovers from a bad release at once: remove it, then roll back to the previous one", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeComposeHash(V2_HASH, V2_URI));
      await at(t0 + INITIAL_NOTICE_PERIOD, () => appAuth.activateComposeHash(V2_HASH));
      const v2UriBlock = await appAuth.composeHashUriBlock(V2_HASH);
      expect(await appAuth.currentRelease()).to.deep.equal([V2_HASH, v2UriBlock, t0 + INITIAL_NOTICE_PERIOD]);
      expect(await composeUriOf(appAuth, V2_HASH)).to.equal(V2_URI);

      await appAuth.removeComposeHash(V2_HASH);
      expect((await appAuth.currentRelease()).composeHash).to.equal(V2_HASH);
      expect(await appAuth.isAppAllowed(bootInfo({ composeHash: V2_HASH }))).to.deep.equal([
        false,
        "Compose hash not allowed",
      ]);

      const rolledBackAt = (await now()) + 1n;
      await at(rolledBackAt, () => appAuth.rollBackTo(INITIAL_COMPOSE_HASH));
      expect(await appAuth.currentRelease()).to.deep.equal([
        INITIAL_COMPOSE_HASH,
        await appAuth.composeHashUriBlock(INITIAL_COMPOSE_HASH),
        rolledBackAt,
      ]);
      expect(await composeUriOf(appAuth, INITIAL_COMPOSE_HASH)).to.equal(INITIAL_COMPOSE_URI);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([true, ""]);
    });

    it("makes a newly activated release current even while an older one was rolled back to", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const v3 = composeHashOf('{"name":"app","version":3}');
      const t0 = (await now()) + 1n;
      await at(t0, () => appAuth.proposeComposeHash(V2_HASH, V2_URI));
      await at(t0 + 1n, () => appAuth.proposeComposeHash(v3, "ipfs://v3"));
      await at(t0 + INITIAL_NOTICE_PERIOD, () => appAuth.activateComposeHash(V2_HASH));
      await appAuth.rollBackTo(INITIAL_COMPOSE_HASH);
      await at(t0 + 1n + INITIAL_NOTICE_PERIOD + 1n, () => appAuth.activateComposeHash(v3));
      expect(await appAuth.currentRelease()).to.deep.equal([
        v3,
        await appAuth.composeHashUriBlock(v3),
        t0 + INITIAL_NOTICE_PERIOD + 2n,
      ]);
      expect(await composeUriOf(appAuth, v3)).to.equal("ipfs://v3");
    });
  });
});
