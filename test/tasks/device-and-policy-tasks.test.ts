import { expect } from "chai";

import type { ProposeResult } from "../../tasks/shared/changes.js";
import { DEVICE_A, DEVICE_B, deployApp, networkHelpers, runTask, runTaskOk } from "./helpers.js";

describe("device and policy tasks", function () {
  describe("device family", function () {
    it("proposes, activates after the notice, and removes a device", async function () {
      const { app, appAuth, stranger } = await networkHelpers.loadFixture(deployApp);
      const proposed = await runTaskOk<ProposeResult>("propose-device", { app, device: DEVICE_B });
      expect(proposed.stdout).to.include(`npx hardhat activate-device --app ${app} --device ${DEVICE_B}`);

      await networkHelpers.time.increaseTo(proposed.value.readyAt);
      await runTaskOk("activate-device", { app, device: DEVICE_B, from: stranger.address });
      expect(await appAuth.allowedDeviceIds(DEVICE_B)).to.equal(true);

      await runTaskOk("remove-device", { app, device: DEVICE_B });
      expect(await appAuth.allowedDeviceIds(DEVICE_B)).to.equal(false);
    });

    it("cancels a device proposal", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      await runTaskOk("propose-device", { app, device: DEVICE_B });
      await runTaskOk("cancel-device", { app, device: DEVICE_B });
      expect((await appAuth.getProposals()).length).to.equal(0);
    });

    it("refuses a device that is already listed, and removing one that is not", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      expect((await runTask("propose-device", { app, device: DEVICE_A })).errorMessage).to.equal(
        `device ${DEVICE_A} is already allowed`,
      );
      expect((await runTask("remove-device", { app, device: DEVICE_B })).errorMessage).to.equal(
        `device ${DEVICE_B} is not listed`,
      );
    });

    it("refuses a malformed or missing device id", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      expect((await runTask("propose-device", { app, device: "a1".repeat(32) })).errorMessage).to.equal(
        `--device "${"a1".repeat(32)}" is not valid: expected 0x followed by 64 hex digits (32 bytes); got 64 hex digits and no 0x prefix`,
      );
      expect((await runTask("activate-device", { app })).errorMessage).to.equal(
        "--device is required: the device id (bytes32)",
      );
    });

    it("refuses to activate a device before its notice", async function () {
      const { app } = await networkHelpers.loadFixture(deployApp);
      await runTaskOk("propose-device", { app, device: DEVICE_B });
      const run = await runTask("activate-device", { app, device: DEVICE_B });
      expect(run.errorMessage).to.match(/is not ready yet: ready at \S+Z \(in 7d 0h 0m\)$/);
    });
  });

  describe("allow-any-device family", function () {
    it("proposes, activates, and restricts again at once", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const proposed = await runTaskOk<ProposeResult>("propose-allow-any-device", { app });
      await networkHelpers.time.increaseTo(proposed.value.readyAt);
      await runTaskOk("activate-allow-any-device", { app });
      expect(await appAuth.allowAnyDevice()).to.equal(true);

      const restricted = await runTaskOk("restrict-devices", { app });
      expect(restricted.stdout).to.include("takes effect at once");
      expect(await appAuth.allowAnyDevice()).to.equal(false);
    });

    it("cancels the proposal, and refuses restrict-devices when already restricted", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      await runTaskOk("propose-allow-any-device", { app });
      await runTaskOk("cancel-allow-any-device", { app });
      expect((await appAuth.getProposals()).length).to.equal(0);
      expect((await runTask("restrict-devices", { app })).errorMessage).to.equal(
        "devices are already restricted to the listed ones",
      );
    });

    it("refuses restrict-devices from a non-owner before sending", async function () {
      const { app, appAuth, stranger } = await networkHelpers.loadFixture(deployApp);
      const proposed = await runTaskOk<ProposeResult>("propose-allow-any-device", { app });
      await networkHelpers.time.increaseTo(proposed.value.readyAt);
      await runTaskOk("activate-allow-any-device", { app });
      const run = await runTask("restrict-devices", { app, from: stranger.address });
      expect(run.errorMessage).to.match(/^only the owner can allow only the listed devices: the signer is 0x/);
      expect(await appAuth.allowAnyDevice()).to.equal(true);
    });
  });

  describe("TCB family", function () {
    it("proposes, activates, and requires an up-to-date TCB again at once", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      const proposed = await runTaskOk<ProposeResult>("propose-allow-outdated-tcb", { app });
      await networkHelpers.time.increaseTo(proposed.value.readyAt);
      await runTaskOk("activate-allow-outdated-tcb", { app });
      expect(await appAuth.requireTcbUpToDate()).to.equal(false);

      await runTaskOk("require-up-to-date-tcb", { app });
      expect(await appAuth.requireTcbUpToDate()).to.equal(true);
    });

    it("cancels the proposal, and refuses what is already in force", async function () {
      const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
      await runTaskOk("propose-allow-outdated-tcb", { app });
      await runTaskOk("cancel-allow-outdated-tcb", { app });
      expect((await appAuth.getProposals()).length).to.equal(0);
      expect((await runTask("require-up-to-date-tcb", { app })).errorMessage).to.equal(
        "an up-to-date TCB is already required",
      );
      expect((await runTask("activate-allow-outdated-tcb", { app })).errorMessage).to.match(
        /^the proposal to allow an out-of-date TCB was cancelled in block \d+ at .*; it must be proposed again, with a fresh notice$/,
      );
    });
  });
});
