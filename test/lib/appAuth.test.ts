import { expect } from "chai";
import { keccak256, toUtf8Bytes } from "ethers";

import {
  allowAnyDeviceChange,
  allowOutdatedTcbChange,
  APP_AUTH_INTERFACE_ID,
  CHANGE_KINDS,
  changeCall,
  composeHashChange,
  decodeRevert,
  describeChange,
  deviceChange,
  LIST_PAGE_SIZE,
  proposalIdOf,
  readAppStatus,
  readComposeHashes,
  readDevices,
  readOsMeasurements,
  readHistory,
  readProposal,
  shortenNoticeChange,
  TIMELOCKED_APP_AUTH_INTERFACE_ID,
} from "../../lib/appAuth.js";
import {
  deployApp,
  DEVICE_B,
  ethers,
  HASH_V1,
  HASH_V2,
  INITIAL_URI,
  networkHelpers,
  NOTICE,
} from "../tasks/helpers.js";

const ALL_CHANGES = [
  composeHashChange(HASH_V2),
  deviceChange(DEVICE_B),
  allowAnyDeviceChange(),
  allowOutdatedTcbChange(),
  shortenNoticeChange(86_400n),
];

describe("lib/appAuth", function () {
  it("knows the interface ids the contract answers to (dstack's IAppAuth and ITimelockedAppAuth)", async function () {
    const { appAuth } = await networkHelpers.loadFixture(deployApp);
    expect(await appAuth.supportsInterface(APP_AUTH_INTERFACE_ID)).to.equal(true);
    expect(await appAuth.supportsInterface(TIMELOCKED_APP_AUTH_INTERFACE_ID)).to.equal(true);
    expect(await appAuth.supportsInterface("0xffffffff")).to.equal(false);
  });

  it("computes proposal ids as the contract does, with the enum in the contract's order", async function () {
    const { appAuth } = await networkHelpers.loadFixture(deployApp);
    for (const change of ALL_CHANGES) {
      expect(proposalIdOf(change)).to.equal(await appAuth.proposalId(CHANGE_KINDS.indexOf(change.kind), change.value));
    }
  });

  it("proposes every kind through changeCall and reads each proposal back with its kind and state", async function () {
    const { appAuth } = await networkHelpers.loadFixture(deployApp);
    for (const change of ALL_CHANGES) {
      const call = changeCall("propose", change, change.kind === "AddComposeHash" ? "https://example.org/v2.json" : "");
      await appAuth.getFunction(call.method)(...call.args);
      const proposal = await readProposal(appAuth, change);
      expect(proposal).to.include({ kind: change.kind, value: change.value, state: "Waiting" });
    }
    expect((await readProposal(appAuth, deviceChange(HASH_V1))).state).to.equal("None");
  });

  it("describes each change in words", function () {
    expect(ALL_CHANGES.map(describeChange)).to.deep.equal([
      `add compose hash ${HASH_V2}`,
      `add device ${DEVICE_B}`,
      "allow any device",
      "allow an out-of-date TCB",
      "shorten the notice period to 1d 0h 0m",
    ]);
  });

  it("reads a consistent status snapshot and the history", async function () {
    const { appAuth, owner } = await networkHelpers.loadFixture(deployApp);
    const status = await readAppStatus(appAuth);
    expect(status).to.include({
      owner: owner.address,
      pendingOwner: undefined,
      noticePeriod: NOTICE,
      upgradesDisabled: false,
      allowAnyDevice: false,
      requireTcbUpToDate: true,
      chainId: 31337n,
    });
    const deployedAt = BigInt((await appAuth.runner!.provider!.getBlock(status.blockNumber))!.timestamp);
    expect(status.composeHashes).to.deep.equal([
      {
        composeHash: HASH_V1,
        uri: "https://example.org/releases/v1/app-compose.json",
        isCurrentRelease: true,
        allowedAt: deployedAt,
      },
    ]);
    expect(status.currentRelease?.composeHash).to.equal(HASH_V1);
    const history = await readHistory(appAuth, { fromBlock: 0 });
    expect(history.map((entry) => entry.event)).to.deep.equal([
      "OwnershipTransferred",
      "NoticePeriodChanged",
      "ChangeProposed",
      "ComposeHashAdded",
      "CurrentReleaseSet",
      "DeviceAdded",
      "AllowAnyDeviceSet",
      "RequireTcbUpToDateSet",
    ]);
  });

  it("reads the lists page by page, whatever their length, with each release's date", async function () {
    const { appAuth, owner } = await networkHelpers.loadFixture(deployApp);
    const devices = Array.from({ length: 5 }, (_, i) => keccak256(toUtf8Bytes(`device ${i}`)));
    const policy = await ethers.deployContract("TimelockedAppAuth", [
      owner.address,
      NOTICE,
      HASH_V1,
      INITIAL_URI,
      devices,
      false,
      true,
    ]);
    const at = await ethers.provider.getBlockNumber();
    for (const pageSize of [1, 2, 5, LIST_PAGE_SIZE]) {
      expect(await readDevices(policy, at, pageSize), `page size ${pageSize}`).to.deep.equal(devices);
    }
    // Three allowed hashes: the genesis one and two activated a day apart, read one per page.
    const hashes = [HASH_V2, `0x${"33".repeat(32)}`];
    for (const hash of hashes) await appAuth.proposeComposeHash(hash, INITIAL_URI);
    await networkHelpers.time.increase(NOTICE);
    for (const hash of hashes) {
      await appAuth.activateComposeHash(hash);
      await networkHelpers.time.increase(86_400n);
    }
    const now = await ethers.provider.getBlockNumber();
    const read = await readComposeHashes(appAuth, now, 1);
    expect(read.map((entry) => entry.composeHash)).to.deep.equal([HASH_V1, ...hashes]);
    for (const entry of read) expect(entry.allowedAt).to.equal(await appAuth.composeHashAllowedAt(entry.composeHash));
    expect(read[2]!.allowedAt - read[1]!.allowedAt).to.equal(86_400n + 1n);

    // Three pinned OS image hashes: the pin, then two added after the notice.
    const OS_IMAGE = 1;
    const images = [1, 2, 3].map((i) => keccak256(toUtf8Bytes(`os image ${i}`)));
    await appAuth.pinOs(OS_IMAGE, images[0]!);
    for (const image of images.slice(1)) await appAuth.proposeOsMeasurement(OS_IMAGE, image);
    await networkHelpers.time.increase(NOTICE);
    for (const image of images.slice(1)) await appAuth.activateOsMeasurement(OS_IMAGE, image);
    const pinnedAt = await ethers.provider.getBlockNumber();
    for (const pageSize of [1, 2, 3, LIST_PAGE_SIZE]) {
      expect(await readOsMeasurements(appAuth, OS_IMAGE, pinnedAt, pageSize), `page size ${pageSize}`).to.deep.equal(
        images,
      );
    }
    expect(await readOsMeasurements(appAuth, 0, pinnedAt, 1), "mrSystem, not pinned").to.deep.equal([]);
  });

  it("decodes inherited errors too (Ownable)", async function () {
    const { appAuth, stranger } = await networkHelpers.loadFixture(deployApp);
    const error = await appAuth
      .connect(stranger)
      .disableUpgrades()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(decodeRevert(error)?.description).to.equal(`OwnableUnauthorizedAccount(account: ${stranger.address})`);
    expect(decodeRevert(new Error("no data here"))).to.equal(undefined);
  });
});
