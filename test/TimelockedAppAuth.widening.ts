/**
 * The five widening changes share one lifecycle: the owner proposes, the notice runs, anyone activates within the
 * grace window, the owner may cancel before that. Each change is described once in WIDENING_CHANGES; the lifecycle
 * specification below runs for every one of them, followed by the rules that only apply to that change.
 */
import { expect } from "chai";
import { ZeroHash, type ContractTransactionResponse } from "ethers";
import { network } from "hardhat";

import type { IAppAuth, TimelockedAppAuth } from "../types/ethers-contracts/index.js";
import {
  bootInfo,
  ChangeKind,
  composeHashOf,
  composeUriOf,
  proposalUriOf,
  DAY,
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
  noticeValue,
  proposalIdOf,
  ProposalState,
  type EmittedEvent,
} from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const NEW_COMPOSE_HASH = composeHashOf('{"name":"app","version":2}');
const NEW_COMPOSE_URI = "https://example.org/releases/2/app-compose.json";
const NEW_DEVICE_ID = deviceIdOf("second machine");
const SHORTER_NOTICE = 1n * DAY;

interface WideningChange {
  /** The suffix of the three functions: `propose<name>`, `activate<name>`, `cancel<name>`. */
  name: string;
  kind: bigint;
  /** The proposal's `value`: the compose hash, the device id, the notice as bytes32, or zero. */
  value: string;
  /** The proposal's URI (only compose hashes have one). */
  uri: string;
  propose(appAuth: TimelockedAppAuth): Promise<ContractTransactionResponse>;
  /** What `propose` returns, read with a static call. */
  proposedId(appAuth: TimelockedAppAuth): Promise<string>;
  activate(appAuth: TimelockedAppAuth): Promise<ContractTransactionResponse>;
  cancel(appAuth: TimelockedAppAuth): Promise<ContractTransactionResponse>;
  /** The events that apply the change, emitted after ChangeActivated (`proposedIn`: the proposal's block). */
  appliedEvents(proposedIn: bigint): EmittedEvent[];
  /** Whether the policy shows the change. */
  isApplied(appAuth: TimelockedAppAuth): Promise<boolean>;
  /** A boot that the change lets through, and the reason it is refused before. */
  unlocks?: { bootInfo: IAppAuth.AppBootInfoStruct; refusedWith: string };
}

