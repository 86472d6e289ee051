/**
 * An app may pin the OS it runs on: dstack's `mrSystem` and/or the OS image hash of the boot info the KMS passes.
 * The rule under test: the set of OSes that may boot only widens through a proposal that waited the notice.
 * Pinning from the unpinned state and removing a value narrow (instant, owner only); adding a value and unpinning
 * widen (propose, wait, anyone activates); the last value cannot be removed. Each field is specified once below and
 * the same specification runs for both.
 */
import { expect } from "chai";
import { id, ZeroHash } from "ethers";
import { network } from "hardhat";

import type { IAppAuth, TimelockedAppAuth } from "../types/ethers-contracts/index.js";
import {
  bootInfo,
  ChangeKind,
  composeHashOf,
  deployTimelockedAppAuthFixture,
  deviceIdOf,
  eventsOf,
  GRACE_PERIOD,
  INITIAL_NOTICE_PERIOD,
  OsMeasurement,
  proposalIdOf,
  ProposalState,
} from "./helpers/appAuth.js";

const { ethers, networkHelpers } = await network.create();
const { loadFixture, time } = networkHelpers;

const OS_REFUSED = "OS not allowed by the app";

interface PinnedField {
  name: string;
  field: bigint;
  addKind: bigint;
  unpinKind: bigint;
  /** The boot-info member the field pins. */
  bootKey: "mrSystem" | "osImageHash";
  added: string;
  removed: string;
  pinnedSet: string;
  /** dstack's PolicyChanged labels for a value and for the pin flag. */
  label: string;
  pinnedLabel: string;
  pinned: string;
  another: string;
  third: string;
}

const FIELDS: PinnedField[] = [
  {
    name: "mrSystem",
    field: OsMeasurement.MrSystem,
    addKind: ChangeKind.AddMrSystem,
    unpinKind: ChangeKind.UnpinMrSystem,
    bootKey: "mrSystem",
    added: "MrSystemAdded",
    removed: "MrSystemRemoved",
    pinnedSet: "MrSystemPinnedSet",
    label: id("mr-system"),
    pinnedLabel: id("mr-system-pinned"),
    pinned: id("mrSystem of dstack 0.5.3 on 4 vCPUs"),
    another: id("mrSystem of dstack 0.5.3 on 8 vCPUs"),
    third: id("mrSystem of dstack 0.5.4 on 4 vCPUs"),
  },
  {
    name: "OS image hash",
    field: OsMeasurement.OsImageHash,
    addKind: ChangeKind.AddOsImageHash,
    unpinKind: ChangeKind.UnpinOsImageHash,
    bootKey: "osImageHash",
    added: "OsImageHashAdded",
    removed: "OsImageHashRemoved",
    pinnedSet: "OsImageHashPinnedSet",
    label: id("os-image"),
    pinnedLabel: id("os-image-pinned"),
    pinned: id("dstack 0.5.3 image"),
    another: id("dstack 0.5.4 image"),
    third: id("dstack 0.5.5 image"),
  },
];

function bootOn(f: PinnedField, value: string, overrides: Partial<IAppAuth.AppBootInfoStruct> = {}) {
  return bootInfo({ [f.bootKey]: value, ...overrides });
}

/** Passes the notice of a proposal made now. */
async function waitNotice(): Promise<void> {
  await time.increase(INITIAL_NOTICE_PERIOD);
}

