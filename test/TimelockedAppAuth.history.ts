/**
 * dstack indexers and audit scripts rebuild an app's policy from DstackApp's events. These tests drive a long,
 * seeded pseudo-random sequence of proposals, activations, cancellations and narrowing changes, then replay the
 * events from the deployment block and check that they add up to exactly the state the contract reports.
 */
import { expect } from "chai";
import { ZeroHash } from "ethers";
import { network } from "hardhat";

import type { TimelockedAppAuth } from "../types/ethers-contracts/index.js";
import {
  ChangeKind,
  composeHashOf,
  DAY,
  deployTimelockedAppAuthFixture,
  deviceIdOf,
  HOUR,
  noticeValue,
  ProposalState,
} from "./helpers/appAuth.js";

const { networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

/** Fixed, so that a failing sequence replays exactly. */
const SEED = 0x5eed;
const STEPS = 300;

const HASH_POOL = Array.from({ length: 6 }, (_, i) => composeHashOf(`{"name":"app","version":${i + 2}}`));
const DEVICE_POOL = Array.from({ length: 6 }, (_, i) => deviceIdOf(`machine ${i}`));
const SHORTER_NOTICES = [HOUR, 6n * HOUR, DAY, 3n * DAY];

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ReplayedState {
  composeHashes: Set<string>;
  devices: Set<string>;
  allowAnyDevice: boolean;
  requireTcbUpToDate: boolean;
  upgradesDisabled: boolean;
  currentRelease: string;
  noticePeriod: bigint;
  counts: Map<string, number>;
}

/** Rebuilds the policy from the contract's events since `fromBlock`, the way an indexer would. */
async function replayEvents(appAuth: TimelockedAppAuth, fromBlock: number): Promise<ReplayedState> {
  const { filters } = appAuth;
  const batches = await Promise.all([
    appAuth.queryFilter(filters.ComposeHashAdded, fromBlock),
    appAuth.queryFilter(filters.ComposeHashRemoved, fromBlock),
    appAuth.queryFilter(filters.DeviceAdded, fromBlock),
    appAuth.queryFilter(filters.DeviceRemoved, fromBlock),
    appAuth.queryFilter(filters.AllowAnyDeviceSet, fromBlock),
    appAuth.queryFilter(filters.RequireTcbUpToDateSet, fromBlock),
    appAuth.queryFilter(filters.UpgradesDisabled, fromBlock),
    appAuth.queryFilter(filters.CurrentReleaseSet, fromBlock),
    appAuth.queryFilter(filters.NoticePeriodChanged, fromBlock),
  ]);
  const logs = batches.flat().sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);

  const state: ReplayedState = {
    composeHashes: new Set(),
    devices: new Set(),
    allowAnyDevice: false,
    requireTcbUpToDate: false,
    upgradesDisabled: false,
    currentRelease: ZeroHash,
    noticePeriod: 0n,
    counts: new Map(),
  };
  for (const log of logs) {
    const args = Array.from(log.args as unknown as ArrayLike<unknown>);
    state.counts.set(log.eventName, (state.counts.get(log.eventName) ?? 0) + 1);
    switch (log.eventName) {
      case "ComposeHashAdded":
        state.composeHashes.add(String(args[0]));
        break;
      case "ComposeHashRemoved":
        state.composeHashes.delete(String(args[0]));
        break;
      case "DeviceAdded":
        state.devices.add(String(args[0]));
        break;
      case "DeviceRemoved":
        state.devices.delete(String(args[0]));
        break;
      case "AllowAnyDeviceSet":
        state.allowAnyDevice = args[0] === true;
        break;
      case "RequireTcbUpToDateSet":
        state.requireTcbUpToDate = args[0] === true;
        break;
      case "UpgradesDisabled":
        state.upgradesDisabled = true;
        break;
      case "CurrentReleaseSet":
        state.currentRelease = String(args[0]);
        break;
      case "NoticePeriodChanged":
        state.noticePeriod = BigInt(args[1] as bigint);
        break;
      default:
        throw new Error(`unexpected event ${log.eventName}`);
    }
  }
  return state;
}

