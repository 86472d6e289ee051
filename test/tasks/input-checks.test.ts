import { expect } from "chai";
import hre from "hardhat";

import { TIMELOCKED_APP_AUTH_INTERFACE_ID } from "../../lib/appAuth.js";
import { UserError } from "../../lib/errors.js";
import { sendCall } from "../../tasks/shared/send.js";
import { openApp } from "../../tasks/shared/session.js";
import { deployApp, HASH_V2, networkHelpers, runTask } from "./helpers.js";

describe("checks shared by every app task", function () {
  it("requires --app", async function () {
    const run = await runTask("activate-hash", { hash: HASH_V2 });
    expect(run.errorMessage).to.equal("--app is required: the address of the app's TimelockedAppAuth");
  });

  it("refuses a malformed --app", async function () {
    expect((await runTask("app-status", { app: "0x1234" })).errorMessage).to.equal(
      '--app "0x1234" is not valid: expected an address: 0x followed by 40 hex digits',
    );
  });

  it("refuses an address without code, naming the network", async function () {
    const nobody = "0x000000000000000000000000000000000000dEaD";
    const run = await runTask("activate-hash", { app: nobody, hash: HASH_V2 });
    expect(run.errorMessage).to.equal(
      `no contract at ${nobody} on network "default" (chain 31337): check --app and --network`,
    );
  });

  for (const [kind, runtimeCode] of [
    ["answers false to supportsInterface", "0x60206000f3"], // returns 32 zero bytes to any call
    ["reverts on supportsInterface", "0x60006000fd"], // reverts on any call
  ] as const) {
    it(`refuses a contract that ${kind}: it is not a TimelockedAppAuth`, async function () {
      const address = "0x00000000000000000000000000000000C0FfeE00";
      await networkHelpers.setCode(address, runtimeCode);
      const run = await runTask("app-status", { app: address });
      expect(run.errorMessage).to.equal(
        `the contract at ${address} on network "default" (chain 31337) is not a TimelockedAppAuth ` +
          `(supportsInterface(${TIMELOCKED_APP_AUTH_INTERFACE_ID}) is not true): check --app`,
      );
    });
  }

  it("refuses a --from that is not an account of the network", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const run = await runTask("activate-hash", {
      app,
      hash: HASH_V2,
      from: "0x000000000000000000000000000000000000dEaD",
    });
    expect(run.errorMessage).to.match(
      /^--from 0x000000000000000000000000000000000000dEaD is not an account of network "default" \(chain 31337\); its accounts are 0x/,
    );
  });

  it("turns a revert that slips past the pre-checks into one line naming the custom error", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const session = await openApp(hre, { address: app, from: undefined }, true);
    const before = await networkHelpers.time.latestBlock();
    let caught: unknown;
    try {
      await sendCall(session, { method: "activateComposeHash", args: [HASH_V2] });
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(UserError);
    expect((caught as Error).message).to.match(
      /^activateComposeHash would revert with ProposalNotFound\(id: 0x[0-9a-f]{64}\); nothing was sent$/,
    );
    expect(await networkHelpers.time.latestBlock()).to.equal(before);
  });
});