const WIDENING_CHANGES: WideningChange[] = [
  {
    name: "ComposeHash",
    kind: ChangeKind.AddComposeHash,
    value: NEW_COMPOSE_HASH,
    uri: NEW_COMPOSE_URI,
    propose: (appAuth) => appAuth.proposeComposeHash(NEW_COMPOSE_HASH, NEW_COMPOSE_URI),
    proposedId: (appAuth) => appAuth.proposeComposeHash.staticCall(NEW_COMPOSE_HASH, NEW_COMPOSE_URI),
    activate: (appAuth) => appAuth.activateComposeHash(NEW_COMPOSE_HASH),
    cancel: (appAuth) => appAuth.cancelComposeHash(NEW_COMPOSE_HASH),
    appliedEvents: (proposedIn) => [
      ["ComposeHashAdded", NEW_COMPOSE_HASH],
      ["CurrentReleaseSet", NEW_COMPOSE_HASH, proposedIn],
    ],
    isApplied: (appAuth) => appAuth.allowedComposeHashes(NEW_COMPOSE_HASH),
    unlocks: { bootInfo: bootInfo({ composeHash: NEW_COMPOSE_HASH }), refusedWith: "Compose hash not allowed" },
  },
  {
    name: "Device",
    kind: ChangeKind.AddDevice,
    value: NEW_DEVICE_ID,
    uri: "",
    propose: (appAuth) => appAuth.proposeDevice(NEW_DEVICE_ID),
    proposedId: (appAuth) => appAuth.proposeDevice.staticCall(NEW_DEVICE_ID),
    activate: (appAuth) => appAuth.activateDevice(NEW_DEVICE_ID),
    cancel: (appAuth) => appAuth.cancelDevice(NEW_DEVICE_ID),
    appliedEvents: () => [["DeviceAdded", NEW_DEVICE_ID]],
    isApplied: (appAuth) => appAuth.allowedDeviceIds(NEW_DEVICE_ID),
    unlocks: { bootInfo: bootInfo({ deviceId: NEW_DEVICE_ID }), refusedWith: "Device not allowed" },
  },
  {
    name: "AllowAnyDevice",
    kind: ChangeKind.AllowAnyDevice,
    value: ZeroHash,
    uri: "",
    propose: (appAuth) => appAuth.proposeAllowAnyDevice(),
    proposedId: (appAuth) => appAuth.proposeAllowAnyDevice.staticCall(),
    activate: (appAuth) => appAuth.activateAllowAnyDevice(),
    cancel: (appAuth) => appAuth.cancelAllowAnyDevice(),
    appliedEvents: () => [["AllowAnyDeviceSet", true]],
    isApplied: (appAuth) => appAuth.allowAnyDevice(),
    unlocks: { bootInfo: bootInfo({ deviceId: deviceIdOf("any machine") }), refusedWith: "Device not allowed" },
  },
  {
    name: "AllowOutdatedTcb",
    kind: ChangeKind.AllowOutdatedTcb,
    value: ZeroHash,
    uri: "",
    propose: (appAuth) => appAuth.proposeAllowOutdatedTcb(),
    proposedId: (appAuth) => appAuth.proposeAllowOutdatedTcb.staticCall(),
    activate: (appAuth) => appAuth.activateAllowOutdatedTcb(),
    cancel: (appAuth) => appAuth.cancelAllowOutdatedTcb(),
    appliedEvents: () => [["RequireTcbUpToDateSet", false]],
    isApplied: async (appAuth) => !(await appAuth.requireTcbUpToDate()),
    unlocks: { bootInfo: bootInfo({ tcbStatus: "OutOfDate" }), refusedWith: "TCB status is not up to date" },
  },
  {
    name: "NoticePeriod",
    kind: ChangeKind.ShortenNotice,
    value: noticeValue(SHORTER_NOTICE),
    uri: "",
    propose: (appAuth) => appAuth.proposeNoticePeriod(SHORTER_NOTICE),
    proposedId: (appAuth) => appAuth.proposeNoticePeriod.staticCall(SHORTER_NOTICE),
    activate: (appAuth) => appAuth.activateNoticePeriod(SHORTER_NOTICE),
    cancel: (appAuth) => appAuth.cancelNoticePeriod(SHORTER_NOTICE),
    appliedEvents: () => [["NoticePeriodChanged", INITIAL_NOTICE_PERIOD, SHORTER_NOTICE]],
    isApplied: async (appAuth) => (await appAuth.noticePeriod()) === SHORTER_NOTICE,
  },
];

function changeNamed(name: string): WideningChange {
  const change = WIDENING_CHANGES.find((c) => c.name === name);
  if (change === undefined) throw new Error(`no widening change named ${name}`);
  return change;
}

interface OpenedProposal {
  id: string;
  proposedAt: bigint;
  /** The block of the proposal: where a compose hash's URI is, and what its `uriBlock` says. */
  proposedIn: bigint;
  readyAt: bigint;
  expiresAt: bigint;
}

/** Proposes `change` in the next block, at a known second, under the fixture's 7-day notice. */
async function proposeNow(appAuth: TimelockedAppAuth, change: WideningChange): Promise<OpenedProposal> {
  const proposedAt = BigInt(await time.latest()) + 1n;
  await time.setNextBlockTimestamp(proposedAt);
  const proposedIn = BigInt((await (await change.propose(appAuth)).wait())!.blockNumber);
  const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
  const id = proposalIdOf(change.kind, change.value);
  return { id, proposedAt, proposedIn, readyAt, expiresAt: readyAt + GRACE_PERIOD };
}