async function expectEventsToMatchState(appAuth: TimelockedAppAuth, fromBlock: number): Promise<ReplayedState> {
  const replayed = await replayEvents(appAuth, fromBlock);
  expect(await appAuth.getComposeHashes()).to.have.members([...replayed.composeHashes]);
  expect(await appAuth.getComposeHashes()).to.have.lengthOf(replayed.composeHashes.size);
  expect(await appAuth.getDevices()).to.have.members([...replayed.devices]);
  expect(await appAuth.getDevices()).to.have.lengthOf(replayed.devices.size);
  expect(await appAuth.allowAnyDevice()).to.equal(replayed.allowAnyDevice);
  expect(await appAuth.requireTcbUpToDate()).to.equal(replayed.requireTcbUpToDate);
  expect(await appAuth.upgradesDisabled()).to.equal(replayed.upgradesDisabled);
  expect((await appAuth.currentRelease()).composeHash).to.equal(replayed.currentRelease);
  expect(await appAuth.noticePeriod()).to.equal(replayed.noticePeriod);
  return replayed;
}

/** Runs `steps` pseudo-random operations, each one valid in the state it meets. Returns how often each ran. */
async function runRandomOperations(appAuth: TimelockedAppAuth, steps: number, random: () => number) {
  // (ethers' Result throws on an out-of-range index, so check the length first)
  const pick = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[Math.floor(random() * items.length)];
  const isOpen = async (kind: bigint, value: string) => {
    const { state } = await appAuth.getProposal(await appAuth.proposalId(kind, value));
    return state === ProposalState.Waiting || state === ProposalState.Ready;
  };
  const ran = new Map<string, number>();

  const operations: Record<string, () => Promise<boolean>> = {
    async proposeComposeHash() {
      const hash = pick(HASH_POOL)!;
      if ((await appAuth.allowedComposeHashes(hash)) || (await isOpen(ChangeKind.AddComposeHash, hash))) return false;
      await appAuth.proposeComposeHash(hash, `ipfs://${hash.slice(2, 12)}`);
      return true;
    },
    async proposeDevice() {
      const device = pick(DEVICE_POOL)!;
      if ((await appAuth.allowedDeviceIds(device)) || (await isOpen(ChangeKind.AddDevice, device))) return false;
      await appAuth.proposeDevice(device);
      return true;
    },
    async proposeAllowAnyDevice() {
      if ((await appAuth.allowAnyDevice()) || (await isOpen(ChangeKind.AllowAnyDevice, ZeroHash))) return false;
      await appAuth.proposeAllowAnyDevice();
      return true;
    },
    async proposeAllowOutdatedTcb() {
      if (!(await appAuth.requireTcbUpToDate()) || (await isOpen(ChangeKind.AllowOutdatedTcb, ZeroHash))) return false;
      await appAuth.proposeAllowOutdatedTcb();
      return true;
    },
    async proposeNoticePeriod() {
      const notice = pick(SHORTER_NOTICES)!;
      if (notice >= (await appAuth.noticePeriod()) || (await isOpen(ChangeKind.ShortenNotice, noticeValue(notice)))) {
        return false;
      }
      await appAuth.proposeNoticePeriod(notice);
      return true;
    },
    async activate() {
      const ready = (await appAuth.getProposals()).filter((p) => p.state === ProposalState.Ready);
      const proposal = pick(ready);
      if (proposal === undefined) return false;
      switch (proposal.kind) {
        case ChangeKind.AddComposeHash:
          await appAuth.activateComposeHash(proposal.value);
          break;
        case ChangeKind.AddDevice:
          await appAuth.activateDevice(proposal.value);
          break;
        case ChangeKind.AllowAnyDevice:
          await appAuth.activateAllowAnyDevice();
          break;
        case ChangeKind.AllowOutdatedTcb:
          await appAuth.activateAllowOutdatedTcb();
          break;
        default:
          await appAuth.activateNoticePeriod(BigInt(proposal.value));
      }
      return true;
    },
    async cancel() {
      const proposal = pick(await appAuth.getProposals());
      if (proposal === undefined) return false;
      const cancels = [
        () => appAuth.cancelComposeHash(proposal.value),
        () => appAuth.cancelDevice(proposal.value),
        () => appAuth.cancelAllowAnyDevice(),
        () => appAuth.cancelAllowOutdatedTcb(),
        () => appAuth.cancelNoticePeriod(BigInt(proposal.value)),
      ];
      await cancels[Number(proposal.kind)]!();
      return true;
    },
    async removeComposeHash() {
      const hash = pick(await appAuth.getComposeHashes());
      if (hash === undefined) return false;
      await appAuth.removeComposeHash(hash);
      return true;
    },
    async removeDevice() {
      const device = pick(await appAuth.getDevices());
      if (device === undefined) return false;
      await appAuth.removeDevice(device);
      return true;
    },
    async restrictDevices() {
      if (!(await appAuth.allowAnyDevice())) return false;
      await appAuth.restrictDevices();
      return true;
    },
    async requireUpToDateTcb() {
      if (await appAuth.requireTcbUpToDate()) return false;
      await appAuth.requireUpToDateTcb();
      return true;
    },
    async lengthenNoticePeriod() {
      const notice = await appAuth.noticePeriod();
      if (notice >= 10n * DAY) return false;
      await appAuth.lengthenNoticePeriod(notice + HOUR * BigInt(1 + Math.floor(random() * 48)));
      return true;
    },
    async rollBackTo() {
      const { composeHash: current } = await appAuth.currentRelease();
      const hash = pick((await appAuth.getComposeHashes()).filter((h) => h !== current));
      if (hash === undefined) return false;
      await appAuth.rollBackTo(hash);
      return true;
    },
    async passTime() {
      await time.increase(BigInt(Math.floor(random() * 5 * 24)) * HOUR + 1n);
      return true;
    },
  };

  // How often each operation is drawn: activations and the passing of time dominate, as in real life.
  const weights: Record<string, number> = {
    proposeComposeHash: 3,
    proposeDevice: 3,
    proposeAllowAnyDevice: 2,
    proposeAllowOutdatedTcb: 2,
    proposeNoticePeriod: 1,
    activate: 6,
    cancel: 1,
    removeComposeHash: 1,
    removeDevice: 2,
    restrictDevices: 2,
    requireUpToDateTcb: 2,
    lengthenNoticePeriod: 1,
    rollBackTo: 2,
    passTime: 5,
  };
  const names = Object.keys(operations).flatMap((name) => Array<string>(weights[name] ?? 1).fill(name));
  for (let step = 0; step < steps; step++) {
    const name = pick(names)!;
    if (await operations[name]!()) ran.set(name, (ran.get(name) ?? 0) + 1);
  }
  return ran;
}

