import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { expect } from "chai";

import type { WatchedEvent } from "../../lib/watch.js";
import type { WatchResult } from "../../tasks/watch.js";
import {
  DEVICE_A,
  DEVICE_B,
  deployApp,
  ethers,
  HASH_V1,
  HASH_V2,
  networkHelpers,
  NOTICE,
  runTask,
  runTaskOk,
} from "./helpers.js";
import { registryWithGenesis } from "./registry-helpers.js";

const V2_URI = "https://example.org/v2.json";

/** An app just deployed; the block it was deployed in. */
async function freshApp() {
  const deployed = await deployApp();
  return { ...deployed, fromBlock: await ethers.provider.getBlockNumber() };
}

const once = (args: Record<string, unknown>) => runTaskOk<WatchResult>("watch", { once: true, ...args });
const names = (events: WatchedEvent[]) => events.map((e) => e.event);
const tempFile = async (name: string) => path.join(await mkdtemp(path.join(tmpdir(), "watch-task-")), name);

describe("watch", function () {
  it("reports every change in order, each with the time left; a proposal is URGENT with its countdown", async function () {
    const { appAuth, app, fromBlock, stranger } = await networkHelpers.loadFixture(freshApp);
    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    const proposed = await once({ app, fromBlock: fromBlock + 1, confirmations: 1 });
    expect(names(proposed.value.events)).to.deep.equal(["ChangeProposed"]);
    const [proposal] = proposed.value.events;
    expect(proposal).to.deep.include({
      severity: "urgent",
      widening: true,
      secondsLeft: Number(NOTICE),
      confirmations: 1,
    });
    expect(proposal!.timing).to.match(/^ready in 7d 0h 0m; can take effect at \S+Z: audit it, or leave before then$/);
    expect(proposed.stdout).to.match(
      new RegExp(
        `block ${proposal!.blockNumber}  URGENT  widening change proposed: add compose hash ${HASH_V2} \\(compose file: ${V2_URI}\\) — ready in 7d 0h 0m`,
      ),
    );

    await appAuth.proposeDevice(DEVICE_B);
    await appAuth.cancelDevice(DEVICE_B);
    await networkHelpers.time.increase(NOTICE);
    await appAuth.connect(stranger).activateComposeHash(HASH_V2);
    await appAuth.removeComposeHash(HASH_V1);
    await appAuth.removeDevice(DEVICE_A);
    await appAuth.lengthenNoticePeriod(NOTICE * 2n);
    await appAuth.transferOwnership(stranger.address);
    await appAuth.connect(stranger).acceptOwnership();
    await appAuth.connect(stranger).disableUpgrades();

    const all = await once({ app, fromBlock: fromBlock + 1, confirmations: 1, json: true });
    const printed = all.stdout.split("\n").map((line) => JSON.parse(line) as WatchedEvent);
    expect(printed).to.deep.equal(JSON.parse(JSON.stringify(all.value.events)));
    expect(names(printed)).to.deep.equal([
      "ChangeProposed",
      "ChangeProposed",
      "ChangeCancelled",
      "ChangeActivated",
      "ComposeHashAdded",
      "CurrentReleaseSet",
      "ComposeHashRemoved",
      "DeviceRemoved",
      "NoticePeriodChanged",
      "OwnershipTransferStarted",
      "OwnershipTransferred",
      "UpgradesDisabled",
    ]);
    const order = printed.map((e) => e.blockNumber * 1000 + e.logIndex);
    expect(order).to.deep.equal([...order].sort((a, b) => a - b));
    const byName = (name: string) => printed.find((e) => e.event === name)!;
    expect(byName("ChangeCancelled")).to.deep.include({ timing: "will not take effect", severity: "info" });
    expect(byName("ChangeActivated")).to.deep.include({ severity: "notice", widening: true, secondsLeft: 0 });
    expect(byName("ComposeHashRemoved")).to.deep.include({ widening: false, timing: "in effect" });
    expect(byName("OwnershipTransferStarted").timing).to.equal(`takes effect when ${stranger.address} accepts`);
    expect(byName("UpgradesDisabled").description).to.equal("upgrades disabled for good");
    // Replayed after the notice, the first proposal says it is ready, not "ready in".
    expect(printed[0]!.timing).to.match(/^ready since /);
    expect(printed[0]!.args).to.deep.include({ value: HASH_V2, uri: V2_URI, kind: "0" });
    expect(all.stderr).to.contain(`Watching TimelockedAppAuth ${app}`);
  });

  it("waits for N confirmations before reporting", async function () {
    const { appAuth, app } = await networkHelpers.loadFixture(freshApp);
    const cursorFile = await tempFile("cursor.json");
    await networkHelpers.mine(2); // the deployment is confirmed
    const first = await once({ app, confirmations: 3, cursorFile }); // from the confirmed head on
    expect(first.value.events).to.deep.equal([]);
    expect(first.stdout).to.contain("Open proposals now: none");

    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    expect((await once({ app, confirmations: 3, cursorFile })).value.events).to.deep.equal([]);
    await networkHelpers.mine(1);
    expect((await once({ app, confirmations: 3, cursorFile })).value.events).to.deep.equal([]);
    await networkHelpers.mine(1);
    const confirmed = await once({ app, confirmations: 3, cursorFile });
    expect(names(confirmed.value.events)).to.deep.equal(["ChangeProposed"]);
    expect(confirmed.value.events[0]!.confirmations).to.equal(3);
    expect(confirmed.value.events[0]!.timing).to.match(/^ready in 6d 23h 59m/);
  });

  it("resumes from its cursor file after a restart, without repeating or missing an event", async function () {
    const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
    const cursorFile = await tempFile("cursor.json");
    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    await appAuth.proposeDevice(DEVICE_B);
    const first = await once({ app, confirmations: 1, cursorFile, fromBlock: fromBlock + 1 });
    expect(names(first.value.events)).to.deep.equal(["ChangeProposed", "ChangeProposed"]);
    const cursor = JSON.parse(await readFile(cursorFile, "utf8")) as { position: unknown; app: string };
    expect(cursor).to.deep.include({
      app,
      position: { blockNumber: await ethers.provider.getBlockNumber(), logIndex: null },
    });

    await appAuth.cancelDevice(DEVICE_B);
    const second = await once({ app, confirmations: 1, cursorFile, fromBlock: fromBlock });
    expect(second.stdout).to.contain("--from-block");
    expect(names(second.value.events)).to.deep.equal(["ChangeCancelled"]);
    expect((await once({ app, confirmations: 1, cursorFile })).value.events).to.deep.equal([]);
  });

  it("follows the registry too: registrations and the genesis member", async function () {
    const { appAuth, registry } = await networkHelpers.loadFixture(registryWithGenesis);
    const app = await appAuth.getAddress();
    const registryAddress = await registry.getAddress();
    const deployedAt = (await registry.deploymentTransaction())!.blockNumber!;
    const run = await once({ app, registry: registryAddress, confirmations: 1, fromBlock: deployedAt });
    expect(run.value.events.map((e) => `${e.source}:${e.event}`)).to.deep.equal([
      "registry:NodeRegistered",
      "registry:GenesisSet",
      "registry:NodeRegistered",
    ]);
    expect(run.stdout).to.match(/NOTICE  registry genesis member set: 0x[0-9a-fA-F]{40} \(by the owner /);
    expect(run.value.events[0]!.args).to.have.keys([
      "node",
      "composeHash",
      "quoteHash",
      "deviceId",
      "instanceId",
      "tcbStatus",
    ]);
  });

  it("marks a new hash on a stock AppAuth URGENT: it took effect without any notice", async function () {
    const [owner] = await ethers.getSigners();
    const stock = await ethers.deployContract("StockAppAuth", [owner!.address, false, DEVICE_A, HASH_V1]);
    const fromBlock = await ethers.provider.getBlockNumber();
    await stock.addComposeHash(HASH_V2);
    const run = await once({ app: await stock.getAddress(), confirmations: 1, fromBlock: fromBlock + 1 });
    expect(run.stdout).to.contain("AppAuth (NOT timelocked: every change is instant)");
    expect(run.value.events[0]).to.deep.include({
      event: "ComposeHashAdded",
      severity: "urgent",
      timing: "in effect NOW, without any notice: this AppAuth has no timelock",
    });
  });

  it("posts each event to the webhook as JSON, retrying a failed attempt", async function () {
    const { appAuth, app, fromBlock } = await networkHelpers.loadFixture(freshApp);
    await appAuth.proposeComposeHash(HASH_V2, V2_URI);
    await appAuth.proposeDevice(DEVICE_B);
    const received: unknown[] = [];
    let requests = 0;
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      req.on("end", () => {
        requests += 1;
        if (requests === 1)
          res.statusCode = 502; // the first attempt fails
        else received.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const webhook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/devproof`;
    const run = await once({ app, confirmations: 1, fromBlock: fromBlock + 1, webhook });
    server.close();
    expect(received).to.deep.equal(JSON.parse(JSON.stringify(run.value.events)));
    expect(run.value.webhook).to.deep.equal({ delivered: 2, failed: 0, dropped: 0, queued: 0 });
    expect(run.stderr).to.contain("webhook: attempt 1 failed (HTTP 502); retrying in 500 ms");
  });

  it("refuses bad options and contracts that are not AppAuths, with one line", async function () {
    const { app } = await networkHelpers.loadFixture(freshApp);
    expect((await runTask("watch", { app, confirmations: 0, once: true })).errorMessage).to.contain(
      '--confirmations "0" is not valid: expected a whole number of blocks from 1 to 1000',
    );
    expect((await runTask("watch", { app, webhook: "ftp://x", once: true })).errorMessage).to.contain(
      "expected an http:// or https:// URL",
    );
    const token = "0x00000000000000000000000000000000c0ffee01";
    await networkHelpers.setCode(token, "0x60206000f3");
    expect((await runTask("watch", { app: token, once: true })).errorMessage).to.contain("is not a dstack AppAuth");
  });
});