/** Rules of `propose<name>` that only apply to one kind of change. */
const PROPOSE_RULES: Record<string, () => void> = {
  ComposeHash() {
    it("reverts with ComposeUriTooLong past MAX_URI_LENGTH bytes, and carries a URI of exactly that length in its event", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const max = await appAuth.MAX_URI_LENGTH();
      const uriOfLength = (length: bigint) => `https://example.org/${"a".repeat(Number(length) - 20)}`;
      await expect(appAuth.proposeComposeHash(NEW_COMPOSE_HASH, uriOfLength(max + 1n)))
        .to.be.revertedWithCustomError(appAuth, "ComposeUriTooLong")
        .withArgs(max + 1n, max);
      await appAuth.proposeComposeHash(NEW_COMPOSE_HASH, uriOfLength(max));
      const proposal = await appAuth.getProposal(proposalIdOf(ChangeKind.AddComposeHash, NEW_COMPOSE_HASH));
      expect(await proposalUriOf(appAuth, proposal)).to.equal(uriOfLength(max));
    });

    it("reverts with ComposeHashZero for the zero hash, with or without a URI", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeComposeHash(ZeroHash, NEW_COMPOSE_URI)).to.be.revertedWithCustomError(
        appAuth,
        "ComposeHashZero",
      );
      await expect(appAuth.proposeComposeHash(ZeroHash, "")).to.be.revertedWithCustomError(appAuth, "ComposeHashZero");
    });

    it("reverts with ComposeUriEmpty without a URI", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeComposeHash(NEW_COMPOSE_HASH, ""))
        .to.be.revertedWithCustomError(appAuth, "ComposeUriEmpty")
        .withArgs(NEW_COMPOSE_HASH);
    });

    it("reverts with ComposeHashAlreadyAllowed for an allowed hash", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeComposeHash(INITIAL_COMPOSE_HASH, INITIAL_COMPOSE_URI))
        .to.be.revertedWithCustomError(appAuth, "ComposeHashAlreadyAllowed")
        .withArgs(INITIAL_COMPOSE_HASH);
    });

    it("reverts with ProposalAlreadyOpen when the open proposal's URI would change", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt, expiresAt } = await proposeNow(appAuth, changeNamed("ComposeHash"));
      await expect(appAuth.proposeComposeHash(NEW_COMPOSE_HASH, "https://elsewhere.example/app-compose.json"))
        .to.be.revertedWithCustomError(appAuth, "ProposalAlreadyOpen")
        .withArgs(proposalIdOf(ChangeKind.AddComposeHash, NEW_COMPOSE_HASH), readyAt, expiresAt);
      const proposal = await appAuth.getProposal(proposalIdOf(ChangeKind.AddComposeHash, NEW_COMPOSE_HASH));
      expect(await proposalUriOf(appAuth, proposal)).to.equal(NEW_COMPOSE_URI);
    });

    it("accepts a hash that was removed, which then waits a full notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      const proposedAt = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(proposedAt);
      const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
      await expect(appAuth.proposeComposeHash(INITIAL_COMPOSE_HASH, INITIAL_COMPOSE_URI))
        .to.emit(appAuth, "ChangeProposed")
        .withArgs(
          proposalIdOf(ChangeKind.AddComposeHash, INITIAL_COMPOSE_HASH),
          ChangeKind.AddComposeHash,
          INITIAL_COMPOSE_HASH,
          readyAt,
          readyAt + GRACE_PERIOD,
          INITIAL_COMPOSE_URI,
        );
    });

    it("keeps proposals of different hashes apart", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const other = composeHashOf('{"name":"app","version":3}');
      await appAuth.proposeComposeHash(NEW_COMPOSE_HASH, NEW_COMPOSE_URI);
      await appAuth.proposeComposeHash(other, "ipfs://v3");
      const ids = (await appAuth.getProposals()).map((p) => p.id);
      expect(ids).to.have.members([
        proposalIdOf(ChangeKind.AddComposeHash, NEW_COMPOSE_HASH),
        proposalIdOf(ChangeKind.AddComposeHash, other),
      ]);
    });
  },

  Device() {
    it("reverts with DeviceAlreadyAllowed for a listed device", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeDevice(INITIAL_DEVICE_ID))
        .to.be.revertedWithCustomError(appAuth, "DeviceAlreadyAllowed")
        .withArgs(INITIAL_DEVICE_ID);
    });

    it("accepts a device that was removed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.removeDevice(INITIAL_DEVICE_ID);
      await expect(appAuth.proposeDevice(INITIAL_DEVICE_ID)).to.emit(appAuth, "ChangeProposed");
    });
  },

  AllowAnyDevice() {
    it("reverts with AllowAnyDeviceUnchanged(true) when any device is already allowed", async function () {
      await loadFixture(deployTimelockedAppAuthFixture);
      const appAuth = await deployTimelockedAppAuth(ethers, { allowAnyDevice: true });
      await expect(appAuth.proposeAllowAnyDevice())
        .to.be.revertedWithCustomError(appAuth, "AllowAnyDeviceUnchanged")
        .withArgs(true);
    });

    it("can be proposed again after restrictDevices", async function () {
      await loadFixture(deployTimelockedAppAuthFixture);
      const appAuth = await deployTimelockedAppAuth(ethers, { allowAnyDevice: true });
      await appAuth.restrictDevices();
      await expect(appAuth.proposeAllowAnyDevice()).to.emit(appAuth, "ChangeProposed");
    });
  },

  AllowOutdatedTcb() {
    it("reverts with RequireTcbUpToDateUnchanged(false) when an up-to-date TCB is not required", async function () {
      await loadFixture(deployTimelockedAppAuthFixture);
      const appAuth = await deployTimelockedAppAuth(ethers, { requireTcbUpToDate: false });
      await expect(appAuth.proposeAllowOutdatedTcb())
        .to.be.revertedWithCustomError(appAuth, "RequireTcbUpToDateUnchanged")
        .withArgs(false);
    });

    it("can be proposed again after requireUpToDateTcb", async function () {
      await loadFixture(deployTimelockedAppAuthFixture);
      const appAuth = await deployTimelockedAppAuth(ethers, { requireTcbUpToDate: false });
      await appAuth.requireUpToDateTcb();
      await expect(appAuth.proposeAllowOutdatedTcb()).to.emit(appAuth, "ChangeProposed");
    });
  },

  NoticePeriod() {
    it("accepts exactly MIN_NOTICE_PERIOD", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const proposedAt = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(proposedAt);
      const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
      await expect(appAuth.proposeNoticePeriod(MIN_NOTICE_PERIOD))
        .to.emit(appAuth, "ChangeProposed")
        .withArgs(
          proposalIdOf(ChangeKind.ShortenNotice, noticeValue(MIN_NOTICE_PERIOD)),
          ChangeKind.ShortenNotice,
          noticeValue(MIN_NOTICE_PERIOD),
          readyAt,
          readyAt + GRACE_PERIOD,
          "",
        );
    });

    it("accepts one second less than the current notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeNoticePeriod(INITIAL_NOTICE_PERIOD - 1n)).to.emit(appAuth, "ChangeProposed");
    });

    it("reverts with NoticePeriodOutOfBounds one second below MIN_NOTICE_PERIOD", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeNoticePeriod(MIN_NOTICE_PERIOD - 1n))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodOutOfBounds")
        .withArgs(MIN_NOTICE_PERIOD - 1n, MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
      await expect(appAuth.proposeNoticePeriod(0n))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodOutOfBounds")
        .withArgs(0n, MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
    });

    it("reverts with NoticePeriodOutOfBounds above MAX_NOTICE_PERIOD (bounds are checked first)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeNoticePeriod(MAX_NOTICE_PERIOD + 1n))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodOutOfBounds")
        .withArgs(MAX_NOTICE_PERIOD + 1n, MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
    });

    it("reverts with NoticePeriodNotShorter for the current notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeNoticePeriod(INITIAL_NOTICE_PERIOD))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodNotShorter")
        .withArgs(INITIAL_NOTICE_PERIOD, INITIAL_NOTICE_PERIOD);
    });

    it("reverts with NoticePeriodNotShorter for a longer notice (lengthening is instant instead)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposeNoticePeriod(INITIAL_NOTICE_PERIOD + 1n))
        .to.be.revertedWithCustomError(appAuth, "NoticePeriodNotShorter")
        .withArgs(INITIAL_NOTICE_PERIOD + 1n, INITIAL_NOTICE_PERIOD);
    });

    it("keeps proposals of different notice periods apart", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeNoticePeriod(DAY);
      await appAuth.proposeNoticePeriod(2n * DAY);
      expect((await appAuth.getProposals()).map((p) => p.value)).to.deep.equal([
        noticeValue(DAY),
        noticeValue(2n * DAY),
      ]);
    });
  },
};