describe("TimelockedAppAuth", function () {
  describe("event history", function () {
    it("replays dstack's events from deployment into exactly the state the views report, after a long mixed sequence", async function () {
      const { appAuth, deploymentBlock } = await loadFixture(deployTimelockedAppAuthFixture);
      const random = prng(SEED);
      await expectEventsToMatchState(appAuth, deploymentBlock);

      const ran = await runRandomOperations(appAuth, STEPS, random);
      // The sequence must have exercised every operation, or the check below would prove little.
      expect([...ran.keys()]).to.have.lengthOf(14, `operations that ran: ${JSON.stringify([...ran])}`);
      const replayed = await expectEventsToMatchState(appAuth, deploymentBlock);
      for (const event of [
        "ComposeHashAdded",
        "ComposeHashRemoved",
        "DeviceAdded",
        "DeviceRemoved",
        "AllowAnyDeviceSet",
        "RequireTcbUpToDateSet",
      ]) {
        expect(replayed.counts.get(event) ?? 0, event).to.be.greaterThan(1);
      }
    });

    it("still matches after upgrades are disabled, the policy is narrowed and ownership is renounced", async function () {
      const { appAuth, deploymentBlock } = await loadFixture(deployTimelockedAppAuthFixture);
      await runRandomOperations(appAuth, 80, prng(SEED + 1));
      await appAuth.disableUpgrades();
      for (const hash of (await appAuth.getComposeHashes()).slice(1)) await appAuth.removeComposeHash(hash);
      for (const device of await appAuth.getDevices()) await appAuth.removeDevice(device);
      if (await appAuth.allowAnyDevice()) await appAuth.restrictDevices();
      await expectEventsToMatchState(appAuth, deploymentBlock);
      await appAuth.renounceOwnership();
      const replayed = await expectEventsToMatchState(appAuth, deploymentBlock);
      expect(replayed.upgradesDisabled).to.equal(true);
      expect(replayed.devices.size).to.equal(0);
    });
  });
});
