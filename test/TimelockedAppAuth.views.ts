/**
 * What auditors, tasks and the guest agent read: proposal state derived from the clock, the allowed sets, the
 * current release, and a history of dstack events that always adds up to the state.
 */
import { expect } from "chai";
import { AbiCoder, keccak256, ZeroHash } from "ethers";
import { network } from "hardhat";

import type { TimelockedAppAuth } from "../types/ethers-contracts/index.js";
import {
  ChangeKind,
  composeHashOf,
  composeUriOf,
  DAY,
  deployTimelockedAppAuthFixture,
  deviceIdOf,
  GRACE_PERIOD,
  HOUR,
  INITIAL_COMPOSE_HASH,
  INITIAL_COMPOSE_URI,
  INITIAL_DEVICE_ID,
  INITIAL_NOTICE_PERIOD,
  MAX_NOTICE_PERIOD,
  noticeValue,
  proposalIdOf,
  ProposalState,
  proposalUriOf,
} from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const V2_HASH = composeHashOf('{"name":"app","version":2}');
const V2_URI = "https://example.org/releases/2/app-compose.json";
const V2_ID = proposalIdOf(ChangeKind.AddComposeHash, V2_HASH);
const DEVICE = deviceIdOf("second machine");

async function proposeV2At(appAuth: TimelockedAppAuth, proposedAt: bigint) {
  await time.setNextBlockTimestamp(proposedAt);
  await appAuth.proposeComposeHash(V2_HASH, V2_URI);
  const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
  return { readyAt, expiresAt: readyAt + GRACE_PERIOD };
}