/** Rules of `activate<name>` that only apply to one kind of change. */
const ACTIVATE_RULES: Record<string, () => void> = {
  ComposeHash() {
    it("makes the hash the current release, with its URI and the activation time", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt, proposedIn } = await proposeNow(appAuth, changeNamed("ComposeHash"));
      await time.setNextBlockTimestamp(readyAt + 5n);
      await appAuth.activateComposeHash(NEW_COMPOSE_HASH);
      expect(await appAuth.currentRelease()).to.deep.equal([NEW_COMPOSE_HASH, proposedIn, readyAt + 5n]);
      expect(await composeUriOf(appAuth, NEW_COMPOSE_HASH)).to.equal(NEW_COMPOSE_URI);
    });

    it("keeps the earlier release allowed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt } = await proposeNow(appAuth, changeNamed("ComposeHash"));
      await time.increaseTo(readyAt);
      await appAuth.activateComposeHash(NEW_COMPOSE_HASH);
      expect(await appAuth.getComposeHashes()).to.have.members([INITIAL_COMPOSE_HASH, NEW_COMPOSE_HASH]);
      expect(await appAuth.isAppAllowed(bootInfo())).to.deep.equal([true, ""]);
      expect(await composeUriOf(appAuth, INITIAL_COMPOSE_HASH)).to.equal(INITIAL_COMPOSE_URI);
    });
  },

  Device() {
    it("lists the device in getDevices", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt } = await proposeNow(appAuth, changeNamed("Device"));
      await time.increaseTo(readyAt);
      await appAuth.activateDevice(NEW_DEVICE_ID);
      expect(await appAuth.getDevices()).to.have.members([INITIAL_DEVICE_ID, NEW_DEVICE_ID]);
    });
  },

  NoticePeriod() {
    it("makes later proposals wait the new, shorter notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt } = await proposeNow(appAuth, changeNamed("NoticePeriod"));
      await time.increaseTo(readyAt);
      await appAuth.activateNoticePeriod(SHORTER_NOTICE);
      expect(await appAuth.noticePeriod()).to.equal(SHORTER_NOTICE);
      expect(await appAuth.getTimelock()).to.equal(SHORTER_NOTICE);
      const proposedAt = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(proposedAt);
      await appAuth.proposeDevice(NEW_DEVICE_ID);
      const device = await appAuth.getProposal(proposalIdOf(ChangeKind.AddDevice, NEW_DEVICE_ID));
      expect(device.readyAt).to.equal(proposedAt + SHORTER_NOTICE);
    });
  },
};