describe("TimelockedAppAuth: OS pins", function () {
  for (const f of FIELDS) {
    /** The fixture's app, with `f` pinned to `f.pinned`. */
    async function pinnedFixture() {
      const fixture = await loadFixture(deployTimelockedAppAuthFixture);
      await fixture.appAuth.pinOs(f.field, f.pinned);
      return fixture;
    }

    describe(`${f.name}`, function () {
      it("is not pinned by default: every value is allowed, as before", async function () {
        const { appAuth } = await loadFixture(deployTimelockedAppAuthFixture);
        expect(await appAuth.osPinned(f.field)).to.equal(false);
        expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([]);
        expect(await appAuth.allowedOsMeasurement(f.field, f.another)).to.equal(true);
        expect(await appAuth.isAppAllowed(bootOn(f, f.another))).to.deep.equal([true, ""]);
      });

      describe("pinOs (narrowing: instant, owner only)", function () {
        it("pins at once: the pinned value boots, any other is refused with dstack-style events", async function () {
          const { appAuth, owner } = await loadFixture(deployTimelockedAppAuthFixture);
          expect(await eventsOf(appAuth, appAuth.pinOs(f.field, f.pinned), { withAuditEvents: true })).to.deep.equal([
            [f.pinnedSet, true],
            ["PolicyChanged", owner.address, f.pinnedLabel, ZeroHash, true],
            [f.added, f.pinned],
            ["PolicyChanged", owner.address, f.label, f.pinned, true],
          ]);
          expect(await appAuth.osPinned(f.field)).to.equal(true);
          expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([f.pinned]);
          expect(await appAuth.allowedOsMeasurement(f.field, f.pinned)).to.equal(true);
          expect(await appAuth.allowedOsMeasurement(f.field, f.another)).to.equal(false);
          expect(await appAuth.isAppAllowed(bootOn(f, f.pinned))).to.deep.equal([true, ""]);
          expect(await appAuth.isAppAllowed(bootOn(f, f.another))).to.deep.equal([false, OS_REFUSED]);
        });

        it("refuses anyone but the owner, zero, and a field already pinned (more values widen), changing nothing", async function () {
          const { appAuth, stranger } = await pinnedFixture();
          await expect(appAuth.connect(stranger).pinOs(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
            .withArgs(stranger.address);
          await expect(appAuth.pinOs(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OsAlreadyPinned")
            .withArgs(f.field);
          expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([f.pinned]);
          const { appAuth: fresh } = await loadFixture(deployTimelockedAppAuthFixture);
          await expect(fresh.pinOs(f.field, ZeroHash))
            .to.be.revertedWithCustomError(fresh, "OsMeasurementZero")
            .withArgs(f.field);
          expect(await fresh.osPinned(f.field)).to.equal(false);
        });

        it("pins one field without touching the other; with both pinned a boot must match both", async function () {
          const { appAuth } = await pinnedFixture();
          const other = FIELDS.find((g) => g !== f)!;
          expect(await appAuth.osPinned(other.field)).to.equal(false);
          await appAuth.pinOs(other.field, other.pinned);
          const both = bootInfo({ [f.bootKey]: f.pinned, [other.bootKey]: other.pinned });
          expect(await appAuth.isAppAllowed(both)).to.deep.equal([true, ""]);
          expect(await appAuth.isAppAllowed({ ...both, [other.bootKey]: other.another })).to.deep.equal([
            false,
            OS_REFUSED,
          ]);
          expect(await appAuth.isAppAllowed({ ...both, [f.bootKey]: f.another })).to.deep.equal([false, OS_REFUSED]);
        });

        it("comes after dstack's checks: a boot they refuse keeps dstack's reason whatever its OS", async function () {
          const { appAuth } = await pinnedFixture();
          const wrongOs = (overrides: Partial<IAppAuth.AppBootInfoStruct>) => bootOn(f, f.another, overrides);
          expect(await appAuth.isAppAllowed(wrongOs({ tcbStatus: "OutOfDate" }))).to.deep.equal([
            false,
            "TCB status is not up to date",
          ]);
          expect(await appAuth.isAppAllowed(wrongOs({ composeHash: composeHashOf("{}") }))).to.deep.equal([
            false,
            "Compose hash not allowed",
          ]);
          expect(await appAuth.isAppAllowed(wrongOs({ deviceId: deviceIdOf("unknown") }))).to.deep.equal([
            false,
            "Device not allowed",
          ]);
        });
      });

      describe("proposeOsMeasurement / activateOsMeasurement / cancelOsMeasurement (widening: waits)", function () {
        const proposal = () => proposalIdOf(f.addKind, f.another);

        it("announces another value; it boots only once someone activates it after the notice", async function () {
          const { appAuth, stranger } = await pinnedFixture();
          const proposedAt = BigInt(await time.latest()) + 1n;
          await time.setNextBlockTimestamp(proposedAt);
          const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
          expect(await eventsOf(appAuth, appAuth.proposeOsMeasurement(f.field, f.another))).to.deep.equal([
            ["ChangeProposed", proposal(), f.addKind, f.another, readyAt, readyAt + GRACE_PERIOD, ""],
          ]);
          expect(await appAuth.getProposal(proposal())).to.deep.equal([
            proposal(),
            f.addKind,
            f.another,
            readyAt,
            readyAt + GRACE_PERIOD,
            ProposalState.Waiting,
            "",
          ]);
          expect(await appAuth.isAppAllowed(bootOn(f, f.another))).to.deep.equal([false, OS_REFUSED]);
          await time.setNextBlockTimestamp(readyAt - 1n);
          await expect(appAuth.connect(stranger).activateOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "ProposalNotReady")
            .withArgs(proposal(), readyAt, readyAt - 1n);
          await time.setNextBlockTimestamp(readyAt);
          expect(
            await eventsOf(appAuth, appAuth.connect(stranger).activateOsMeasurement(f.field, f.another), {
              withAuditEvents: true,
            }),
          ).to.deep.equal([
            ["ChangeActivated", proposal(), f.addKind, f.another, stranger.address],
            [f.added, f.another],
            ["PolicyChanged", stranger.address, f.label, f.another, true],
          ]);
          expect(await appAuth.isAppAllowed(bootOn(f, f.another))).to.deep.equal([true, ""]);
          expect(await appAuth.isAppAllowed(bootOn(f, f.pinned))).to.deep.equal([true, ""]);
          expect(await appAuth.getOsMeasurements(f.field)).to.have.members([f.pinned, f.another]);
        });

        it("refuses an unpinned field (pin it instead), zero, a value already allowed, and anyone but the owner", async function () {
          const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
          await expect(appAuth.proposeOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OsNotPinned")
            .withArgs(f.field);
          await appAuth.pinOs(f.field, f.pinned);
          await expect(appAuth.proposeOsMeasurement(f.field, ZeroHash))
            .to.be.revertedWithCustomError(appAuth, "OsMeasurementZero")
            .withArgs(f.field);
          await expect(appAuth.proposeOsMeasurement(f.field, f.pinned))
            .to.be.revertedWithCustomError(appAuth, "OsMeasurementAlreadyAllowed")
            .withArgs(f.field, f.pinned);
          await expect(appAuth.connect(stranger).proposeOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
            .withArgs(stranger.address);
          expect(await appAuth.getProposals()).to.deep.equal([]);
        });

        it("lets the owner cancel; the value then never boots", async function () {
          const { appAuth, stranger } = await pinnedFixture();
          await appAuth.proposeOsMeasurement(f.field, f.another);
          await expect(appAuth.connect(stranger).cancelOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
            .withArgs(stranger.address);
          expect(await eventsOf(appAuth, appAuth.cancelOsMeasurement(f.field, f.another))).to.deep.equal([
            ["ChangeCancelled", proposal(), f.addKind, f.another],
          ]);
          await waitNotice();
          await expect(appAuth.activateOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "ProposalNotFound")
            .withArgs(proposal());
          expect(await appAuth.isAppAllowed(bootOn(f, f.another))).to.deep.equal([false, OS_REFUSED]);
        });

        it("does not activate into an unpinned field, nor a value pinned at once meanwhile", async function () {
          const { appAuth } = await pinnedFixture();
          await appAuth.proposeOsMeasurement(f.field, f.another);
          await appAuth.proposeUnpinOs(f.field);
          await waitNotice();
          await appAuth.activateUnpinOs(f.field);
          await expect(appAuth.activateOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OsNotPinned")
            .withArgs(f.field);
          await appAuth.pinOs(f.field, f.another);
          await expect(appAuth.activateOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OsMeasurementAlreadyAllowed")
            .withArgs(f.field, f.another);
          expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([f.another]);
        });
      });

      describe("removeOsMeasurement (narrowing: instant, never the last value)", function () {
        it("stops allowing a value at once", async function () {
          const { appAuth, owner } = await pinnedFixture();
          await appAuth.proposeOsMeasurement(f.field, f.another);
          await waitNotice();
          await appAuth.activateOsMeasurement(f.field, f.another);
          expect(
            await eventsOf(appAuth, appAuth.removeOsMeasurement(f.field, f.pinned), { withAuditEvents: true }),
          ).to.deep.equal([
            [f.removed, f.pinned],
            ["PolicyChanged", owner.address, f.label, f.pinned, false],
          ]);
          expect(await appAuth.isAppAllowed(bootOn(f, f.pinned))).to.deep.equal([false, OS_REFUSED]);
          expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([f.another]);
        });

        it("refuses the last value (that would allow any OS), a value not pinned, and anyone but the owner", async function () {
          const { appAuth, stranger } = await pinnedFixture();
          await expect(appAuth.removeOsMeasurement(f.field, f.pinned))
            .to.be.revertedWithCustomError(appAuth, "CannotRemoveLastOsMeasurement")
            .withArgs(f.field, f.pinned);
          await expect(appAuth.removeOsMeasurement(f.field, f.another))
            .to.be.revertedWithCustomError(appAuth, "OsMeasurementNotAllowed")
            .withArgs(f.field, f.another);
          await expect(appAuth.connect(stranger).removeOsMeasurement(f.field, f.pinned))
            .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
            .withArgs(stranger.address);
          expect(await appAuth.isAppAllowed(bootOn(f, f.another))).to.deep.equal([false, OS_REFUSED]);
        });
      });

      describe("proposeUnpinOs / activateUnpinOs / cancelUnpinOs (widening: waits)", function () {
        const proposal = () => proposalIdOf(f.unpinKind, ZeroHash);

        it("unpins only after the notice, dropping every pinned value; anyone activates", async function () {
          const { appAuth, stranger } = await pinnedFixture();
          await appAuth.proposeOsMeasurement(f.field, f.another);
          await waitNotice();
          await appAuth.activateOsMeasurement(f.field, f.another);
          const proposedAt = BigInt(await time.latest()) + 1n;
          await time.setNextBlockTimestamp(proposedAt);
          const readyAt = proposedAt + INITIAL_NOTICE_PERIOD;
          expect(await eventsOf(appAuth, appAuth.proposeUnpinOs(f.field))).to.deep.equal([
            ["ChangeProposed", proposal(), f.unpinKind, ZeroHash, readyAt, readyAt + GRACE_PERIOD, ""],
          ]);
          await expect(appAuth.activateUnpinOs(f.field)).to.be.revertedWithCustomError(appAuth, "ProposalNotReady");
          expect(await appAuth.isAppAllowed(bootOn(f, f.third))).to.deep.equal([false, OS_REFUSED]);
          await time.setNextBlockTimestamp(readyAt);
          const last = (await appAuth.getOsMeasurements(f.field)).at(-1)!;
          const first = (await appAuth.getOsMeasurements(f.field))[0]!;
          expect(
            await eventsOf(appAuth, appAuth.connect(stranger).activateUnpinOs(f.field), { withAuditEvents: true }),
          ).to.deep.equal([
            ["ChangeActivated", proposal(), f.unpinKind, ZeroHash, stranger.address],
            [f.removed, last],
            ["PolicyChanged", stranger.address, f.label, last, false],
            [f.removed, first],
            ["PolicyChanged", stranger.address, f.label, first, false],
            [f.pinnedSet, false],
            ["PolicyChanged", stranger.address, f.pinnedLabel, ZeroHash, false],
          ]);
          expect(await appAuth.osPinned(f.field)).to.equal(false);
          expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([]);
          expect(await appAuth.isAppAllowed(bootOn(f, f.third))).to.deep.equal([true, ""]);
          // Unpinned again: pinning is instant once more.
          await appAuth.pinOs(f.field, f.third);
          expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([f.third]);
        });

        it("refuses an unpinned field and anyone but the owner; the owner may cancel", async function () {
          const { appAuth, stranger } = await loadFixture(deployTimelockedAppAuthFixture);
          await expect(appAuth.proposeUnpinOs(f.field))
            .to.be.revertedWithCustomError(appAuth, "OsNotPinned")
            .withArgs(f.field);
          await appAuth.pinOs(f.field, f.pinned);
          await expect(appAuth.connect(stranger).proposeUnpinOs(f.field))
            .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
            .withArgs(stranger.address);
          await appAuth.proposeUnpinOs(f.field);
          await expect(appAuth.connect(stranger).cancelUnpinOs(f.field))
            .to.be.revertedWithCustomError(appAuth, "OwnableUnauthorizedAccount")
            .withArgs(stranger.address);
          expect(await eventsOf(appAuth, appAuth.cancelUnpinOs(f.field))).to.deep.equal([
            ["ChangeCancelled", proposal(), f.unpinKind, ZeroHash],
          ]);
          await waitNotice();
          await expect(appAuth.activateUnpinOs(f.field))
            .to.be.revertedWithCustomError(appAuth, "ProposalNotFound")
            .withArgs(proposal());
          expect(await appAuth.osPinned(f.field)).to.equal(true);
        });
      });

      describe("an owner who wants another OS at once", function () {
        /** The owner's goal: boot `f.another` before any notice has passed. Each attempt must leave it refused. */
        async function stillRefused(appAuth: TimelockedAppAuth): Promise<void> {
          expect(await appAuth.isAppAllowed(bootOn(f, f.another))).to.deep.equal([false, OS_REFUSED]);
        }

        it("finds no path: remove the last value, re-pin, propose and activate early, cancel and re-propose", async function () {
          const { appAuth } = await pinnedFixture();
          await expect(appAuth.removeOsMeasurement(f.field, f.pinned)).to.be.revertedWithCustomError(
            appAuth,
            "CannotRemoveLastOsMeasurement",
          );
          await expect(appAuth.pinOs(f.field, f.another)).to.be.revertedWithCustomError(appAuth, "OsAlreadyPinned");
          await appAuth.proposeOsMeasurement(f.field, f.another);
          await appAuth.proposeUnpinOs(f.field);
          await expect(appAuth.activateOsMeasurement(f.field, f.another)).to.be.revertedWithCustomError(
            appAuth,
            "ProposalNotReady",
          );
          await expect(appAuth.activateUnpinOs(f.field)).to.be.revertedWithCustomError(appAuth, "ProposalNotReady");
          await expect(appAuth.proposeOsMeasurement(f.field, f.another)).to.be.revertedWithCustomError(
            appAuth,
            "ProposalAlreadyOpen",
          );
          await stillRefused(appAuth);
          // Cancelling and proposing again restarts the notice; it never shortens it.
          await time.increase(INITIAL_NOTICE_PERIOD - 60n);
          await appAuth.cancelUnpinOs(f.field);
          await appAuth.proposeUnpinOs(f.field);
          await time.increase(120n);
          await expect(appAuth.activateUnpinOs(f.field)).to.be.revertedWithCustomError(appAuth, "ProposalNotReady");
          await stillRefused(appAuth);
        });

        it("finds no path through the notice itself: a shortening waits the current notice", async function () {
          const { appAuth } = await pinnedFixture();
          await appAuth.proposeNoticePeriod(3600n);
          await appAuth.proposeUnpinOs(f.field);
          await time.increase(3600n);
          await expect(appAuth.activateNoticePeriod(3600n)).to.be.revertedWithCustomError(appAuth, "ProposalNotReady");
          await expect(appAuth.activateUnpinOs(f.field)).to.be.revertedWithCustomError(appAuth, "ProposalNotReady");
          await stillRefused(appAuth);
        });

        it("finds no path through disableUpgrades, renounceOwnership or a new owner: the pin stays", async function () {
          const { appAuth, newOwner } = await pinnedFixture();
          await appAuth.proposeUnpinOs(f.field);
          await appAuth.transferOwnership(newOwner.address);
          await appAuth.connect(newOwner).acceptOwnership();
          await expect(appAuth.connect(newOwner).pinOs(f.field, f.another)).to.be.revertedWithCustomError(
            appAuth,
            "OsAlreadyPinned",
          );
          await appAuth.connect(newOwner).disableUpgrades();
          await waitNotice();
          await expect(appAuth.activateUnpinOs(f.field)).to.be.revertedWithCustomError(appAuth, "UpgradesAreDisabled");
          await expect(
            appAuth.connect(newOwner).proposeOsMeasurement(f.field, f.another),
          ).to.be.revertedWithCustomError(appAuth, "UpgradesAreDisabled");
          await appAuth.connect(newOwner).renounceOwnership();
          await stillRefused(appAuth);
          expect(await appAuth.getOsMeasurements(f.field)).to.deep.equal([f.pinned]);
        });
      });
    });
  }

  describe("through the KMS (stand-in for dstack's DstackKms)", function () {
    it("an app that pins its OS refuses an OS image the KMS owner allowed at once, and another VM's mrSystem", async function () {
      const { appAuth, owner } = await loadFixture(deployTimelockedAppAuthFixture);
      const [mrSystem, image] = FIELDS as [PinnedField, PinnedField];
      const kms = await ethers.deployContract("KmsStandIn", [owner.address]);
      const unpinned = await ethers.deployContract("TimelockedAppAuth", [
        owner.address,
        INITIAL_NOTICE_PERIOD,
        bootInfo().composeHash,
        "https://example.org/releases/1/app-compose.json",
        [bootInfo().deviceId],
        false,
        true,
      ]);
      await kms.registerApp(await appAuth.getAddress());
      await kms.registerApp(await unpinned.getAddress());
      await kms.addOsImageHash(image.pinned);
      await appAuth.pinOs(OsMeasurement.OsImageHash, image.pinned);
      await appAuth.pinOs(OsMeasurement.MrSystem, mrSystem.pinned);
      const boot = bootInfo({
        appId: await appAuth.getAddress(),
        mrSystem: mrSystem.pinned,
        osImageHash: image.pinned,
      });
      expect(await kms.isAppAllowed(boot)).to.deep.equal([true, ""]);

      // The KMS owner allows a new image, at once, for every app on this KMS: the pinned app still refuses it.
      await kms.addOsImageHash(image.another);
      expect(await kms.isAppAllowed({ ...boot, osImageHash: image.another })).to.deep.equal([false, OS_REFUSED]);
      // The pinned image on a VM of another size measures another mrSystem: refused too.
      expect(await kms.isAppAllowed({ ...boot, mrSystem: mrSystem.another })).to.deep.equal([false, OS_REFUSED]);
      // An app that does not pin boots whatever the KMS allows.
      const unpinnedBoot = { ...boot, appId: await unpinned.getAddress(), osImageHash: image.another };
      expect(await kms.isAppAllowed(unpinnedBoot)).to.deep.equal([true, ""]);
      // And what the KMS refuses stays refused, pinned or not: the KMS checks its own list first.
      await kms.removeOsImageHash(image.pinned);
      expect(await kms.isAppAllowed(boot)).to.deep.equal([false, "OS image is not allowed"]);
    });
  });
});