describe("TimelockedAppAuth", function () {
  describe("getProposal", function () {
    it("reports None, with zero fields, for an id that was never proposed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const id = proposalIdOf(ChangeKind.AddDevice, DEVICE);
      expect(await appAuth.getProposal(id)).to.deep.equal([id, 0n, ZeroHash, 0n, 0n, ProposalState.None, 0n]);
    });

    it("reports every field of an open proposal", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt, expiresAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
      const proposedIn = BigInt(await ethers.provider.getBlockNumber());
      const proposal = await appAuth.getProposal(V2_ID);
      const { id, kind, value, readyAt: ready, expiresAt: expires, state, uriBlock } = proposal;
      expect(await proposalUriOf(appAuth, proposal)).to.equal(V2_URI);
      expect({ id, kind, value, readyAt: ready, expiresAt: expires, state, uriBlock }).to.deep.equal({
        id: V2_ID,
        kind: ChangeKind.AddComposeHash,
        value: V2_HASH,
        readyAt,
        expiresAt,
        state: ProposalState.Waiting,
        uriBlock: proposedIn,
      });
    });

    describe("state", function () {
      it("is Waiting up to one second before readyAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.Waiting);
        await time.increaseTo(readyAt - 1n);
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.Waiting);
      });

      it("is Ready from readyAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
        await time.increaseTo(readyAt);
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.Ready);
      });

      it("is still Ready one second before expiresAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { expiresAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
        await time.increaseTo(expiresAt - 1n);
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.Ready);
      });

      it("is Expired from expiresAt", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { expiresAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
        await time.increaseTo(expiresAt);
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.Expired);
      });

      it("is None again after activation", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const { readyAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
        await time.setNextBlockTimestamp(readyAt);
        await appAuth.activateComposeHash(V2_HASH);
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.None);
      });

      it("is None again after cancellation", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
        await appAuth.cancelComposeHash(V2_HASH);
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.None);
      });

      it("is Voided once upgrades are disabled", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
        await appAuth.disableUpgrades();
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.Voided);
      });

      it("stays None for an unknown id after upgrades are disabled", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        await appAuth.disableUpgrades();
        expect((await appAuth.getProposal(V2_ID)).state).to.equal(ProposalState.None);
      });
    });
  });

  describe("getProposals", function () {
    it("is empty at first", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await appAuth.getProposals()).to.deep.equal([]);
    });

    it("lists every open proposal of every kind, in full", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = BigInt(await time.latest()) + 1n;
      const calls = [
        () => appAuth.proposeComposeHash(V2_HASH, V2_URI),
        () => appAuth.proposeDevice(DEVICE),
        () => appAuth.proposeAllowAnyDevice(),
        () => appAuth.proposeAllowOutdatedTcb(),
        () => appAuth.proposeNoticePeriod(HOUR),
      ];
      const blocks: bigint[] = [];
      for (const [i, call] of calls.entries()) {
        await time.setNextBlockTimestamp(t0 + BigInt(i));
        blocks.push(BigInt((await (await call()).wait())!.blockNumber));
      }
      const expected = [
        [ChangeKind.AddComposeHash, V2_HASH, blocks[0]!],
        [ChangeKind.AddDevice, DEVICE, 0n],
        [ChangeKind.AllowAnyDevice, ZeroHash, 0n],
        [ChangeKind.AllowOutdatedTcb, ZeroHash, 0n],
        [ChangeKind.ShortenNotice, noticeValue(HOUR), 0n],
      ].map(([kind, value, uriBlock], i) => {
        const readyAt = t0 + BigInt(i) + INITIAL_NOTICE_PERIOD;
        return [
          proposalIdOf(kind as bigint, value as string),
          kind,
          value,
          readyAt,
          readyAt + GRACE_PERIOD,
          ProposalState.Waiting,
          uriBlock,
        ];
      });
      expect(await appAuth.getProposals()).to.deep.equal(expected);
    });

    it("drops activated and cancelled proposals and keeps expired ones", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const t0 = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(t0);
      await appAuth.proposeComposeHash(V2_HASH, V2_URI);
      await appAuth.proposeDevice(DEVICE);
      await appAuth.proposeAllowAnyDevice();
      await time.setNextBlockTimestamp(t0 + INITIAL_NOTICE_PERIOD + 2n);
      await appAuth.activateDevice(DEVICE);
      await appAuth.cancelAllowAnyDevice();
      await time.increaseTo(t0 + INITIAL_NOTICE_PERIOD + GRACE_PERIOD);
      const proposals = await appAuth.getProposals();
      expect(proposals.map((p) => [p.id, p.state])).to.deep.equal([[V2_ID, ProposalState.Expired]]);
    });

    it("stays exact through closings from the middle, the end and the start, and re-proposals", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const devices = Array.from({ length: 6 }, (_, i) => deviceIdOf(`listed ${i}`));
      const idOf = (device: string) => proposalIdOf(ChangeKind.AddDevice, device);
      const open = new Set<string>();
      const expectListed = async () => {
        const listed = (await appAuth.getProposals()).map((p) => p.id);
        expect(listed).to.have.members([...open]);
        expect(listed).to.have.lengthOf(open.size);
      };
      for (const device of devices) {
        await appAuth.proposeDevice(device);
        open.add(idOf(device));
      }
      await expectListed();
      // Close from the middle, then the entry that moved into its place, then the end and the start.
      for (const i of [2, 5, 4, 0]) {
        await appAuth.cancelDevice(devices[i]!);
        open.delete(idOf(devices[i]!));
        await expectListed();
      }
      await appAuth.proposeDevice(devices[2]!);
      open.add(idOf(devices[2]!));
      await time.increase(INITIAL_NOTICE_PERIOD);
      for (const i of [1, 2, 3]) {
        await appAuth.activateDevice(devices[i]!);
        open.delete(idOf(devices[i]!));
        await expectListed();
      }
      expect(open.size).to.equal(0);
    });
  });

  describe("getComposeHashes and composeHashUriBlock", function () {
    it("stay exact through activations out of order, cancellations and removals from the middle", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const releases = Array.from({ length: 5 }, (_, i) => composeHashOf(`{"name":"app","version":${10 + i}}`));
      const uriOf = (hash: string) => `https://example.org/${hash.slice(2, 10)}/app-compose.json`;
      const allowed = new Set([INITIAL_COMPOSE_HASH]);
      const open = new Set<string>();
      const expectExact = async () => {
        expect(await appAuth.getComposeHashes())
          .to.have.members([...allowed])
          .and.lengthOf(allowed.size);
        const [page, , total] = await appAuth.getComposeHashesPage(0, 100);
        expect(page).to.have.members([...allowed]);
        expect(total).to.equal(BigInt(allowed.size));
        for (const hash of allowed)
          expect(await composeUriOf(appAuth, hash)).to.equal(
            hash === INITIAL_COMPOSE_HASH ? INITIAL_COMPOSE_URI : uriOf(hash),
          );
        const proposed = (await appAuth.getProposals()).map((p) => p.value);
        expect(proposed)
          .to.have.members([...open])
          .and.lengthOf(open.size);
        for (const hash of open) {
          const proposal = await appAuth.getProposal(proposalIdOf(ChangeKind.AddComposeHash, hash));
          expect(await proposalUriOf(appAuth, proposal)).to.equal(uriOf(hash));
        }
      };
      for (const hash of releases) {
        await appAuth.proposeComposeHash(hash, uriOf(hash));
        open.add(hash);
      }
      await expectExact();
      // A cancellation from the middle of the proposals moves the last one into its place.
      await appAuth.cancelComposeHash(releases[1]!);
      open.delete(releases[1]!);
      await expectExact();
      await time.increase(INITIAL_NOTICE_PERIOD);
      // Activations out of the order of proposal swap the activated hash to the end of the allowed ones.
      for (const i of [4, 2, 0]) {
        await appAuth.activateComposeHash(releases[i]!);
        open.delete(releases[i]!);
        allowed.add(releases[i]!);
        expect((await appAuth.currentRelease()).composeHash).to.equal(releases[i]);
        await expectExact();
      }
      // Removals from the middle move the first allowed hash into the gap; the current release follows it.
      await appAuth.rollBackTo(INITIAL_COMPOSE_HASH);
      for (const hash of [releases[2]!, releases[0]!]) {
        await appAuth.removeComposeHash(hash);
        allowed.delete(hash);
        expect((await appAuth.currentRelease()).composeHash).to.equal(INITIAL_COMPOSE_HASH);
        // Still the current release where it moved to (the list's old first word is stale but still holds it).
        await expect(appAuth.rollBackTo(INITIAL_COMPOSE_HASH)).to.be.revertedWithCustomError(
          appAuth,
          "AlreadyCurrentRelease",
        );
        await expectExact();
      }
      // Removing the current release keeps its name, with no URI block, until another is set.
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      allowed.delete(INITIAL_COMPOSE_HASH);
      const [removedRelease, removedUriBlock] = await appAuth.currentRelease();
      expect([removedRelease, removedUriBlock]).to.deep.equal([INITIAL_COMPOSE_HASH, 0n]);
      await expectExact();
      await appAuth.activateComposeHash(releases[3]!);
      open.delete(releases[3]!);
      allowed.add(releases[3]!);
      expect((await appAuth.currentRelease()).composeHash).to.equal(releases[3]);
      await expectExact();
    });

    it("track activations and removals", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
      await time.setNextBlockTimestamp(readyAt);
      await appAuth.activateComposeHash(V2_HASH);
      expect(await appAuth.getComposeHashes()).to.have.members([INITIAL_COMPOSE_HASH, V2_HASH]);
      expect(await composeUriOf(appAuth, V2_HASH)).to.equal(V2_URI);

      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      expect(await appAuth.getComposeHashes()).to.deep.equal([V2_HASH]);
      expect(await composeUriOf(appAuth, INITIAL_COMPOSE_HASH)).to.equal("");
      expect(await appAuth.allowedComposeHashes(INITIAL_COMPOSE_HASH)).to.equal(false);
      expect(await appAuth.allowedComposeHashes(V2_HASH)).to.equal(true);
    });

    it("gives a re-added hash the URI of its new proposal", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.removeComposeHash(INITIAL_COMPOSE_HASH);
      const mirror = "ipfs://bafy-mirror/app-compose.json";
      await appAuth.proposeComposeHash(INITIAL_COMPOSE_HASH, mirror);
      await time.increase(INITIAL_NOTICE_PERIOD);
      await appAuth.activateComposeHash(INITIAL_COMPOSE_HASH);
      expect(await composeUriOf(appAuth, INITIAL_COMPOSE_HASH)).to.equal(mirror);
      expect((await appAuth.currentRelease()).uriBlock).to.equal(
        await appAuth.composeHashUriBlock(INITIAL_COMPOSE_HASH),
      );
    });

    it("returns an empty URI for a hash that was never allowed", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      expect(await composeUriOf(appAuth, V2_HASH)).to.equal("");
    });

    it("does not reveal a proposed hash's URI before activation (read it from getProposal)", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
      expect(await composeUriOf(appAuth, V2_HASH)).to.equal("");
      expect(await proposalUriOf(appAuth, await appAuth.getProposal(V2_ID))).to.equal(V2_URI);
    });
  });

  describe("getDevices", function () {
    it("tracks activations and removals", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await appAuth.proposeDevice(DEVICE);
      await time.increase(INITIAL_NOTICE_PERIOD);
      await appAuth.activateDevice(DEVICE);
      expect(await appAuth.getDevices()).to.have.members([INITIAL_DEVICE_ID, DEVICE]);
      await appAuth.removeDevice(INITIAL_DEVICE_ID);
      expect(await appAuth.getDevices()).to.deep.equal([DEVICE]);
      expect(await appAuth.allowedDeviceIds(INITIAL_DEVICE_ID)).to.equal(false);
      expect(await appAuth.allowedDeviceIds(DEVICE)).to.equal(true);
    });
  });

  describe("currentRelease", function () {
    it("reports the hash, URI and time of the latest activated release", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const { readyAt } = await proposeV2At(appAuth, BigInt(await time.latest()) + 1n);
      const proposedIn = BigInt(await ethers.provider.getBlockNumber());
      const before = await appAuth.currentRelease();
      expect(before.composeHash).to.equal(INITIAL_COMPOSE_HASH);
      expect(await composeUriOf(appAuth, before.composeHash)).to.equal(INITIAL_COMPOSE_URI);
      await time.setNextBlockTimestamp(readyAt + HOUR);
      await appAuth.activateComposeHash(V2_HASH);
      const { composeHash, uriBlock, setAt } = await appAuth.currentRelease();
      expect({ composeHash, uriBlock, setAt }).to.deep.equal({
        composeHash: V2_HASH,
        uriBlock: proposedIn,
        setAt: readyAt + HOUR,
      });
      expect(await composeUriOf(appAuth, composeHash)).to.equal(V2_URI);
    });
  });

  describe("noticePeriod and getTimelock", function () {
    it("agree through every change of the notice", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const expectNotice = async (seconds: bigint) => {
        expect(await appAuth.noticePeriod()).to.equal(seconds);
        expect(await appAuth.getTimelock()).to.equal(seconds);
      };
      await expectNotice(INITIAL_NOTICE_PERIOD);
      await appAuth.proposeNoticePeriod(DAY);
      await time.increase(INITIAL_NOTICE_PERIOD);
      await appAuth.activateNoticePeriod(DAY);
      await expectNotice(DAY);
      await appAuth.lengthenNoticePeriod(MAX_NOTICE_PERIOD);
      await expectNotice(MAX_NOTICE_PERIOD);
    });
  });

  describe("proposalId", function () {
    const cases: [string, bigint, string][] = [
      ["AddComposeHash", ChangeKind.AddComposeHash, V2_HASH],
      ["AddDevice", ChangeKind.AddDevice, DEVICE],
      ["AllowAnyDevice", ChangeKind.AllowAnyDevice, ZeroHash],
      ["AllowOutdatedTcb", ChangeKind.AllowOutdatedTcb, ZeroHash],
      ["ShortenNotice", ChangeKind.ShortenNotice, noticeValue(DAY)],
      ["AddMrSystem", ChangeKind.AddMrSystem, DEVICE],
      ["AddOsImageHash", ChangeKind.AddOsImageHash, DEVICE],
      ["UnpinMrSystem", ChangeKind.UnpinMrSystem, ZeroHash],
      ["UnpinOsImageHash", ChangeKind.UnpinOsImageHash, ZeroHash],
    ];
    for (const [name, kind, value] of cases) {
      it(`is keccak256(abi.encode(uint8 kind, bytes32 value)) for ${name}`, async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        const expected = keccak256(AbiCoder.defaultAbiCoder().encode(["uint8", "bytes32"], [kind, value]));
        expect(await appAuth.proposalId(kind, value)).to.equal(expected);
      });
    }

    it("differs between kinds for the same value", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      const ids = await Promise.all(cases.map(([, kind]) => appAuth.proposalId(kind, ZeroHash)));
      expect(new Set(ids).size).to.equal(cases.length);
    });

    it("rejects a kind outside the enum", async function () {
      const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
      await expect(appAuth.proposalId(9, ZeroHash)).to.be.revertedWithoutReason(ethers);
    });
  });
});