describe("TimelockedAppAuth", function () {
  for (const change of WIDENING_CHANGES) {
    const id = proposalIdOf(change.kind, change.value);

    describe(`propose${change.name}`, function () {
      it("lets the owner propose; emits ChangeProposed with readyAt = now + notice and expiresAt = readyAt + 14 days", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const proposedAt = BigInt(await time.latest()) + 100n;
        await time.setNextBlockTimestamp(proposedAt);
        const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
        expect(await eventsOf(appAuth, change.propose(appAuth))).to.deep.equal([
          ["ChangeProposed", id, change.kind, change.value, readyAt, readyAt + GRACE_PERIOD, change.uri],
        ]);
      });

      it("returns the proposal id, keccak256(abi.encode(kind, value))", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await change.proposedId(appAuth)).to.equal(id);
        expect(await appAuth.proposalId(change.kind, change.value)).to.equal(id);
      });

      it("records a Waiting proposal that getProposal and getProposals report in full", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt, expiresAt, proposedIn } = await proposeNow(appAuth, change);
        const uriBlock = change.uri === "" ? 0n : proposedIn;
        const expected = [id, change.kind, change.value, readyAt, expiresAt, ProposalState.Waiting, uriBlock];
        expect(await appAuth.getProposal(id)).to.deep.equal(expected);
        expect(await appAuth.getProposals()).to.deep.equal([expected]);
      });

      it("does not widen the policy before activation", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await proposeNow(appAuth, change);
        expect(await change.isApplied(appAuth)).to.equal(false);
        if (change.unlocks !== undefined) {
          expect(await appAuth.isAppAllowed(change.unlocks.bootInfo)).to.deep.equal([
            false,
            change.unlocks.refusedWith,
          ]);
        }
      });

      it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
        const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
        await expect(change.propose(appAuth.connect(stranger)))
          .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
          .withArgs(stranger.address);
      });

      it("reverts with ProposalAlreadyOpen while the proposal waits (no timer reset)", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt, expiresAt } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(readyAt - 1n);
        await expect(change.propose(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalAlreadyOpen")
          .withArgs(id, readyAt, expiresAt);
      });

      it("reverts with ProposalAlreadyOpen while the proposal is ready, up to its last second", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt, expiresAt } = await proposeNow(appAuth, change);
        await time.increaseTo(readyAt);
        await expect(change.propose(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalAlreadyOpen")
          .withArgs(id, readyAt, expiresAt);
        await time.setNextBlockTimestamp(expiresAt - 1n);
        await expect(change.propose(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalAlreadyOpen")
          .withArgs(id, readyAt, expiresAt);
      });

      it("can be proposed again from the second it expires, with a fresh notice", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { expiresAt } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(expiresAt);
        const readyAt = expiresAt + INITIAL_NOTICE_PERIOD;
        await expect(change.propose(appAuth))
          .to.emit(appAuth, "ChangeProposed")
          .withArgs(id, change.kind, change.value, readyAt, readyAt + GRACE_PERIOD, change.uri);
        expect((await appAuth.getProposal(id)).state).to.equal(ProposalState.Waiting);
        expect(await appAuth.getProposals()).to.have.lengthOf(1);
      });

      it("reverts with UpgradesAreDisabled once upgrades are disabled", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await appAuth.disableUpgrades();
        await expect(change.propose(appAuth)).to.be.revertedWithCustomError(appAuth, "UpgradesAreDisabled");
      });

      PROPOSE_RULES[change.name]?.();
    });

    describe(`activate${change.name}`, function () {
      it("reverts with ProposalNotFound when nothing was proposed", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await expect(change.activate(appAuth)).to.be.revertedWithCustomError(appAuth, "ProposalNotFound").withArgs(id);
      });

      it("reverts with ProposalNotReady in the block after the proposal", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { proposedAt, readyAt } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(proposedAt + 1n);
        await expect(change.activate(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalNotReady")
          .withArgs(id, readyAt, proposedAt + 1n);
      });

      it("reverts with ProposalNotReady one second before readyAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(readyAt - 1n);
        await expect(change.activate(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalNotReady")
          .withArgs(id, readyAt, readyAt - 1n);
      });

      it("takes effect exactly at readyAt; emits ChangeActivated then the change's own events", async function () {
        const { appAuth, owner } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt, proposedIn } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(readyAt);
        expect(await eventsOf(appAuth, change.activate(appAuth))).to.deep.equal([
          ["ChangeActivated", id, change.kind, change.value, owner.address],
          ...change.appliedEvents(proposedIn),
        ]);
        expect(await change.isApplied(appAuth)).to.equal(true);
      });

      it("can be called by anyone, not only the owner; ChangeActivated names the caller", async function () {
        const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.increaseTo(readyAt);
        await expect(change.activate(appAuth.connect(stranger)))
          .to.emit(appAuth, "ChangeActivated")
          .withArgs(id, change.kind, change.value, stranger.address);
        expect(await change.isApplied(appAuth)).to.equal(true);
      });

      if (change.unlocks !== undefined) {
        const { bootInfo: unlocked } = change.unlocks;
        it("widens isAppAllowed once activated", async function () {
          const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
          const { readyAt } = await proposeNow(appAuth, change);
          await time.increaseTo(readyAt);
          await change.activate(appAuth);
          expect(await appAuth.isAppAllowed(unlocked)).to.deep.equal([true, ""]);
        });
      }

      it("closes the proposal: getProposal reports None and getProposals no longer lists it", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.increaseTo(readyAt);
        await change.activate(appAuth);
        expect(await appAuth.getProposal(id)).to.deep.equal([id, 0n, ZeroHash, 0n, 0n, ProposalState.None, ""]);
        expect(await appAuth.getProposals()).to.deep.equal([]);
      });

      it("still works one second before expiresAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { expiresAt } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(expiresAt - 1n);
        await expect(change.activate(appAuth)).to.emit(appAuth, "ChangeActivated");
        expect(await change.isApplied(appAuth)).to.equal(true);
      });

      it("reverts with ProposalExpired at expiresAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { expiresAt } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(expiresAt);
        await expect(change.activate(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalExpired")
          .withArgs(id, expiresAt, expiresAt);
      });

      it("reverts with ProposalExpired long after expiresAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { expiresAt } = await proposeNow(appAuth, change);
        const later = expiresAt + 365n * DAY;
        await time.setNextBlockTimestamp(later);
        await expect(change.activate(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalExpired")
          .withArgs(id, expiresAt, later);
        expect(await change.isApplied(appAuth)).to.equal(false);
      });

      it("reverts with ProposalNotFound when activated a second time", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.increaseTo(readyAt);
        await change.activate(appAuth);
        await expect(change.activate(appAuth)).to.be.revertedWithCustomError(appAuth, "ProposalNotFound").withArgs(id);
      });

      it("reverts with ProposalNotFound after the owner cancelled it", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await change.cancel(appAuth);
        await time.increaseTo(readyAt);
        await expect(change.activate(appAuth)).to.be.revertedWithCustomError(appAuth, "ProposalNotFound").withArgs(id);
      });

      it("reverts with UpgradesAreDisabled once upgrades are disabled, even when ready", async function () {
        const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.increaseTo(readyAt);
        await appAuth.disableUpgrades();
        await expect(change.activate(appAuth.connect(stranger))).to.be.revertedWithCustomError(
          appAuth,
          "UpgradesAreDisabled",
        );
        expect(await change.isApplied(appAuth)).to.equal(false);
      });

      ACTIVATE_RULES[change.name]?.();
    });

    describe(`cancel${change.name}`, function () {
      it("lets the owner cancel a waiting proposal; emits only ChangeCancelled(id, kind, value)", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await proposeNow(appAuth, change);
        expect(await eventsOf(appAuth, change.cancel(appAuth))).to.deep.equal([
          ["ChangeCancelled", id, change.kind, change.value],
        ]);
        expect((await appAuth.getProposal(id)).state).to.equal(ProposalState.None);
        expect(await appAuth.getProposals()).to.deep.equal([]);
        expect(await change.isApplied(appAuth)).to.equal(false);
      });

      it("lets the owner cancel a ready proposal", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.increaseTo(readyAt);
        await expect(change.cancel(appAuth))
          .to.emit(appAuth, "ChangeCancelled")
          .withArgs(id, change.kind, change.value);
        expect(await appAuth.getProposals()).to.deep.equal([]);
      });

      it("lets the owner clear an expired proposal from getProposals", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { expiresAt } = await proposeNow(appAuth, change);
        await time.increaseTo(expiresAt);
        expect(await appAuth.getProposals()).to.have.lengthOf(1);
        await expect(change.cancel(appAuth))
          .to.emit(appAuth, "ChangeCancelled")
          .withArgs(id, change.kind, change.value);
        expect(await appAuth.getProposals()).to.deep.equal([]);
      });

      it("reverts with OwnableUnauthorizedAccount for anyone but the owner", async function () {
        const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
        await proposeNow(appAuth, change);
        await expect(change.cancel(appAuth.connect(stranger)))
          .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
          .withArgs(stranger.address);
      });

      it("reverts with ProposalNotFound when nothing was proposed", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await expect(change.cancel(appAuth)).to.be.revertedWithCustomError(appAuth, "ProposalNotFound").withArgs(id);
      });

      it("reverts with ProposalNotFound when cancelled twice", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await proposeNow(appAuth, change);
        await change.cancel(appAuth);
        await expect(change.cancel(appAuth)).to.be.revertedWithCustomError(appAuth, "ProposalNotFound").withArgs(id);
      });

      it("reverts with ProposalNotFound after activation", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.increaseTo(readyAt);
        await change.activate(appAuth);
        await expect(change.cancel(appAuth)).to.be.revertedWithCustomError(appAuth, "ProposalNotFound").withArgs(id);
      });

      it("makes a new proposal of the same change wait a full, fresh notice", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeNow(appAuth, change);
        await time.setNextBlockTimestamp(readyAt - 1n);
        await change.cancel(appAuth);
        const again = await proposeNow(appAuth, change);
        expect(again.proposedAt).to.equal(readyAt);
        expect((await appAuth.getProposal(id)).readyAt).to.equal(readyAt + INITIAL_NOTICE_PERIOD);
        await time.setNextBlockTimestamp(readyAt + 1n);
        await expect(change.activate(appAuth))
          .to.be.revertedWithCustomError(appAuth, "ProposalNotReady")
          .withArgs(id, readyAt + INITIAL_NOTICE_PERIOD, readyAt + 1n);
      });
    });
  }
});
