import { expect } from "chai";

import type { AppStatus, HistoryEntry } from "../../lib/appAuth.js";
import { formatDate } from "../../lib/format.js";
import type { ProposeResult } from "../../tasks/shared/changes.js";
import {
  DEVICE_A,
  deployApp,
  ethers,
  HASH_V1,
  HASH_V2,
  UNSERVED_URI,
  INITIAL_URI,
  networkHelpers,
  NOTICE,
  runTask,
  runTaskOk,
} from "./helpers.js";

const URI_V2 = UNSERVED_URI;

describe("app-status", function () {
  it("shows the policy, the allowed hashes with the current release, devices, proposals and history", async function () {
    const { app, owner, stranger } = await networkHelpers.loadFixture(deployApp);
    const proposed = await runTaskOk<ProposeResult>("propose-hash", { app, hash: HASH_V2, uri: URI_V2 });
    await runTaskOk("propose-allow-any-device", { app });
    await networkHelpers.time.increaseTo(proposed.value.readyAt - NOTICE + 3600n);

    const run = await runTaskOk<{ status: AppStatus; history: HistoryEntry[] }>("app-status", { app });
    const out = run.stdout;
    expect(out).to.include(`Owner:              ${owner.address}`);
    expect(out).to.include("Pending owner:      none");
    expect(out).to.include("Notice period:      7d 0h 0m (604800 s)");
    expect(out).to.include("Upgrades:           enabled");
    expect(out).to.include('TCB:                only "UpToDate" accepted');
    expect(out).to.include("Devices:            only listed devices accepted");
    expect(out).to.include(`${HASH_V1}  [current release]\n      uri: ${INITIAL_URI}`);
    expect(out).to.include(`Listed devices (1):\n  ${DEVICE_A}`);
    expect(out).to.include("Open proposals (2):");
    expect(out).to.include(`add compose hash ${HASH_V2}  [Waiting]\n      uri:        ${URI_V2}`);
    expect(out).to.include(`ready at:   ${formatDate(proposed.value.readyAt)} (ready in 6d 23h 0m)`);
    expect(out).to.include(`expires at: ${formatDate(proposed.value.expiresAt)} (in 20d 23h 0m)`);
    expect(out).to.include("allow any device  [Waiting]");
    expect(out).to.match(/block \d+\s+\S+Z {2}NoticePeriodChanged: notice period set to 7d 0h 0m/);
    expect(out).to.include(`ComposeHashAdded: compose hash allowed: ${HASH_V1}`);
    expect(out).to.include(`ChangeProposed: proposed: add compose hash ${HASH_V2} (uri ${URI_V2}), ready at`);

    // Owner transfer shows up as pending, and in the history.
    const { appAuth } = await networkHelpers.loadFixture(deployApp);
    await appAuth.transferOwnership(stranger.address);
    const after = await runTaskOk("app-status", { app: await appAuth.getAddress() });
    expect(after.stdout).to.include(`Pending owner:      ${stranger.address}`);
    expect(after.stdout).to.include("OwnershipTransferStarted: ownership transfer started");
  });

  it("shows ready and expired proposals as such", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const proposed = await runTaskOk<ProposeResult>("propose-hash", { app, hash: HASH_V2, uri: URI_V2 });
    await networkHelpers.time.increaseTo(proposed.value.readyAt + 7200n);
    expect((await runTaskOk("app-status", { app })).stdout).to.match(
      /\[Ready\][\s\S]*ready since 2h 0m \(expires in 13d 22h 0m\)/,
    );
    await networkHelpers.time.increaseTo(proposed.value.expiresAt + 86_400n);
    expect((await runTaskOk("app-status", { app })).stdout).to.match(/\[Expired\][\s\S]*expired 1d 0h 0m ago/);
  });

  it("reads the history from --from-block, and refuses a malformed one", async function () {
    const { app } = await networkHelpers.loadFixture(deployApp);
    const latest = await networkHelpers.time.latestBlock();
    const run = await runTaskOk<{ history: HistoryEntry[] }>("app-status", { app, fromBlock: latest + 1 });
    expect(run.value.history).to.deep.equal([]);
    expect((await runTask("app-status", { app, fromBlock: -1 })).errorMessage).to.equal(
      '--from-block "-1" is not valid: expected a block number (a non-negative integer)',
    );
  });

  it("with --kms, describes the KMS the app relies on: owner, proxy, OS images, what pinning changes", async function () {
    const [signer] = await ethers.getSigners();
    const { appAuth } = await networkHelpers.loadFixture(deployApp);
    const kms = await ethers.deployContract("KmsStandIn", [signer!.address]);
    await (await kms.getFunction("registerApp")(await appAuth.getAddress())).wait();
    const out = (await runTaskOk("app-status", { app: await appAuth.getAddress(), kms: await kms.getAddress() }))
      .stdout;
    expect(out).to.include(`The KMS the app relies on (${await kms.getAddress()}):`);
    expect(out).to.include("PASS  registered with the KMS");
    expect(out).to.include("INFO  the KMS is not an EIP-1967 proxy");
    expect(out).to.include("WARN  the KMS owner decides which OS images boot, at once");
    expect(out).to.include(signer!.address);
    expect(out).to.include("WARN  the app does not pin its OS: it boots any OS image the KMS owner allows, at once");
    expect(out).to.match(/^OS: +not pinned: any OS image the KMS owner allows boots, at once/m);
  });

  it("says when the app pins its OS, with the pinned values", async function () {
    const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
    const image = `0x${"0a".repeat(32)}`;
    await (await appAuth.pinOs(1, image)).wait();
    const out = (await runTaskOk("app-status", { app })).stdout;
    expect(out).to.match(/^OS: +pinned \(OS image hash\): any other OS is refused, a new one waits the notice$/m);
    expect(out).to.include(`Pinned OS image hash values (1):\n  ${image}`);
  });
});
