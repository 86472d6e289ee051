import { expect } from "chai";

import type { ProposeResult } from "../../tasks/shared/changes.js";
import { deployApp, HASH_V2, networkHelpers, NOTICE, runTask, runTaskOk, UNSERVED_URI } from "./helpers.js";

describe("notice and upgrade tasks", function () {
  describe("set-notice", function () {
    it("lengthens the notice at once and says so", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const run = await runTaskOk<{ mode: string }>("set-notice", { app, notice: "14d" });
      expect(run.value.mode).to.equal("lengthened");
      expect(run.stdout).to.include("lengthen the notice period from 7d 0h 0m to 14d 0h 0m");
      expect(run.stdout).to.include("takes effect at once");
      expect(await appAuth.noticePeriod()).to.equal(14n * 86_400n);
    });

    it("proposes a shorter notice, which waits the current one, and activates it later", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const run = await runTaskOk<ProposeResult & { mode: string }>("set-notice", { app, notice: "1d" });
      expect(run.value.mode).to.equal("proposed");
      expect(run.stdout).to.include("so it is proposed and waits the current notice");
      expect(run.stdout).to.include(`npx hardhat activate-notice --app ${app} --notice 86400`);
      expect(await appAuth.noticePeriod()).to.equal(NOTICE);

      await networkHelpers.time.increaseTo(run.value.readyAt);
      await runTaskOk("activate-notice", { app, notice: "86400" });
      expect(await appAuth.noticePeriod()).to.equal(86_400n);
    });

    it("cancels a shorter-notice proposal", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      await runTaskOk("set-notice", { app, notice: "2d" });
      await runTaskOk("cancel-notice", { app, notice: "48h" });
      expect((await appAuth.getProposals()).length).to.equal(0);
    });

    it("refuses a notice outside the contract's bounds, the current notice, and a malformed one", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      expect((await runTask("set-notice", { app, notice: "30m" })).errorMessage).to.equal(
        "--notice 30m (30m) is outside the contract's bounds: 1h 0m to 365d 0h 0m",
      );
      expect((await runTask("set-notice", { app, notice: "7d" })).errorMessage).to.equal(
        "the notice period is already 7d 0h 0m",
      );
      expect((await runTask("set-notice", { app, notice: "a week" })).errorMessage).to.match(
        /^--notice "a week" is not valid: expected a duration such as "7d"/,
      );
    });
  });

  describe("disable-upgrades", function () {
    it("refuses without --yes, explaining it is one-way, and changes nothing", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      await runTaskOk("propose-hash", { app, hash: HASH_V2, uri: UNSERVED_URI });
      const run = await runTask("disable-upgrades", { app });
      expect(run.errorMessage).to.equal(
        "disable-upgrades is one-way: no compose hash, device or policy change can ever be proposed or activated " +
          "again, and the 1 open proposal(s) become void (removals stay possible). Re-run with --yes to confirm",
      );
      expect(await appAuth.upgradesDisabled()).to.equal(false);
    });

    it("disables upgrades with --yes; then proposals are refused and activations say the proposal is void", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const proposed = await runTaskOk<ProposeResult>("propose-device", { app, device: `0x${"cc".repeat(32)}` });
      await runTaskOk("disable-upgrades", { app, yes: true });
      expect(await appAuth.upgradesDisabled()).to.equal(true);

      expect((await runTask("propose-hash", { app, hash: HASH_V2, uri: UNSERVED_URI })).errorMessage).to.equal(
        `cannot propose to add compose hash ${HASH_V2}: upgrades are disabled for good on ${app}`,
      );
      await networkHelpers.time.increaseTo(proposed.value.readyAt);
      expect((await runTask("activate-device", { app, device: `0x${"cc".repeat(32)}` })).errorMessage).to.match(
        /^upgrades are disabled for good on 0x[0-9a-fA-F]{40}: the proposal to add device 0xc{64} is void$/,
      );
      expect((await runTask("disable-upgrades", { app, yes: true })).errorMessage).to.equal(
        "upgrades are already disabled",
      );
    });

    it("refuses a non-owner before asking for --yes", async function () {
      const { app, stranger } = await networkHelpers.loadFixture(deployApp);
      const run = await runTask("disable-upgrades", { app, from: stranger.address });
      expect(run.errorMessage).to.match(/^only the owner can disable upgrades: the signer is/);
    });
  });
});
